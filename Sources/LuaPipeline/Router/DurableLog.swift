import FoundationEssentials
import Glibc
import Synchronization

/// The router's log on disk, for messages that must survive a crash (the events issue's
/// `disk` class): segment files `NNNNNNNNNNNNNNNNNNNN.log` in one folder, each named by
/// the position of its first byte in the log's byte stream. A record is a message in Heka
/// stream framing whose header also carries a CRC-32 of the message (header field 15,
/// fixed32, which Heka's readers skip), so `luapiped cat` reads the files as they are.
///
/// Positions are byte offsets in the whole stream, never reused: a reader's cursor is one
/// number, and a segment is deleted once every cursor is past its end. Segments are read
/// with pread, not mapped, so resident memory stays what the reader asked for.
///
/// Opening recovers: a record cut short at the end of the newest segment (a crash during
/// write) is truncated away; records whose CRC does not match are skipped and counted,
/// resynchronising on the next record separator. One thread appends; any thread reads.
public final class DurableLog: Sendable {
    public enum Sync: String, Sendable {
        /// Acknowledge after write(2): survives kill -9.
        case write
        /// Acknowledge after fdatasync: survives power loss.
        case fsync
    }

    struct Segment: Sendable {
        let start: UInt64
        var size: UInt64
        let fd: Int32
        var end: UInt64 { start + size }
    }

    public let directory: String
    public let segmentLimit: Int
    public let sync: Sync
    private let segments = Mutex<[Segment]>([])
    private let counts = Mutex<(bad: Int, truncated: UInt64)>((0, 0))
    /// Damaged stretches (a bad CRC or framing; adjacent damaged records read as one)
    /// skipped at open or while reading.
    public var badRecords: Int { counts.withLock { $0.bad } }
    /// Bytes cut from the end of the newest segment at open (a torn write).
    public var truncatedBytes: UInt64 { counts.withLock { $0.truncated } }

    static let crcField: UInt8 = 0x7D  // field 15, wire type 5 (fixed32)

    /// Opens (creating) the log in `directory` and recovers it.
    /// - Throws: ``DurableLogError`` naming the file and the system's reason.
    public init(directory: String, segmentLimit: Int = 64 << 20, sync: Sync = .write) throws(DurableLogError) {
        self.directory = directory
        self.segmentLimit = max(segmentLimit, 4096)
        self.sync = sync
        if mkdir(directory, 0o755) != 0 && errno != EEXIST { throw DurableLogError(directory, errnoText()) }
        let names = (FileSystem.contentsOfDirectory(directory) ?? [])
            .filter { $0.hasSuffix(".log") && $0.count == 24 }.sorted()
        var found: [Segment] = []
        for name in names {
            guard let start = UInt64(name.dropLast(4)) else { continue }
            let path = Path.join(directory, name)
            let fd = open(path, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else {
                let reason = errnoText()
                for f in found { close(f.fd) }
                throw DurableLogError(path, reason)
            }
            var st = stat()
            fstat(fd, &st)
            found.append(Segment(start: start, size: UInt64(st.st_size), fd: fd))
        }
        // A segment longer than the next one's start holds bytes of a failed write past
        // its end: they are not part of the log.
        for k in found.indices.dropLast() where found[k].end > found[k + 1].start {
            found[k].size = found[k + 1].start - found[k].start
            ftruncate(found[k].fd, off_t(found[k].size))
        }
        segments.withLock { $0 = found }
        if found.isEmpty { try addSegment(at: 0) }
        try recover()
    }

    deinit {
        for s in segments.withLock({ $0 }) { close(s.fd) }
    }

    /// The position of the oldest byte kept and the position the next append gets.
    public var start: UInt64 { segments.withLock { $0.first!.start } }
    public var end: UInt64 { segments.withLock { $0.last!.end } }
    /// Bytes on disk.
    public var size: UInt64 { segments.withLock { $0.last!.end - $0.first!.start } }

    /// Appends `messages` (encoded) in one write and returns the end position; with
    /// `.fsync` the data is on stable storage when it returns.
    @discardableResult
    public func append(_ messages: [[UInt8]]) throws(DurableLogError) -> UInt64 {
        try append(records: messages).end
    }

    /// Appends `messages` (encoded) in one write; returns each one's position and the end.
    public func append(records messages: [[UInt8]]) throws(DurableLogError) -> (positions: [UInt64], end: UInt64) {
        var bytes: [UInt8] = []
        var offsets: [UInt64] = []
        offsets.reserveCapacity(messages.count)
        for m in messages {
            offsets.append(UInt64(bytes.count))
            Self.appendRecord(m, to: &bytes)
        }
        var last = segments.withLock { $0.last! }
        if last.size > 0 && last.size + UInt64(bytes.count) > UInt64(segmentLimit) {
            if sync == .fsync { fdatasync(last.fd) }
            try addSegment(at: last.end)
            last = segments.withLock { $0.last! }
        }
        var written = 0
        // On failure (a full disk, say) the partial write is cut off again, so the segment
        // ends where the log does.
        func fail() -> DurableLogError {
            let error = DurableLogError(segmentPath(last.start), errnoText())
            ftruncate(last.fd, off_t(last.size))
            return error
        }
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(last.fd, $0.baseAddress! + written, $0.count - written, off_t(last.size) + off_t(written)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw fail() }
            written += n
        }
        if sync == .fsync && fdatasync(last.fd) != 0 { throw fail() }
        let end = segments.withLock {
            $0[$0.count - 1].size += UInt64(bytes.count)
            return $0[$0.count - 1].end
        }
        let start = end - UInt64(bytes.count)
        return (offsets.map { start + $0 }, end)
    }

    /// Makes what was written from `position` on durable (fdatasync of every segment that
    /// holds some of it); false when the system refused.
    public func flush(from position: UInt64) -> Bool {
        let fds = segments.withLock { $0.filter { $0.end > position }.map(\.fd) }
        return fds.allSatisfy { fdatasync($0) == 0 }
    }

    /// The start positions of the segments kept.
    public var segmentStarts: [UInt64] { segments.withLock { $0.map(\.start) } }

    /// Up to `maxRecords` messages from `position` (and about `maxBytes` at most), and the
    /// position after the last one read. Bad records are skipped and counted. A position
    /// before the oldest segment reads from its start.
    public func read(from position: UInt64, maxRecords: Int = 256, maxBytes: Int = 1 << 20) -> (messages: [[UInt8]], next: UInt64) {
        let r = records(from: position, maxRecords: maxRecords, maxBytes: maxBytes)
        return (r.messages, r.next)
    }

    /// ``read(from:maxRecords:maxBytes:)`` with each message's position.
    public func records(from position: UInt64, maxRecords: Int = 256, maxBytes: Int = 1 << 20) -> (messages: [[UInt8]], positions: [UInt64], next: UInt64) {
        var pos = position
        var out: [[UInt8]] = []
        var positions: [UInt64] = []
        var bytes = 0
        var window = 65_536
        while out.count < maxRecords && bytes < maxBytes {
            let all = segments.withLock { $0 }
            // A cursor past the end (saved before a power loss the log's tail did not
            // survive) resumes at the end, on a record boundary.
            if let last = all.last, pos > last.end { pos = last.end }
            guard let seg = all.last(where: { $0.start <= pos }) ?? all.first else { break }
            if pos < seg.start { pos = seg.start }
            if pos >= seg.end {
                guard let next = all.first(where: { $0.start > seg.start }) else { break }
                pos = next.start
                continue
            }
            let count = min(UInt64(max(maxBytes - bytes, window)), seg.end - pos)
            let chunk = Self.pread(seg.fd, at: pos - seg.start, count: Int(count))
            let final = pos + UInt64(chunk.count) >= seg.end
            var offset = 0
            parsing: while offset < chunk.count && out.count < maxRecords && bytes < maxBytes {
                switch Self.parse(chunk, at: offset, final: final) {
                case .record(let message, let length):
                    out.append(message)
                    positions.append(pos + UInt64(offset))
                    bytes += message.count
                    offset += length
                case .bad(let skip):
                    counts.withLock { $0.bad += 1 }
                    offset += skip
                case .incomplete:
                    break parsing
                }
            }
            if offset == 0 {
                guard !final, chunk.count == Int(count) else { break }
                window = chunk.count * 4  // a record longer than the window: read more at once
                continue
            }
            pos += UInt64(offset)
        }
        return (out, positions, pos)
    }

    /// Deletes the segments that end at or before `position`, never the newest, and
    /// returns how many. The caller passes a position every reader is past, so no read is
    /// using them.
    @discardableResult
    public func release(below position: UInt64) -> Int {
        let gone: [Segment] = segments.withLock { segments in
            var gone: [Segment] = []
            while segments.count > 1 && segments[0].end <= position { gone.append(segments.removeFirst()) }
            return gone
        }
        for s in gone {
            close(s.fd)
            unlink(segmentPath(s.start))
        }
        return gone.count
    }

    // MARK: records

    static func appendRecord(_ message: [UInt8], to out: inout [UInt8]) {
        var header: [UInt8] = [0x08]
        var v = UInt64(message.count)
        while v >= 0x80 { header.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        header.append(UInt8(v))
        let crc = message.withUnsafeBytes { CRC32.checksum($0) }
        header.append(crcField)
        for i in 0..<4 { header.append(UInt8(truncatingIfNeeded: crc >> (8 * i))) }
        out.append(StreamFraming.recordSeparator)
        out.append(UInt8(header.count))
        out += header
        out.append(StreamFraming.unitSeparator)
        out += message
    }

    enum Parsed {
        case record([UInt8], length: Int)
        /// Bytes to skip to the next record (or the end).
        case bad(skip: Int)
        case incomplete
    }

    /// The record at `i`; `final`: no bytes follow `b`, so a record cut short is bad.
    /// A damaged stretch is one `.bad`: it skips to the next separator that starts a
    /// valid record (or one cut short by the buffer's end), not to a separator byte that
    /// happens to be inside the damaged record, so each damaged record counts once.
    static func parse(_ b: [UInt8], at i: Int, final: Bool) -> Parsed {
        guard i < b.count else { return .incomplete }
        if let p = parseHere(b, at: i, final: final) { return p }
        var j = i + 1
        while j < b.count, let k = b[j...].firstIndex(of: StreamFraming.recordSeparator) {
            if parseHere(b, at: k, final: final) != nil { return .bad(skip: k - i) }
            j = k + 1
        }
        return .bad(skip: b.count - i)
    }

    /// The record starting at `i`; nil when none does (damage).
    private static func parseHere(_ b: [UInt8], at i: Int, final: Bool) -> Parsed? {
        let incomplete: Parsed? = final ? nil : .incomplete
        guard b[i] == StreamFraming.recordSeparator else { return nil }
        guard i + 2 <= b.count else { return incomplete }
        let hlen = Int(b[i + 1])
        guard i + 2 + hlen + 1 <= b.count else { return incomplete }
        guard b[i + 2 + hlen] == StreamFraming.unitSeparator, let (length, crc) = header(b[(i + 2)..<(i + 2 + hlen)]) else { return nil }
        let bodyAt = i + 3 + hlen
        guard bodyAt + length <= b.count else { return incomplete }
        let body = Array(b[bodyAt..<(bodyAt + length)])
        guard body.withUnsafeBytes({ CRC32.checksum($0) }) == crc else { return nil }
        return .record(body, length: 3 + hlen + length)
    }

    /// message_length and the CRC from a record header; nil when either is missing.
    static func header(_ h: ArraySlice<UInt8>) -> (Int, UInt32)? {
        var i = h.startIndex
        var length: Int?, crc: UInt32?
        while i < h.endIndex {
            let tag = h[i]
            i += 1
            if tag == 0x08 {
                var v: UInt64 = 0, shift: UInt64 = 0
                while i < h.endIndex {
                    let byte = h[i]
                    i += 1
                    v |= UInt64(byte & 0x7F) << shift
                    if byte < 0x80 { break }
                    shift += 7
                    if shift > 35 { return nil }
                }
                length = Int(v)
            } else if tag == crcField, i + 4 <= h.endIndex {
                crc = (0..<4).reduce(UInt32(0)) { $0 | UInt32(h[i + $1]) << (8 * UInt32($1)) }
                i += 4
            } else {
                return nil
            }
        }
        guard let length, let crc, length <= Int(Int32.max) else { return nil }
        return (length, crc)
    }

    // MARK: files

    private func segmentPath(_ start: UInt64) -> String {
        let digits = String(start)
        return Path.join(directory, String(repeating: "0", count: 20 - digits.count) + digits + ".log")
    }

    private func addSegment(at start: UInt64) throws(DurableLogError) {
        let path = segmentPath(start)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw DurableLogError(path, errnoText()) }
        segments.withLock { $0.append(Segment(start: start, size: 0, fd: fd)) }
        // The new name must survive a crash with the data written to it.
        let dir = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 { fsync(dir); close(dir) }
    }

    /// Validates every segment: bad records are counted (reads skip them too); the newest
    /// segment is cut after its last whole record (a write a crash tore).
    private func recover() throws(DurableLogError) {
        let all = segments.withLock { $0 }
        for (index, seg) in all.enumerated() {
            let newest = index == all.count - 1
            var offset: UInt64 = 0  // of the next byte to read
            var carry: [UInt8] = []
            var lastGood: UInt64 = 0
            while offset < seg.size || !carry.isEmpty {
                let more = Self.pread(seg.fd, at: offset, count: Int(min(UInt64(1 << 20), seg.size - offset)))
                let chunk = carry + more
                let base = offset - UInt64(carry.count)
                offset += UInt64(more.count)
                let final = offset >= seg.size
                var i = 0
                scan: while i < chunk.count {
                    switch Self.parse(chunk, at: i, final: final && !newest) {
                    case .record(_, let length):
                        i += length
                        lastGood = base + UInt64(i)
                    case .bad(let skip):
                        counts.withLock { $0.bad += 1 }
                        i += skip
                        lastGood = base + UInt64(i)
                    case .incomplete where final:
                        // Cut short at the end of the newest segment: a torn write, unless a
                        // whole record follows (then a damaged header: skip to it).
                        guard let next = Self.nextRecord(in: chunk, after: i) else { break scan }
                        counts.withLock { $0.bad += 1 }
                        i = next
                        lastGood = base + UInt64(i)
                    case .incomplete:
                        break scan
                    }
                }
                carry = Array(chunk[i...])
                if final || more.isEmpty { break }
            }
            if newest && lastGood < seg.size {
                counts.withLock { $0.truncated = seg.size - lastGood }
                guard ftruncate(seg.fd, off_t(lastGood)) == 0 else { throw DurableLogError(segmentPath(seg.start), errnoText()) }
                segments.withLock { $0[index].size = lastGood }
            }
        }
    }

    /// The offset of the first whole, valid record after `i`, if any.
    static func nextRecord(in b: [UInt8], after i: Int) -> Int? {
        var j = i + 1
        while let k = b[j...].firstIndex(of: StreamFraming.recordSeparator) {
            if case .record? = parseHere(b, at: k, final: true) { return k }
            j = k + 1
        }
        return nil
    }

    static func pread(_ fd: Int32, at offset: UInt64, count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = out.withUnsafeMutableBytes { Glibc.pread(fd, $0.baseAddress! + got, count - got, off_t(offset) + off_t(got)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            got += n
        }
        out.removeSubrange(got...)
        return out
    }
}

public struct DurableLogError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String
    init(_ path: String, _ reason: String) { (self.path, self.reason) = (path, reason) }
    public var description: String { "\(path): \(reason)" }
}

/// CRC-32 (IEEE 802.3, as zlib's crc32).
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return c ^ 0xFFFF_FFFF
    }
}

import FoundationEssentials
import Glibc

/// The readers' positions in the ``DurableLog``: one file, `position<TAB>reader` per line
/// and a last line `crc<TAB>N` (CRC-32 of the lines before it), replaced atomically
/// (written beside, then renamed). A file that does not check out is reported and read as
/// no cursors at all: every reader starts again at the oldest record kept, so a damaged
/// file costs duplicates, never a loss.
public enum DurableCursors {
    public struct Loaded: Equatable, Sendable {
        public var positions: [String: UInt64] = [:]
        /// Readers the file named that the config no longer has; their cursors are dropped.
        public var dropped: [String] = []
        /// Why the file was not used, when it was damaged.
        public var problem: String?
    }

    /// Reads `path`; `readers` are the names the config has now (`keepingAll`: every name
    /// is kept). A missing file is no cursors and no problem.
    public static func load(path: String, readers: Set<String>, keepingAll: Bool = false) -> Loaded {
        var loaded = Loaded()
        guard let bytes = FileSystem.contents(path) else {
            if errno != ENOENT { loaded.problem = "\(path): \(errnoText())" }
            return loaded
        }
        let damaged = "; every reader starts at the oldest record kept"
        // The checksum line is the last one; the lines before it are what it covers.
        let bodyEnd = bytes.dropLast().lastIndex(of: 0x0A).map { $0 + 1 } ?? 0
        let last = String(decoding: bytes[bodyEnd...], as: UTF8.self)
        guard last.hasPrefix("crc\t"), last.hasSuffix("\n"), let crc = UInt32(last.dropFirst(4).dropLast()) else {
            loaded.problem = "\(path): damaged (no checksum line)" + damaged
            return loaded
        }
        let body = Array(bytes[..<bodyEnd])
        guard body.withUnsafeBytes({ CRC32.checksum($0) }) == crc else {
            loaded.problem = "\(path): damaged (checksum mismatch)" + damaged
            return loaded
        }
        for line in String(decoding: body, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: "\t", maxSplits: 1)
            guard parts.count == 2, let position = UInt64(parts[0]) else {
                return Loaded(problem: "\(path): damaged line \"\(line)\"" + damaged)
            }
            let name = String(parts[1])
            if keepingAll || readers.contains(name) { loaded.positions[name] = position } else { loaded.dropped.append(name) }
        }
        loaded.dropped.sort()
        return loaded
    }

    /// `position<TAB>reader` lines, sorted by reader.
    static func lines(_ positions: [String: UInt64]) -> [UInt8] {
        var text = ""
        for name in positions.keys.sorted() { text += "\(positions[name]!)\t\(name)\n" }
        return Array(text.utf8)
    }

    /// Replaces `path` with `positions` (``CheckpointWriter``); with `sync` the file and its
    /// name are on stable storage when it returns.
    public static func save(_ positions: [String: UInt64], path: String, sync: Bool) throws(DurableLogError) {
        var out = lines(positions)
        out += Array("crc\t\(out.withUnsafeBytes { CRC32.checksum($0) })\n".utf8)
        do throws(CheckpointWriter.Failure) {
            try CheckpointWriter.write(out, to: path, sync: sync)
        } catch {
            throw DurableLogError(path, error.description)
        }
    }
}

/// The cursors rewritten in place after every acknowledged batch (`cursors.live`): a
/// header of the text's length and CRC-32 (little-endian UInt32 each), then the lines of
/// the synced file. One pwrite at offset 0, no rename and no sync, so it is cheap enough
/// for every batch: a kill -9 leaves the old version or the new one (the write is one
/// system call, done by the kernel); a power cut may leave a torn or stale one, which the
/// checksum rejects or which only costs duplicates, and the synced file is used then.
final class LiveCursorFile {
    let path: String
    private var fd: Int32 = -1

    init(path: String) { self.path = path }
    deinit { if fd >= 0 { close(fd) } }

    /// Writes `positions`; false (errno set) when the system refused.
    func write(_ positions: [String: UInt64]) -> Bool {
        if fd < 0 { fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644) }
        guard fd >= 0 else { return false }
        let body = DurableCursors.lines(positions)
        var out: [UInt8] = []
        out.reserveCapacity(body.count + 8)
        for v in [UInt32(body.count), body.withUnsafeBytes { CRC32.checksum($0) }] {
            for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: v >> (8 * i))) }
        }
        out += body
        return out.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } == out.count
    }

    /// The positions the file holds, nil when it is missing, torn or damaged.
    static func load(_ path: String) -> [String: UInt64]? {
        guard let b = FileSystem.contents(path), b.count >= 8 else { return nil }
        func u32(_ at: Int) -> UInt32 { (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[at + $1]) << (8 * $1) } }
        let count = Int(u32(0))
        guard count <= b.count - 8 else { return nil }
        let body = Array(b[8..<(8 + count)])
        guard body.withUnsafeBytes({ CRC32.checksum($0) }) == u32(4) else { return nil }
        var out: [String: UInt64] = [:]
        for line in String(decoding: body, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: "\t", maxSplits: 1)
            guard parts.count == 2, let p = UInt64(parts[0]) else { return nil }
            out[String(parts[1])] = p
        }
        return out
    }
}

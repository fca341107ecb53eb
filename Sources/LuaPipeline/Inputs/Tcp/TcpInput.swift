import Foundation
import Synchronization

/// Listens for TCP connections (Heka's TcpInput): each connection's stream goes through
/// the splitter (Heka framing by default) and the decoder (protobuf by default) into
/// the router; many clients at once, one thread each. Decoding is serialised: a decoder
/// sandbox runs on one thread at a time.
///
/// With `ack = true` every message is acknowledged to its sender once it is in the log
/// (``AckFrame``: 0x06 + its Uuid), and a message whose Uuid was seen recently is
/// acknowledged again but not logged twice (counted as a duplicate). The recent Uuids are
/// kept across clean restarts in base_dir, so a sender resending what it had no ack for
/// causes no duplicate.
final class TcpInput: PipelineInput, @unchecked Sendable {
    let name: String
    let address: String
    let ack: Bool
    let records: RecordHandler
    let makeSplitter: () -> any Splitter
    let log: PipelineLog
    let recentPath: String
    private let decodeLock = NSLock()
    private let stopRequested = Atomic<Bool>(false)
    private var recent = RecentUuids(capacity: 200_000)
    private let connections = Atomic<Int>(0)
    /// Set once the socket listens (tests wait for it).
    let listening = Atomic<Bool>(false)

    init(name: String, address: String, ack: Bool, records: RecordHandler, log: PipelineLog, recentPath: String,
         makeSplitter: @escaping () -> any Splitter) {
        self.name = name
        self.address = address
        self.ack = ack
        self.records = records
        self.log = log
        self.recentPath = recentPath
        self.makeSplitter = makeSplitter
        if ack, let data = FileManager.default.contents(atPath: recentPath) { recent.load(Array(data)) }
    }

    func stop() { stopRequested.store(true, ordering: .relaxed) }

    func run() {
        let fd: Int32
        do {
            fd = try Socket.listen(address)
        } catch {
            log.error(name, "\(error)")
            records.counters.add("listen_failures")
            return
        }
        listening.store(true, ordering: .relaxed)
        log.debug(name, "listening on \(address)")
        while !stopRequested.load(ordering: .relaxed) {
            guard Socket.readable(fd, ms: 100) else { continue }
            let client = accept(fd, nil, nil)
            guard client >= 0 else { continue }
            connections.add(1, ordering: .relaxed)
            records.counters.add("connections")
            let t = Thread { [self] in
                serve(client)
                close(client)
                connections.subtract(1, ordering: .relaxed)
            }
            t.start()
        }
        close(fd)
        while connections.load(ordering: .relaxed) > 0 { Thread.sleep(forTimeInterval: 0.01) }
        if ack {
            try? FileManager.default.createDirectory(atPath: (recentPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if !FileManager.default.createFile(atPath: recentPath, contents: Data(decodeLock.withLock { recent.bytes() })) {
                log.error(name, "cannot save the recent Uuids to \(recentPath): duplicates after the restart go undetected")
            }
        }
    }

    private func serve(_ fd: Int32) {
        var splitter = makeSplitter()
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        var acks: [UInt8] = []
        while !stopRequested.load(ordering: .relaxed) {
            guard Socket.readable(fd, ms: 100) else { continue }
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            decodeLock.withLock {
                splitter.feed(Array(buf[0..<n])) { record in
                    records.handle(record) { view in
                        guard ack, let r = view.range(of: .uuid) else { return true }
                        let uuid = UnsafeRawBufferPointer(rebasing: view.bytes[r])
                        acks += AckFrame.make(uuid)
                        if recent.insert(uuid) { return true }
                        records.counters.add("duplicates")
                        return false
                    }
                }
                records.reportSplitterErrors(splitter.takeErrors())
            }
            if !acks.isEmpty {
                if !Socket.writeAll(fd, acks) { break }
                acks.removeAll(keepingCapacity: true)
            }
        }
    }
}

/// The last `capacity` Uuids seen, for duplicate detection.
struct RecentUuids {
    let capacity: Int
    private var set = Set<UUIDKey>()
    private var order: [UUIDKey] = []
    private var next = 0

    struct UUIDKey: Hashable {
        let hi: UInt64, lo: UInt64

        /// The key of the 16 bytes at `offset` of `raw`.
        init(_ raw: UnsafeRawBufferPointer, at offset: Int = 0) {
            hi = raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            lo = raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)
        }
    }

    init(capacity: Int) { self.capacity = capacity }

    /// Records `uuid`; false when it was already there.
    mutating func insert(_ uuid: UnsafeRawBufferPointer) -> Bool {
        guard uuid.count == 16 else { return true }
        let k = UUIDKey(uuid)
        guard set.insert(k).inserted else { return false }
        if order.count < capacity {
            order.append(k)
        } else {
            set.remove(order[next])
            order[next] = k
            next = (next + 1) % capacity
        }
        return true
    }

    func bytes() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(order.count * 16)
        for i in 0..<order.count {
            let k = order[(next + i) % order.count]
            withUnsafeBytes(of: k.hi) { out += $0 }
            withUnsafeBytes(of: k.lo) { out += $0 }
        }
        return out
    }

    mutating func load(_ data: [UInt8]) {
        data.withUnsafeBytes { raw in
            var i = 0
            while i + 16 <= raw.count {
                _ = insert(UnsafeRawBufferPointer(rebasing: raw[i..<(i + 16)]))
                i += 16
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Dispatch
import Synchronization

/// Listens for TCP connections (Heka's TcpInput): each connection's stream goes through
/// the splitter (Heka framing by default) and the decoder (protobuf by default) into
/// the router; many clients at once, one thread each reading and splitting. Every record is
/// decoded on the input's one ``DecodeThread``, so a decoder sandbox has one owner thread.
///
/// With `ack = true` every message is acknowledged to its sender once it is in the log
/// (``AckFrame``: 0x06 + its Uuid) — by default its `delivery` is `disk`, so once it is in
/// the durable queue — and a message whose Uuid was seen recently is acknowledged again
/// but not logged twice (counted as a duplicate). The recent Uuids are kept across clean
/// restarts in base_dir and rebuilt from the durable queue after a crash, so a sender
/// resending what it had no ack for causes no duplicate.
final class TcpInput: PipelineInput, @unchecked Sendable {  // client threads touch only their socket and splitter; the decoder and recent Uuids live on the decode thread
    let name: String
    let address: String
    let ack: Bool
    let records: RecordHandler
    let makeSplitter: () -> any Splitter
    let log: PipelineLog
    /// Decodes the records of every connection; owns the decoder and `resent`.
    private let decoding: DecodeThread
    private let stopRequested = Atomic<Bool>(false)
    /// With `ack`: the resends recognised by Uuid.
    private var resent: ResentMessages?
    /// The connections being served (stop waits for them).
    private let clients = DispatchGroup()
    /// Set once the socket listens (tests wait for it).
    let listening = Atomic<Bool>(false)

    init(name: String, address: String, ack: Bool, records: RecordHandler, log: PipelineLog, recentPath: String,
         makeSplitter: @escaping () -> any Splitter) {
        self.name = name
        self.address = address
        self.ack = ack
        self.records = records
        self.log = log
        self.makeSplitter = makeSplitter
        self.decoding = DecodeThread(name: "\(name)-decode")
        if ack { resent = ResentMessages(path: recentPath, queue: records.queue) }
    }

    private lazy var socket = BoundSocket { [address] () throws(Socket.Failure) in try Socket.listen(address) }
    var listenAddress: String? { address }
    func open() throws(Socket.Failure) { try socket.open() }

    func stop() { stopRequested.store(true, ordering: .relaxed) }

    func run() {
        let fd: Int32
        do {
            fd = try socket.take()
        } catch {
            log.error(name, "\(error)")
            records.counters.add(.listenFailures)
            return
        }
        listening.store(true, ordering: .relaxed)
        log.debug(name, "listening on \(address)")
        while !stopRequested.load(ordering: .relaxed) {
            guard Socket.readable(fd, ms: 100) else { continue }
            let client = accept(fd, nil, nil)
            guard client >= 0 else { continue }
            clients.enter()
            records.counters.add(.connections)
            Threads.start { [self] in
                serve(client)
                close(client)
                clients.leave()
            }
        }
        close(fd)
        clients.wait()
        let saved = decoding.run { [self] in resent }
        decoding.stop()
        saved?.save(log, name)
    }

    private func serve(_ fd: Int32) {
        let peer = Socket.peerName(fd)
        var splitter = makeSplitter()
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        var acks: [UInt8] = []
        while !stopRequested.load(ordering: .relaxed) {
            guard Socket.readable(fd, ms: 100) else { continue }
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            var batch: [[UInt8]] = []
            splitter.feed(Array(buf[0..<n])) { batch.append(Array($0)) }
            let errors = splitter.takeErrors()
            let (decoded, durableEnd) = decoding.run { [self] in (decode(batch, splitterErrors: errors, peer: peer), records.durableEnd) }
            // Nothing is acknowledged before it is as durable as queue_sync asks (the
            // connections' syncs are one group commit, off the decode thread).
            if !decoded.isEmpty && records.queue?.waitDurable(durableEnd) ?? true { acks += decoded }
            if !acks.isEmpty {
                if !Socket.writeAll(fd, acks) { break }
                acks.removeAll(keepingCapacity: true)
            }
        }
    }

    /// Decodes a connection's records on the decode thread; returns their acknowledgements.
    /// A message is acknowledged only once appended (for `disk`: written, and synced with
    /// `queue_sync = "fsync"`), and its Uuid remembered only then, so a message that could
    /// not be stored is neither acknowledged nor taken for a duplicate when resent.
    private func decode(_ batch: [[UInt8]], splitterErrors: [String], peer: String) -> [UInt8] {
        var acks: [UInt8] = []
        for record in batch {
            var pending: [UInt8] = []
            let stored = record.withUnsafeBytes { raw in
                records.handle(raw, origin: "from \(peer)") { view in
                    guard ack, let r = view.range(of: .uuid) else { return true }
                    pending += AckFrame.make(UnsafeRawBufferPointer(rebasing: view.bytes[r]))
                    if resent!.admit(view) { return true }
                    records.counters.add(.duplicates)
                    return false
                }
            }
            resent?.finish(stored: stored)
            if stored { acks += pending }
        }
        records.reportSplitterErrors(splitterErrors)
        return acks
    }
}

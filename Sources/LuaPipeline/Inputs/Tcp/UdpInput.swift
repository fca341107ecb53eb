import FoundationEssentials
import Synchronization

/// Receives UDP datagrams (Heka's UdpInput); by default each datagram is one record
/// (NullSplitter) whose decoding is configured as for any input. Datagrams over
/// max_message_size are counted and dropped.
final class UdpInput: PipelineInput, @unchecked Sendable {  // runs on its own thread; other threads only call stop(), an atomic flag
    let name: String
    let address: String
    let maxMessageSize: Int
    let records: RecordHandler
    var splitter: any Splitter
    let log: PipelineLog
    private let stopRequested = Atomic<Bool>(false)

    let receiveBufferBytes: Int

    init(name: String, address: String, maxMessageSize: Int, receiveBufferBytes: Int = UdpReceiver.defaultBufferBytes,
         records: RecordHandler, splitter: any Splitter, log: PipelineLog) {
        self.receiveBufferBytes = receiveBufferBytes
        self.name = name
        self.address = address
        self.maxMessageSize = maxMessageSize
        self.records = records
        self.splitter = splitter
        self.log = log
    }

    private lazy var socket = BoundSocket { [address] () throws(Socket.Failure) in try Socket.bindUDP(address) }
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
        defer { close(fd) }
        var receiver = UdpReceiver(fd: fd, bufferBytes: receiveBufferBytes, name: name, counters: records.counters, log: log)
        var buf = [UInt8](repeating: 0, count: 65536)
        while !stopRequested.load(ordering: .relaxed) {
            guard Socket.readable(fd, ms: 100) else { continue }
            guard let n = receiver.receive(into: &buf) else { continue }
            if n > maxMessageSize || n > buf.count {
                records.counters.add(.decodeFailures)
                log.error(name, "a \(n)-byte datagram is over max_message_size \(maxMessageSize): dropped")
                continue
            }
            splitter.feed(Array(buf[0..<n])) { records.handle($0) }
            splitter.finish { records.handle($0) }  // a datagram is complete in itself
            records.reportSplitterErrors(splitter.takeErrors())
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

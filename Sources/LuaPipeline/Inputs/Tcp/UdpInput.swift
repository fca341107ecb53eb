import Foundation
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

    init(name: String, address: String, maxMessageSize: Int, records: RecordHandler, splitter: any Splitter, log: PipelineLog) {
        self.name = name
        self.address = address
        self.maxMessageSize = maxMessageSize
        self.records = records
        self.splitter = splitter
        self.log = log
    }

    func stop() { stopRequested.store(true, ordering: .relaxed) }

    func run() {
        let fd: Int32
        do {
            fd = try Socket.bindUDP(address)
        } catch {
            log.error(name, "\(error)")
            records.counters.add(.listenFailures)
            return
        }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 65536)
        while !stopRequested.load(ordering: .relaxed) {
            guard Socket.readable(fd, ms: 100) else { continue }
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_TRUNC)) }
            guard n > 0 else { continue }
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

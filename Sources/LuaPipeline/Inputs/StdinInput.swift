import FoundationEssentials
import Synchronization

/// Reads standard input (Heka's StdinInput): bytes → splitter → decoder → router.
///
/// Runs on its own thread; polls so that a stop request is seen even while no data comes.
/// At end of input it finishes; the pipeline stops once every input has finished.
public final class StdinInput: @unchecked Sendable {  // runs on its own thread; other threads only call stop(), an atomic flag
    let fd: Int32
    var splitter: any Splitter
    let records: RecordHandler
    let stopRequested = Atomic<Bool>(false)

    init(fd: Int32 = 0, splitter: any Splitter, records: RecordHandler) {
        self.fd = fd
        self.splitter = splitter
        self.records = records
    }

    func stop() { stopRequested.store(true, ordering: .relaxed) }

    /// Reads until end of input or a stop request.
    func run() {
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while !stopRequested.load(ordering: .relaxed) {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, 200)
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { continue }
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            splitter.feed(Array(buf[0..<n])) { records.handle($0) }
            records.reportSplitterErrors(splitter.takeErrors())
        }
        splitter.finish { records.handle($0) }
        records.reportSplitterErrors(splitter.takeErrors())
    }
}

#if canImport(Glibc)
import Glibc
#endif

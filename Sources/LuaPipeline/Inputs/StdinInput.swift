import Foundation
import Synchronization

/// Reads standard input (Heka's StdinInput): bytes → splitter → decoder → router.
///
/// Runs on its own thread; polls so that a stop request is seen even while no data comes.
/// At end of input it finishes; the pipeline stops once every input has finished.
public final class StdinInput: @unchecked Sendable {
    let name: String
    let fd: Int32
    var splitter: any Splitter
    let decoder: any RecordDecoder
    let router: Router
    let counters: PluginCounters
    let log: PipelineLog
    let sendDecodeFailures: Bool
    let logDecodeFailures: Bool
    let stopRequested = Atomic<Bool>(false)

    init(name: String, fd: Int32 = 0, splitter: any Splitter, decoder: any RecordDecoder, router: Router,
         counters: PluginCounters, log: PipelineLog, sendDecodeFailures: Bool, logDecodeFailures: Bool) {
        self.name = name
        self.fd = fd
        self.splitter = splitter
        self.decoder = decoder
        self.router = router
        self.counters = counters
        self.log = log
        self.sendDecodeFailures = sendDecodeFailures
        self.logDecodeFailures = logDecodeFailures
    }

    func stop() { stopRequested.store(true, ordering: .relaxed) }

    private func handle(_ record: UnsafeRawBufferPointer) {
        counters.add("records")
        let failure = decoder.decode(record) { view in
            if case .appended = router.append(view) { counters.add("processed") }
        }
        guard let failure else { return }
        counters.add("decode_failures")
        if logDecodeFailures { log.error(name, "record \(counters["records"]): \(failure)") }
        if sendDecodeFailures {
            var uuids = UUIDSource.random.makeGenerator()
            var m = Message(uuid: uuids.next(), timestamp: Sandbox.now(), type: name,
                            payload: String(decoding: record, as: UTF8.self))
            m.fields = [Field(name: "decode_error", value: .string([failure]))]
            _ = router.append(MessageView(m))
        }
    }

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
            splitter.feed(Array(buf[0..<n])) { handle($0) }
            for e in splitter.takeErrors() {
                counters.add("decode_failures")
                log.error(name, e)
            }
        }
        splitter.finish { handle($0) }
        for e in splitter.takeErrors() {
            counters.add("decode_failures")
            log.error(name, e)
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

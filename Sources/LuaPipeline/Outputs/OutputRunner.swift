import FoundationEssentials
import Synchronization

/// An output the pipeline runs on its own thread.
protocol PipelineOutput: AnyObject, Sendable {
    var name: String { get }
    /// Set when the pipeline stops and the output could not drain in time.
    var abandon: Atomic<Bool> { get }
    /// Set when a new version takes over (reload): the output finishes what it has read
    /// and returns from ``run()``, leaving its cursor to its successor.
    var retiring: Atomic<Bool> { get }
    var reader: RouterReader { get }
    func run()
}

extension OutputRunner: PipelineOutput {}
extension TcpOutputRunner: PipelineOutput {}
// HttpOutputRunner and SmtpOutputRunner declare it themselves.

/// Where an output's bytes go.
protocol OutputSink: AnyObject {
    /// Writes all of `bytes`; throws on failure (the messages are then retried).
    func write(_ bytes: [UInt8]) throws(EncodeError)
}

/// FileOutput's sink: appends to a file (created with `perm`).
final class FileSink: OutputSink {
    let path: String
    let perm: mode_t
    private var fd: Int32 = -1

    init(path: String, perm: mode_t) {
        self.path = path
        self.perm = perm
    }

    deinit { if fd >= 0 { close(fd) } }

    func write(_ bytes: [UInt8]) throws(EncodeError) {
        if fd < 0 {
            try? FileSystem.createDirectories(Path.parent(path))
            fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, perm)
            if fd < 0 { throw EncodeError(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        }
        try writeAll(fd, bytes, path)
    }
}

/// LogOutput's sink: standard output.
final class StdoutSink: OutputSink {
    func write(_ bytes: [UInt8]) throws(EncodeError) { try writeAll(1, bytes, "stdout") }
}

private func writeAll(_ fd: Int32, _ bytes: [UInt8], _ what: String) throws(EncodeError) {
    var off = 0
    let failure: String? = bytes.withUnsafeBytes { raw in
        while off < raw.count {
            let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return "write to \(what) failed: \(String(cString: strerror(errno)))" }
            off += n
        }
        return nil
    }
    if let failure { throw EncodeError(description: failure) }
}

/// Runs one output on its own thread: pulls its messages, encodes them, writes a batch,
/// and acknowledges only after the write succeeded; a failed write is retried with
/// backoff (the router's budget then decides between blocking and dropping).
final class OutputRunner: @unchecked Sendable {  // runs on its own thread; other threads only set the abandon/retiring atomics
    let name: String
    let reader: RouterReader
    let encoder: any MessageEncoder
    let framing: Bool
    let sink: any OutputSink
    let counters: PluginCounters
    let log: PipelineLog
    let flushCount: Int
    let flushInterval: Double
    /// Set when the pipeline stops and this output could not drain in time: a failing
    /// write is then given up (its messages stay unacknowledged and are reported).
    let abandon = Atomic<Bool>(false)
    let retiring = Atomic<Bool>(false)

    init(name: String, reader: RouterReader, encoder: any MessageEncoder, framing: Bool, sink: any OutputSink,
         counters: PluginCounters, log: PipelineLog, flushCount: Int, flushInterval: Double) {
        self.name = name
        self.reader = reader
        self.encoder = encoder
        self.framing = framing
        self.sink = sink
        self.counters = counters
        self.log = log
        self.flushCount = max(1, flushCount)
        self.flushInterval = flushInterval
    }

    func run() {
        var pending: [UInt8] = []
        var pendingCount = 0
        var lastSeq: UInt64?
        var lastFlush = Date()
        func flush() {
            guard let seq = lastSeq else { return }
            var delay = 0.1
            while true {
                do {
                    if !pending.isEmpty { try sink.write(pending) }
                    break
                } catch {
                    counters.add(.writeFailures)
                    if abandon.load(ordering: .relaxed) {
                        log.error(name, "stopping with \(pendingCount) messages unwritten: \(error)")
                        pending.removeAll()
                        pendingCount = 0
                        lastSeq = nil
                        return
                    }
                    log.error(name, "\(error); retrying in \(delay) s")
                    Threads.sleep(delay)
                    delay = min(delay * 2, 5)
                }
            }
            counters.add(.written, Int64(pendingCount))
            reader.acknowledge(through: seq)
            pending.removeAll(keepingCapacity: true)
            pendingCount = 0
            lastSeq = nil
            lastFlush = Date()
        }
        while !retiring.load(ordering: .relaxed), let batch = reader.next(maxCount: 256, timeout: flushInterval > 0 ? min(flushInterval, 0.2) : 0.2) {
            for m in batch {
                counters.add(.processed)
                do {
                    if let bytes = try encoder.encode(m.view) {
                        pending += framing ? StreamFraming.frame(bytes) : bytes
                        pendingCount += 1
                    }
                } catch {
                    counters.add(.encodeFailures)
                    log.error(name, "encoding message \(m.seq): \(error)")
                }
                lastSeq = m.seq
                if pendingCount >= flushCount { flush() }
            }
            if batch.isEmpty { reader.acknowledgeAll() }
            if lastSeq != nil && (batch.isEmpty || Date().timeIntervalSince(lastFlush) >= flushInterval) { flush() }
            counters.recordLag(of: reader)
        }
        flush()
        counters.recordLag(of: reader)
    }
}

#if canImport(Glibc)
import Glibc
#endif

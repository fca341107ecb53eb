import Foundation
import Synchronization

/// A running luapiped: inputs → decoders → ``Router`` → filters and outputs, built from a
/// ``PipelineConfig``.
///
/// Threads: one per input, filter and output for now (the fixed worker pool comes with
/// hot reload). Stopping is graceful: inputs stop, the router drains, filters run their
/// final `timer_event` and preserve their state, outputs write what is left.
public final class Pipeline: @unchecked Sendable {
    public let config: PipelineConfig
    public let router: Router
    let log: PipelineLog
    var inputs: [any PipelineInput] = []
    var filters: [SandboxFilterRunner] = []
    var outputs: [any PipelineOutput] = []
    public private(set) var counters: [PluginCounters] = []
    private var inputThreads: [Thread] = []
    private let inputsRunning = Atomic<Int>(0)
    private let stopped = Mutex(false)
    private let finishedAll = NSCondition()
    private var threadsDone = 0
    private var threadCount = 0
    /// Set by a `shutdown` reader or a signal.
    let stopRequested = Atomic<Bool>(false)
    /// How long a stop waits for readers to drain before giving up on stuck outputs.
    public var drainTimeout: Double = 10

    /// Builds every plugin: scripts are compiled now, so a broken one fails here.
    /// - Parameter stdin: the descriptor StdinInput reads (tests pass a pipe).
    /// - Throws: ``ConfigErrors`` for every plugin that cannot be built.
    public init(config: PipelineConfig, log: PipelineLog = PipelineLog(), stdin: Int32 = 0) throws(ConfigErrors) {
        self.config = config
        self.log = log
        self.router = Router(maxMessageLoops: config.global.maxMessageLoops)
        var errors: [ConfigError] = []
        let g = config.global

        func makeSandbox(_ p: PluginConfig, kind: PluginKind) -> Sandbox? {
            guard let script = p.script, let code = FileManager.default.contents(atPath: script) else { return nil }
            let o = p.options
            let limits = SandboxLimits(memory: Int(o.integer("memory_limit")!), instructions: UInt64(max(0, o.integer("instruction_limit")!)),
                                       output: min(Int(o.integer("output_limit")!), g.maxMessageSize), maxProcessDuration: g.maxProcessDuration)
            var modules: [String] = []
            if let m = o.string("module_directory") { modules.append(PipelineConfig.resolve(m, against: config.directory)) }
            modules.append((g.sandboxDir as NSString).appendingPathComponent("modules"))
            if let share = g.shareDir { modules.append((share as NSString).appendingPathComponent("modules")) }
            var values: [String: ConfigValue] = [:]
            for (k, v) in o.table("config") ?? [] {
                switch v {
                case .string(let s): values[k] = .string(s)
                case .integer(let i): values[k] = .integer(i)
                case .double(let d): values[k] = .double(d)
                case .bool(let b): values[k] = .bool(b)
                default: errors.append(p.error("config.\(k)", "read_config values must be strings, numbers or booleans"))
                }
            }
            let sb = Sandbox(kind: kind, name: p.name, limits: limits, config: values, modulePaths: modules, hostname: g.hostname)
            do {
                try sb.load(script: code, chunkName: (script as NSString).lastPathComponent)
            } catch {
                if p.dropIn {
                    log.error("sandbox_dir", "\(script): \(error.message); not loaded")
                } else {
                    errors.append(p.error("filename", error.message))
                }
                return nil
            }
            if o.bool("preserve_data") == true, let data = FileManager.default.contents(atPath: preservationPath(p.name)) {
                do {
                    try sb.restore(Array(data))
                } catch {
                    log.error(p.name, "preserved data not restored: \(error.message)")
                }
            }
            return sb
        }

        func makeDecoder(_ name: String?, input: String) -> (any RecordDecoder)? {
            // (MultiDecoders do not nest: checked with the config, so this recursion ends.)
            guard let name else { return PayloadRecordDecoder(inputName: input, hostname: g.hostname) }
            guard let p = config.plugin(named: name) else { return nil }
            switch p.type.name {
            case "ProtobufDecoder": return ProtobufDecoder()
            case "MultiDecoder":
                var subs: [(name: String, decoder: any RecordDecoder)] = []
                for sub in p.options.strings("subs") ?? [] {
                    guard let d = makeDecoder(sub, input: input) else { return nil }
                    subs.append((sub, d))
                }
                return MultiDecoder(name: p.name, subs: subs, logSubErrors: p.options.bool("log_sub_errors")!, log: log)
            case "SandboxDecoder":
                return makeSandbox(p, kind: .decoder).map { SandboxDecoder(sandbox: $0, inputName: input, rebuild: { makeSandbox(p, kind: .decoder) }) }
            default: return nil
            }
        }

        func makeEncoder(_ p: PluginConfig) -> (any MessageEncoder)? {
            switch p.type.name {
            case "PayloadEncoder": return PayloadEncoder(appendNewlines: p.options.bool("append_newlines")!, prefixTimestamp: p.options.bool("prefix_ts")!)
            case "ProtobufEncoder": return ProtobufEncoder()
            case "JsonEncoder": return JsonEncoder()
            case "SandboxEncoder": return makeSandbox(p, kind: .encoder).map { SandboxEncoder(sandbox: $0) }
            default: return nil
            }
        }

        func makeReader(_ p: PluginConfig) -> RouterReader {
            let b = p.options.options("buffering")
            let buffering = Buffering(maxBufferSize: Int(b?.integer("max_buffer_size") ?? Int64(Buffering.defaultMaxBufferSize)),
                                      fullAction: FullAction(rawValue: b?.string("full_action") ?? "block") ?? .block)
            let matcher = try! MessageMatcher(p.options.string("message_matcher")!)  // checked at load
            return router.addReader(name: p.name, buffering: buffering, matcher: { matcher.matches($0) })
        }

        for p in config.plugins {
            let c = PluginCounters(name: p.name)
            switch p.type.category {
            case .input:
                let splitterConfig = p.options.string("splitter").flatMap({ config.plugin(named: $0) })
                let maxSize = g.maxMessageSize
                let isTcp = p.type.name == "TcpInput"
                let makeSplitter: () -> any Splitter = {
                    switch splitterConfig {
                    case nil where isTcp: return HekaFramingSplitter(maxMessageSize: maxSize)
                    case let s? where s.type.name == "HekaFramingSplitter": return HekaFramingSplitter(maxMessageSize: maxSize)
                    case let s? where s.type.name == "NullSplitter": return NullSplitter()
                    case let s? where s.type.name == "RegexSplitter":
                        // Compiled once at start-up below, so this cannot fail here.
                        return try! RegexSplitter(pattern: s.options.string("delimiter")!, delimiterAtEnd: s.options.bool("delimiter_eol")!,
                                                  maxRecordSize: maxSize, keepTruncated: s.options.bool("keep_truncated")!)
                    case let s?:
                        return TokenSplitter(delimiter: s.options.string("delimiter")!.utf8.first ?? 0x0A,
                                             deliverIncompleteFinal: s.options.bool("deliver_incomplete_final")!,
                                             maxRecordSize: maxSize, keepTruncated: s.options.bool("keep_truncated")!)
                    case nil: return TokenSplitter(maxRecordSize: maxSize)
                    }
                }
                if let s = splitterConfig, s.type.name == "RegexSplitter" {
                    do {
                        _ = try RegexSplitter(pattern: s.options.string("delimiter")!, maxRecordSize: maxSize, keepTruncated: false)
                    } catch {
                        errors.append(s.error("delimiter", error.reason))
                        continue
                    }
                }
                let decoderMade: (any RecordDecoder)? = isTcp && p.options.string("decoder") == nil
                    ? ProtobufDecoder() : makeDecoder(p.options.string("decoder"), input: p.name)
                guard let decoder = decoderMade else { continue }
                let records = RecordHandler(inputName: p.name, decoder: decoder, router: router, counters: c, log: log,
                                            sendDecodeFailures: p.options.bool("send_decode_failures")!,
                                            logDecodeFailures: p.options.bool("log_decode_failures")!)
                if p.type.name == "LogstreamerInput" {
                    let o = p.options
                    let regex: FileMatch
                    do {
                        regex = try FileMatch(pattern: o.string("file_match")!, differentiator: o.strings("differentiator") ?? [],
                                              priority: o.strings("priority") ?? [])
                    } catch {
                        errors.append(p.error("file_match", error.reason))
                        continue
                    }
                    let journals = o.string("journal_directory").map { PipelineConfig.resolve($0, against: config.directory) }
                        ?? ((g.baseDir as NSString).appendingPathComponent("logstreamer") as NSString).appendingPathComponent(p.name)
                    inputs.append(LogstreamerInput(
                        name: p.name, directory: PipelineConfig.resolve(o.string("log_directory")!, against: config.directory),
                        fileMatch: regex, rescanInterval: o.double("rescan_interval")!, oldestDuration: o.double("oldest_duration")!,
                        initialTail: o.bool("initial_tail")!, journalDirectory: journals, records: records, log: log,
                        makeSplitter: makeSplitter))
                } else if p.type.name == "UdpInput" {
                    inputs.append(UdpInput(name: p.name, address: p.options.string("address")!, maxMessageSize: g.maxMessageSize,
                                           records: records, splitter: splitterConfig == nil ? NullSplitter() : makeSplitter(), log: log))
                } else if isTcp {
                    let recent = ((g.baseDir as NSString).appendingPathComponent("tcp") as NSString).appendingPathComponent("\(p.name).uuids")
                    inputs.append(TcpInput(name: p.name, address: p.options.string("address")!, ack: p.options.bool("ack")!,
                                           records: records, log: log, recentPath: recent, makeSplitter: makeSplitter))
                } else {
                    inputs.append(StdinInput(fd: stdin, splitter: makeSplitter(), records: records))
                }
            case .filter:
                guard let sb = makeSandbox(p, kind: .filter) else { continue }
                filters.append(SandboxFilterRunner(
                    name: p.name, sandbox: sb, reader: makeReader(p), router: router, counters: c, log: log,
                    tickerInterval: Double(p.options.integer("ticker_interval")!), maxProcessInject: g.maxProcessInject,
                    maxTimerInject: g.maxTimerInject, preservePath: p.options.bool("preserve_data")! ? preservationPath(p.name) : nil,
                    retries: p.options.options("retries").map {
                        RetryPolicy(delay: $0.double("delay")!, maxDelay: $0.double("max_delay")!, maxJitter: $0.double("max_jitter")!,
                                    maxRetries: Int($0.integer("max_retries")!))
                    } ?? .filterDefault,
                    rebuild: { makeSandbox(p, kind: .filter) }))
            case .output:
                let encoder: any MessageEncoder
                if let e = p.options.string("encoder").flatMap({ config.plugin(named: $0) }) {
                    guard let made = makeEncoder(e) else { continue }
                    encoder = made
                } else {
                    encoder = p.type.name == "TcpOutput" ? ProtobufEncoder() : JsonEncoder()
                }
                if p.type.name == "TcpOutput" {
                    outputs.append(TcpOutputRunner(
                        name: p.name, reader: makeReader(p), encoder: encoder, framing: p.options.bool("use_framing") ?? true,
                        address: p.options.string("address")!, waitForAck: p.options.bool("wait_for_ack")!, counters: c, log: log))
                    counters.append(c)
                    continue
                }
                let sink: any OutputSink
                if p.type.name == "FileOutput" {
                    let perm = mode_t(p.options.string("perm")!, radix: 8) ?? 0o644
                    sink = FileSink(path: PipelineConfig.resolve(p.options.string("path")!, against: config.directory), perm: perm)
                } else {
                    sink = StdoutSink()
                }
                outputs.append(OutputRunner(
                    name: p.name, reader: makeReader(p), encoder: encoder, framing: p.options.bool("use_framing") ?? encoder.framesByDefault,
                    sink: sink, counters: c, log: log, flushCount: Int(p.options.integer("flush_count") ?? 1),
                    flushInterval: Double(p.options.integer("flush_interval") ?? 1000) / 1000))
            default:
                continue
            }
            counters.append(c)
        }
        if !errors.isEmpty { throw ConfigErrors(errors: errors) }
        for e in config.dropInErrors { log.error("sandbox_dir", e.description) }
        router.onShutdownRequest = { [weak self] reason in
            self?.log.error("router", "\(reason): stopping")
            self?.stopRequested.store(true, ordering: .relaxed)
        }
    }

    func preservationPath(_ name: String) -> String {
        ((config.global.baseDir as NSString).appendingPathComponent("sandbox_preservation") as NSString).appendingPathComponent("\(name).data")
    }

    private func spawn(_ name: String, _ body: @escaping @Sendable () -> Void) -> Thread {
        let t = Thread { [self] in
            body()
            finishedAll.lock()
            threadsDone += 1
            finishedAll.broadcast()
            finishedAll.unlock()
        }
        t.name = name
        threadCount += 1
        t.start()
        return t
    }

    /// Starts every plugin's thread.
    public func start() {
        for o in outputs { _ = spawn(o.name) { o.run() } }
        let pool = SandboxWorkerPool(runners: filters, count: config.global.sandboxWorkers, router: router)
        for (i, runners) in pool.workers.enumerated() {
            _ = spawn("sandbox-worker-\(i)") { [router] in SandboxWorkerPool.run(runners, router: router) }
        }
        inputsRunning.store(inputs.count, ordering: .relaxed)
        for i in inputs {
            _ = spawn(i.name) { [self] in
                i.run()
                inputsRunning.subtract(1, ordering: .relaxed)
            }
        }
    }

    /// Blocks until every input has finished (end of input) or a stop was requested,
    /// then stops gracefully. With `reportEvery`, logs every plugin's counters that often.
    public func runUntilInputsEnd(reportEvery: Double? = nil) {
        var lastReport = Date()
        while inputsRunning.load(ordering: .relaxed) > 0 && !stopRequested.load(ordering: .relaxed) {
            Thread.sleep(forTimeInterval: 0.05)
            if let every = reportEvery, Date().timeIntervalSince(lastReport) >= every {
                report()
                lastReport = Date()
            }
        }
        stop()
    }

    /// One log line per plugin with its counters (filters: also avg_ns per message).
    public func report() {
        for c in counters {
            var values = c.snapshot
            if let ns = values["process_ns"], let n = values["processed"], n > 0 {
                values["avg_ns"] = ns / n
                values["process_ns"] = nil
            }
            log.info(c.name, values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        }
    }

    /// Requests a stop (signal handlers call this); `runUntilInputsEnd` then stops.
    public func requestStop() { stopRequested.store(true, ordering: .relaxed) }

    /// Graceful stop: inputs, then draining, then filters' last timer and preservation,
    /// then outputs.
    public func stop() {
        let already = stopped.withLock { s -> Bool in
            defer { s = true }
            return s
        }
        if already { return }
        for i in inputs { i.stop() }
        while inputsRunning.load(ordering: .relaxed) > 0 { Thread.sleep(forTimeInterval: 0.01) }
        waitForDrain()
        for case let l as LogstreamerInput in inputs { l.finalJournal() }
        for f in filters { f.stopping.store(true, ordering: .relaxed) }
        waitForThreads(leaving: outputs.count)
        waitForDrain()
        for o in outputs { o.abandon.store(true, ordering: .relaxed) }
        router.close()
        waitForThreads(leaving: 0)
    }

    /// Waits until every reader acknowledged everything, or `drainTimeout` passed (an
    /// output that cannot write must not keep the daemon from stopping).
    private func waitForDrain() {
        let deadline = Date().addingTimeInterval(drainTimeout)
        while router.currentStats.held > 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        let held = router.currentStats.held
        if held > 0 { log.error("router", "stopping with \(held) messages not acknowledged by every reader") }
    }

    private func waitForThreads(leaving n: Int) {
        finishedAll.lock()
        while threadCount - threadsDone > n { finishedAll.wait() }
        finishedAll.unlock()
    }
}

#if canImport(Glibc)
import Glibc
#endif

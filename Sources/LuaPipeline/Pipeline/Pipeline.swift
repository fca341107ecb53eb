import Foundation
import Synchronization

/// A running luapiped: inputs → decoders → ``Router`` → filters and outputs, built from a
/// ``PipelineConfig``.
///
/// Threads: one per input and output; sandboxed filters share the fixed
/// ``SandboxWorkerPool``. Stopping is graceful: inputs stop, the router drains, filters run
/// their final `timer_event` and preserve their state, outputs write what is left.
///
/// While running, ``reload(to:changedModules:)`` brings the plugins in line with a new
/// config (drop-in directory changes, SIGHUP): see `Reload/PipelineReload.swift`.
public final class Pipeline: @unchecked Sendable {  // the running plugins and statuses are behind `registry`; reloads are serialised by `reloading`
    /// The config running now (replaced by each reload).
    public var config: PipelineConfig { registry.withLock { _ in current } }
    var current: PipelineConfig
    public let router: Router
    let log: PipelineLog
    let stdin: Int32
    /// Guards the running plugins (reloads add and remove them).
    let registry = Mutex(())
    var inputs: [RunningInput] = []
    var filters: [RunningFilter] = []
    var outputs: [RunningOutput] = []
    var statuses: [String: PluginStatus] = [:]
    /// StatAccumInputs' accumulators by section name (shared with their StatsdInputs).
    let accumulators = StatAccumulators()
    /// Filters removed while running whose state was saved: putting them back restores it.
    var savedOnRemoval: Set<String> = []
    var pool: SandboxWorkerPool
    let stopped = Mutex(false)
    let started = Atomic<Bool>(false)
    private let finishedAll = NSCondition()
    private var threadsDone = 0
    private var threadCount = 0
    /// Set by a `shutdown` reader or a signal.
    let stopRequested = Atomic<Bool>(false)
    /// How long a stop waits for readers to drain before giving up on stuck outputs.
    public var drainTimeout: Double = 10
    var watcher: SandboxDirWatcher?
    /// Held while a reload applies, and while start() starts everything.
    let reloading = NSLock()

    struct RunningInput: @unchecked Sendable {  // holds references to thread-safe plugins; copied under `registry`
        let config: PluginConfig
        let fingerprint: String
        let input: any PipelineInput
        let counters: PluginCounters
        let modules: Set<String>
        let decoder: SandboxDecoder?
        var decoderFingerprint: String?
        let finished = DoneFlag()
    }

    struct RunningFilter {
        var config: PluginConfig
        var fingerprint: String
        let runner: SandboxFilterRunner
        let counters: PluginCounters
        var modules: Set<String>
    }

    struct RunningOutput: @unchecked Sendable {  // holds references to thread-safe plugins; copied under `registry`
        let config: PluginConfig
        let fingerprint: String
        let output: any PipelineOutput
        let counters: PluginCounters
        let modules: Set<String>
        let finished = DoneFlag()
    }

    /// Builds every plugin: scripts are compiled now, so a broken one fails here (a broken
    /// drop-in plugin is only reported).
    /// - Parameter stdin: the descriptor StdinInput reads (tests pass a pipe).
    /// - Throws: ``ConfigErrors`` for every plugin that cannot be built.
    public init(config: PipelineConfig, log: PipelineLog = PipelineLog(), stdin: Int32 = 0) throws(ConfigErrors) {
        self.current = config
        self.log = log
        self.stdin = stdin
        self.router = Router(maxMessageLoops: config.global.maxMessageLoops)
        self.pool = SandboxWorkerPool(count: config.global.sandboxWorkers, router: router)
        var errors: [ConfigError] = []
        for p in config.plugins {
            var notes = BuildNotes()
            let c = PluginCounters(name: p.name, category: p.type.category)
            let fp = Self.fingerprint(p, in: config)
            switch p.type.category {
            case .input:
                if let i = makeInput(p, in: config, counters: c, notes: &notes) {
                    let fps = Self.inputFingerprints(p, in: config)
                    inputs.append(RunningInput(config: p, fingerprint: fps.own, input: i, counters: c, modules: notes.modules,
                                               decoder: notes.decoder, decoderFingerprint: fps.decoder))
                }
            case .filter:
                if let r = makeFilter(p, in: config, counters: c, notes: &notes) {
                    filters.append(RunningFilter(config: p, fingerprint: fp, runner: r, counters: c, modules: notes.modules))
                }
            case .output:
                if let o = makeOutput(p, in: config, counters: c, notes: &notes) {
                    outputs.append(RunningOutput(config: p, fingerprint: fp, output: o, counters: c, modules: notes.modules))
                }
            default:
                continue
            }
            if p.dropIn {
                for e in notes.errors { log.error("sandbox_dir", "\(e.reason); not loaded") }
                if !notes.errors.isEmpty { statuses[p.name] = PluginStatus(state: .stopped, lastError: notes.errors.map(\.reason).joined(separator: "; ")) }
            } else {
                errors += notes.errors
            }
            if notes.errors.isEmpty { statuses[p.name] = PluginStatus() }
        }
        if !errors.isEmpty { throw ConfigErrors(errors: errors) }
        for e in config.dropInErrors { log.error("sandbox_dir", e.description) }
        router.onShutdownRequest = { [weak self] reason in
            self?.log.error("router", "\(reason): stopping")
            self?.stopRequested.store(true, ordering: .relaxed)
        }
    }

    /// Every plugin's counters.
    public var counters: [PluginCounters] {
        registry.withLock { _ in inputs.map(\.counters) + filters.map(\.counters) + outputs.map(\.counters) }
    }

    /// Each plugin's state and last error (reload failures stay visible here).
    public var status: [String: PluginStatus] { registry.withLock { _ in statuses } }

    func spawn(_ name: String, _ body: @escaping @Sendable () -> Void) {
        let t = Thread { [self] in
            ThreadName.set(name)
            body()
            finishedAll.lock()
            threadsDone += 1
            finishedAll.broadcast()
            finishedAll.unlock()
        }
        finishedAll.lock()
        threadCount += 1
        finishedAll.unlock()
        t.start()
    }

    func startInput(_ i: RunningInput) {
        spawn(i.input.name) { i.input.run(); i.finished.set() }
    }

    func startOutput(_ o: RunningOutput) {
        spawn(o.output.name) { o.output.run(); o.finished.set() }
    }

    /// Starts every plugin's thread, and the drop-in directory's watcher.
    public func start() {
        reloading.lock()  // a reload waits until everything started (and then applies to it)
        defer { reloading.unlock() }
        startWatching()
        registry.withLock { _ in
            for o in outputs { startOutput(o) }
            for f in filters { pool.add(f.runner) }
            for i in 0..<pool.count { spawn("sandbox-worker-\(i)") { [pool] in pool.run(worker: i) } }
            for i in inputs { startInput(i) }
        }
        started.store(true, ordering: .releasing)
    }

    /// Blocks until every input has finished (end of input) or a stop was requested,
    /// then stops gracefully. With `reportEvery`, logs every plugin's counters that often.
    public func runUntilInputsEnd(reportEvery: Double? = nil) {
        var lastReport = Date()
        while !stopRequested.load(ordering: .relaxed) && !registry.withLock({ _ in inputs.allSatisfy { $0.finished.isSet } }) {
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
        watcher?.stop()
        reloading.lock()  // a reload in progress finishes first
        reloading.unlock()
        let (ins, fs, outs) = registry.withLock { _ in (inputs, filters, outputs) }
        for i in ins { i.input.stop() }
        for i in ins { i.finished.wait() }
        waitForDrain()
        for case let l as LogstreamerInput in ins.map(\.input) { l.finalJournal() }
        for f in fs { f.runner.stopping.store(true, ordering: .relaxed) }
        pool.close()
        if started.load(ordering: .acquiring) { waitForThreads(leaving: outs.count) }
        waitForDrain()
        for o in outs { o.output.abandon.store(true, ordering: .relaxed) }
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

/// A flag set once, readable from any thread; waiting on it sleeps until it is set.
final class DoneFlag: @unchecked Sendable {  // `value` is only touched under `condition`
    private let condition = NSCondition()
    private var value = false

    func set() {
        condition.lock()
        value = true
        condition.broadcast()
        condition.unlock()
    }

    var isSet: Bool {
        condition.lock()
        defer { condition.unlock() }
        return value
    }

    /// Waits until the flag is set, or `deadline` passed (nil: no limit); returns whether it is set.
    @discardableResult
    func wait(until deadline: Date? = nil) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while !value {
            if let deadline {
                if !condition.wait(until: deadline) { return value }
            } else {
                condition.wait()
            }
        }
        return true
    }
}

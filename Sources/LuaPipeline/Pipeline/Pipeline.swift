import FoundationEssentials
import Glibc
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
public final class Pipeline: PluginHost, @unchecked Sendable {  // the plugins live in `registry` (one lock); the config in `running`; reloads are serialised by `reloading`
    /// The config running now (replaced by each reload).
    public var config: PipelineConfig { running.withLock { $0 } }
    let running: Mutex<PipelineConfig>
    public let router: Router
    let log: PipelineLog
    let stdin: Int32
    /// The running plugins and their statuses.
    let registry = PluginRegistry()
    /// StatAccumInputs' accumulators by section name (shared with their StatsdInputs).
    let accumulators = StatAccumulators()
    let pool: SandboxWorkerPool
    let stopped = Mutex(false)
    let started = Atomic<Bool>(false)
    private let finishedAll = Condition()
    private var threadsDone = 0
    private var threadCount = 0
    /// Set by a `shutdown` reader or a signal.
    let stopRequested = Atomic<Bool>(false)
    /// How long a stop waits for plugins to drain (`shutdown_timeout`), and a reload for a
    /// plugin it replaces or removes.
    public var drainTimeout: Double
    var watcher: SandboxDirWatcher?
    /// Held while a reload applies, and while start() starts everything.
    let reloading = Condition()
    /// Takes the consistent checkpoints (nil: `checkpoint_interval = 0`).
    let checkpointer: Checkpointer?
    /// When it was built (`uptime_s`).
    let startedAt = Date()
    /// The admin HTTP server (`admin_address`), bound by ``open()``.
    var admin: AdminServer?
    /// Ends the `heka.all-report` timer.
    let reportsStopped = DoneFlag()
    /// The dashboard's store, once a DashboardOutput is built.
    let dashboard = DashboardHolder()

    /// What builds plugins, at start-up and on reloads.
    var builder: PluginBuilder {
        PluginBuilder(router: router, log: log, stdin: stdin, accumulators: accumulators,
                      events: { [weak self] e, reader in self?.record(e, from: reader) }, dashboard: dashboard, checkpointer: checkpointer)
    }

    /// Builds every plugin: scripts are compiled now, so a broken one fails here (a broken
    /// drop-in plugin is only reported).
    /// - Parameter stdin: the descriptor StdinInput reads (tests pass a pipe).
    /// - Throws: ``ConfigErrors`` for every plugin that cannot be built.
    public init(config: PipelineConfig, log: PipelineLog = PipelineLog(), stdin: Int32 = 0) throws(ConfigErrors) {
        self.running = Mutex(config)
        self.log = log
        self.stdin = stdin
        self.router = Router(maxMessageLoops: config.global.maxMessageLoops)
        self.drainTimeout = config.global.shutdownTimeout
        self.pool = SandboxWorkerPool(count: config.global.sandboxWorkers, router: router,
                                      maxCallDuration: config.global.maxProcessDuration, log: log)
        let restored: RestoredCheckpoint?
        (checkpointer, restored) = Self.openCheckpoints(config.global, router: router, log: log)
        var errors: [ConfigError] = []
        router.restoredDurable = restored?.manifest.durable ?? [:]
        if let e = Self.openLeftDurableQueue(config.global, router: router, log: log) { errors.append(e) }
        var builder = self.builder
        builder.restored = restored
        for p in config.plugins {
            var notes = PluginBuilder.Notes()
            if let m = builder.managed(p, in: config, notes: &notes) { registry.add(m) }
            if p.dropIn {
                for e in notes.errors { log.error("sandbox_dir", "\(e.reason); not loaded") }
                if !notes.errors.isEmpty { registry.setStatus(p.name, PluginStatus(state: .stopped, lastError: notes.errors.map(\.reason).joined(separator: "; "))) }
            } else {
                errors += notes.errors
            }
            if notes.errors.isEmpty && [.input, .filter, .output].contains(p.type.category) { registry.setStatus(p.name, PluginStatus()) }
        }
        if !errors.isEmpty { throw ConfigErrors(errors: errors) }
        for e in config.dropInErrors { log.error("sandbox_dir", e.description) }
        router.onDroppingForSuspended = { [weak self] name in
            self?.record(ReloadEvent(plugin: name, action: .dropping,
                                     detail: "not running and its max_buffer_size is full: its oldest messages are dropped (counted as dropped) so it holds back no input"))
        }
        router.onShutdownRequest = { [weak self] reason in
            self?.log.error("router", "\(reason): stopping")
            self?.requestStop()
        }
        checkpointer?.participants = { [weak self] in self?.checkpointParticipants ?? ([], [:]) }
        // A DashboardOutput without an admin server serves on its own `address`.
        let address = config.global.adminAddress.isEmpty ? dashboard.address.withLock { $0 } ?? "" : config.global.adminAddress
        if !address.isEmpty { admin = AdminServer(address: address, pipeline: self, log: log) }
    }

    /// Every plugin's counters.
    public var counters: [PluginCounters] {
        let all = registry.plugins
        return [PluginCategory.input, .filter, .output].flatMap { c in all.filter { $0.category == c }.map(\.counters) }
    }

    /// Each plugin's state and last error (reload failures stay visible here).
    public var status: [String: PluginStatus] { registry.statuses }

    func spawn(_ name: String, _ body: @escaping @Sendable () -> Void) {
        finishedAll.lock()
        threadCount += 1
        finishedAll.unlock()
        Threads.start { [self] in
            ThreadName.set(name)
            body()
            finishedAll.lock()
            threadsDone += 1
            finishedAll.broadcast()
            finishedAll.unlock()
        }
    }

    /// Binds every input's listening socket, so that an address already taken is a
    /// start-up error naming the plugin and the address (the daemon calls this before
    /// ``start()``; without it, a listener that cannot bind is logged and counted).
    public func open() throws(ConfigErrors) {
        var errors: [ConfigError] = []
        for m in registry.plugins(.input) {
            do { try m.open() } catch { errors.append(error) }
        }
        // After the inputs: their addresses are the ones users chose first.
        if let admin {
            do throws(Socket.Failure) {
                try admin.open()
            } catch {
                errors.append(ConfigError(section: "luapiped", key: "admin_address", "cannot serve on \(admin.address): \(error)"))
            }
        }
        if !errors.isEmpty { throw ConfigErrors(errors: errors) }
    }

    /// Starts every plugin's thread, and the drop-in directory's watcher.
    public func start() {
        reloading.lock()  // a reload waits until everything started (and then applies to it)
        defer { reloading.unlock() }
        startWatching()
        let all = registry.plugins
        // Readers first, so the inputs' first messages reach them.
        for m in all where m.category == .output { m.start(on: self) }
        for m in all where m.category == .filter { m.start(on: self) }
        pool.spawnWorker = { [weak self, pool] i in self?.spawn("sandbox-worker-\(i)") { pool.run(worker: i) } }
        for i in 0..<pool.count { spawn("sandbox-worker-\(i)") { [pool] in pool.run(worker: i) } }
        spawn("sandbox-watchdog") { [pool] in pool.watch() }
        if let checkpointer { spawn("checkpoint") { checkpointer.run() } }
        startDurableQueue()
        for m in all where m.category == .input { m.start(on: self) }
        if config.global.reportInterval > 0 { spawn("reports") { [unowned self] in runReports() } }
        if let admin {
            try? admin.open()  // bound now unless open() did (a failure is logged by run())
            spawn("admin") { admin.run() }
        }
        started.store(true, ordering: .releasing)
    }

    /// Blocks until every input has finished (end of input) or a stop was requested,
    /// then stops gracefully. With `reportEvery`, logs every plugin's counters that often.
    public func runUntilInputsEnd(reportEvery: Double? = nil) {
        var lastReport = Date()
        finishedAll.lock()
        // Checked under `finishedAll`: a thread ending and a stop request broadcast it.
        while !stopRequested.load(ordering: .relaxed) && !registry.plugins(.input).allSatisfy(\.isFinished) {
            if let every = reportEvery {
                _ = finishedAll.wait(until: lastReport.addingTimeInterval(every))
            } else {
                finishedAll.wait()
            }
            if let every = reportEvery, Date().timeIntervalSince(lastReport) >= every {
                finishedAll.unlock()
                report()
                finishedAll.lock()
                lastReport = Date()
            }
        }
        finishedAll.unlock()
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
        if let q = router.condition.withLock({ router.durable }) {
            let s = q.currentStats
            log.info("queue", "\(q.log.size) bytes on disk (max \(q.maxSize)), appended \(s.appended), replayed \(s.replayed), full \(s.fullWaits) times, "
                     + "write failures \(s.writeFailures), unreadable \(s.unreadable), left memory \(router.currentStats.spilled)")
        }
        if let c = checkpointStatus {
            let age = c.lastCommitTime.map { fixed(Date().timeIntervalSince($0), 0) + " s ago" } ?? "none yet"
            log.info("checkpoint", "last commit \(c.lastCommit.map(String.init) ?? "-") (\(age)), \(c.commits) this run"
                     + (c.waitingFor.isEmpty ? "" : "; the open one waits for: " + c.waitingFor.joined(separator: ", ")))
        }
    }

    /// Requests a stop (signal handlers call this); `runUntilInputsEnd` then stops.
    public func requestStop() {
        finishedAll.lock()
        stopRequested.store(true, ordering: .relaxed)
        finishedAll.broadcast()
        finishedAll.unlock()
    }

    /// Graceful stop, bounded by `shutdown_timeout`: inputs stop, the router drains,
    /// filters run their last timer_event and save their state, outputs write what is left.
    /// What is not finished by the deadline is abandoned: it stays unacknowledged, so
    /// journals and cursors do not cover it and it is read again at the next start; a
    /// plugin stuck in a call is left behind (the process ends under it).
    public func stop() {
        let already = stopped.withLock { s -> Bool in
            defer { s = true }
            return s
        }
        if already { return }
        let deadline = Date().addingTimeInterval(drainTimeout)
        log.info("luapiped", "stopping: draining for at most \(Self.seconds(drainTimeout))")
        watcher?.stop()
        reportsStopped.set()
        checkpointer?.stop()  // an open checkpoint is abandoned; the final one comes after the drain
        reloading.lock()  // a reload in progress finishes first
        reloading.unlock()
        let all = registry.plugins
        let queue = router.condition.withLock { router.durable }
        queue?.close()  // appends waiting for room give up (not acknowledged)
        for m in all { m.stopAcquiring(until: deadline) }
        waitForDrain(until: deadline)
        for m in all { m.settle() }
        pool.close()
        let stuck = started.load(ordering: .acquiring) ? pool.waitForWorkers(until: deadline) : []
        waitForDrain(until: deadline)
        let held = router.currentStats.held
        let drained = stuck.isEmpty && held == 0
        finalCheckpoint(drained: drained)
        queue?.saveCursors(force: true)
        admin?.stop()
        for m in all { m.abandon() }
        router.close()
        let ended = waitForThreads(leaving: 0, until: max(deadline, Date()).addingTimeInterval(1))
        log.info("luapiped", "the router held at most \(router.currentStats.peakHeldBytes) bytes at once")
        if drained && ended {
            log.info("luapiped", "stopped: everything drained")
        } else {
            var left: [String] = []
            if !stuck.isEmpty { left.append("filters stuck in a call: \(stuck.joined(separator: ", ")) (their state is not saved)") }
            if held > 0 { left.append("\(held) messages not acknowledged by every reader (read again at the next start)") }
            if !ended && stuck.isEmpty { left.append("threads still running") }
            log.error("luapiped", "stopped after \(Self.seconds(drainTimeout)) (shutdown_timeout) with work abandoned: " + left.joined(separator: "; "))
        }
    }

    static func seconds(_ d: Double) -> String { d == d.rounded() ? "\(Int(d)) s" : "\(d) s" }

    /// Waits until every running reader acknowledged everything, or `deadline` passed (an
    /// output that cannot write must not keep the daemon from stopping).
    private func waitForDrain(until deadline: Date) {
        router.waitUntilDrained(deadline: deadline)
    }

    /// Waits until at most `n` plugin threads run, or `deadline` passed; returns whether they ended.
    @discardableResult
    private func waitForThreads(leaving n: Int, until deadline: Date? = nil) -> Bool {
        finishedAll.lock()
        defer { finishedAll.unlock() }
        while threadCount - threadsDone > n {
            if let deadline {
                if !finishedAll.wait(until: deadline) { return threadCount - threadsDone <= n }
            } else {
                finishedAll.wait()
            }
        }
        return true
    }
}

/// A flag set once, readable from any thread; waiting on it sleeps until it is set.
final class DoneFlag: @unchecked Sendable {  // `value` is only touched under `condition`
    private let condition = Condition()
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

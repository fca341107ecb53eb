import Foundation
import Synchronization

/// Runs one SandboxFilter, pinned to one worker of the sandbox pool: pulls the messages its matcher accepts,
/// calls `process_message`, `timer_event` every `ticker_interval`, and appends what it
/// injects back to the router (never to itself, loops bounded, at most
/// `max_process_inject`/`max_timer_inject` per call).
///
/// A terminated filter is reported (log, a `heka.sandbox-terminated` message) and leaves
/// the router so it holds nobody back. On stop it runs `timer_event(ns, true)` and
/// preserves its globals when `preserve_data` is set.
///
/// Not yet: restarts with backoff and the shared worker pool (both with hot reload).
final class SandboxFilterRunner: @unchecked Sendable {
    let name: String
    private(set) var sandbox: Sandbox
    let retries: RetryPolicy
    let rebuild: () -> Sandbox?
    private var attempts = 0
    /// Set while a terminated sandbox waits for its restart.
    private var restartAt: Date?
    let reader: RouterReader
    let router: Router
    let counters: PluginCounters
    let log: PipelineLog
    let tickerInterval: Double
    let maxProcessInject: Int
    let maxTimerInject: Int
    let preservePath: String?
    let stopping = Atomic<Bool>(false)
    private var currentLoops = 0
    private var injectedThisCall = 0
    private var inTimer = false

    init(name: String, sandbox: Sandbox, reader: RouterReader, router: Router, counters: PluginCounters, log: PipelineLog,
         tickerInterval: Double, maxProcessInject: Int, maxTimerInject: Int, preservePath: String?,
         retries: RetryPolicy = .never, rebuild: @escaping () -> Sandbox? = { nil }) {
        self.name = name
        self.sandbox = sandbox
        self.retries = retries
        self.rebuild = rebuild
        self.reader = reader
        self.router = router
        self.counters = counters
        self.log = log
        self.tickerInterval = tickerInterval
        self.maxProcessInject = maxProcessInject
        self.maxTimerInject = maxTimerInject
        self.preservePath = preservePath
        attach()
    }

    private func attach() {
        sandbox.onInject = { [unowned self] in self.inject($0) }
        sandbox.onLog = { [unowned self] _, line in self.log.info(self.name, line) }
    }

    private func inject(_ injection: Injection) -> InjectVerdict {
        injectedThisCall += 1
        let limit = inTimer ? maxTimerInject : maxProcessInject
        if injectedThisCall > limit {
            return .fatal("exceeded \(inTimer ? "max_timer_inject" : "max_process_inject") (\(limit))")
        }
        guard let view = injection.copyView() else { return .reject("a filter injects messages, not raw payloads") }
        switch router.append(view, from: reader, loops: currentLoops + 1) {
        case .appended: counters.add("injected")
        case .loopLimit: counters.add("loop_drops")
        case .closed: return .reject("the pipeline is stopping")
        }
        return .accept
    }

    /// Reports a termination; returns whether the filter will be restarted (its reader
    /// then keeps its place, so messages wait for the new sandbox).
    private func terminated(_ reason: String) -> Bool {
        counters.add("terminations")
        log.error(name, "terminated: \(reason)")
        var uuids = UUIDSource.random.makeGenerator()
        let m = Message(uuid: uuids.next(), timestamp: Sandbox.now(), type: "heka.sandbox-terminated", logger: "luapiped",
                        severity: 3, payload: reason, hostname: sandbox.hostname,
                        fields: [Field(name: "plugin", value: .string([name]))])
        // Never back to itself: a filter that matches everything would kill itself on
        // its own obituary, for ever.
        _ = router.append(MessageView(m), from: reader, loops: max(currentLoops, 0) + 1)
        if let delay = retries.delay(afterAttempt: attempts) {
            attempts += 1
            restartAt = Date().addingTimeInterval(delay)
            log.info(name, "restarting in \(String(format: "%.3f", delay)) s (attempt \(attempts))")
            return true
        }
        router.removeReader(reader)
        return false
    }

    /// A fresh sandbox from the script, with the terminated one's globals when
    /// `preserve_data` is set and they can be saved and loaded again.
    private func restart() -> Bool {
        restartAt = nil
        guard let fresh = rebuild() else {
            log.error(name, "the script no longer loads; giving up")
            router.removeReader(reader)
            return false
        }
        if preservePath != nil {
            do {
                try fresh.restore(try sandbox.preserve())
            } catch {
                log.error(name, "restarting without its state: \(error)")
            }
        }
        sandbox = fresh
        attach()
        counters.add("restarts")
        return true
    }

    private func timer(shutdown: Bool) -> Bool {
        guard sandbox.hasTimerEvent else { return true }
        inTimer = true
        injectedThisCall = 0
        currentLoops = 0
        defer { inTimer = false }
        do {
            try sandbox.timerEvent(ns: Sandbox.now(), shutdown: shutdown)
            return true
        } catch {
            if !terminated(error.message) || shutdown { done = true }
            return false
        }
    }

    private var nextTick: Date?
    /// Whether this filter is finished (terminated, or stopped cleanly).
    private(set) var done = false

    /// One round on a worker: a batch of messages (without waiting), the timer when due,
    /// the clean stop once asked and drained. Returns whether it did any work.
    func step() -> Bool {
        guard !done else { return false }
        if let at = restartAt {
            if Date() < at && !stopping.load(ordering: .relaxed) { return false }
            if !restart() {
                done = true
                return true
            }
        }
        if nextTick == nil { nextTick = Date().addingTimeInterval(tickerInterval) }
        guard let batch = reader.next(maxCount: 64, timeout: 0) else {
            finish()
            done = true
            return true
        }
        let started = Router.monotonicNanosPrecise()
        defer {
            if !batch.isEmpty {
                counters.add("process_ns", Int64(Router.monotonicNanosPrecise() &- started))
                let u = sandbox.usage
                counters.set("memory_current", Int64(u.memoryCurrent))
                counters.set("memory_peak", Int64(u.memoryPeak))
                counters.set("instructions_peak", Int64(u.instructionsPeak))
                counters.set("lag_bytes", Int64(reader.lagBytes))
                counters.set("dropped", Int64(reader.currentCounters.dropped))
            }
        }
        for m in batch {
            currentLoops = m.loops
            injectedThisCall = 0
            counters.add("processed")
            switch sandbox.processMessage(m.view) {
            case .terminated(let e):
                // The message that killed it is skipped (counted), never fed again.
                counters.add("skipped")
                reader.acknowledge(through: m.seq)
                reader.rewind(after: m.seq)  // the rest of the batch waits for the new sandbox
                if !terminated(e.message) { done = true }
                return true
            case .ok(let status, let message):
                if status < 0 {
                    counters.add("failures")
                    log.debug(name, "process_message() failed with status \(status)" + (message.map { ": " + $0 } ?? ""))
                }
            }
        }
        // One acknowledgement per batch: the lock and the log trim are not per message.
        if let last = batch.last { reader.acknowledge(through: last.seq) } else { reader.acknowledgeAll() }
        var worked = !batch.isEmpty
        if tickerInterval > 0, let due = nextTick, Date() >= due {
            worked = true
            if !timer(shutdown: false) { return true }
            nextTick = Date().addingTimeInterval(tickerInterval)
        }
        if batch.isEmpty && stopping.load(ordering: .relaxed) {
            finish()
            done = true
            return true
        }
        return worked
    }

    /// Seconds until this filter's next timer_event (nil: none due).
    var secondsToTick: Double? {
        if let at = restartAt { return max(0, at.timeIntervalSinceNow) }
        guard tickerInterval > 0, let due = nextTick else { return nil }
        return max(0, due.timeIntervalSinceNow)
    }

    /// The clean stop: last timer_event, then preserve_data.
    private func finish() {
        guard timer(shutdown: true) else { return }
        router.removeReader(reader)
        guard let preservePath else { return }
        do {
            let data = try sandbox.preserve()
            try FileManager.default.createDirectory(atPath: (preservePath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let tmp = preservePath + ".tmp"
            guard FileManager.default.createFile(atPath: tmp, contents: Data(data)) else { throw EncodeError(description: "cannot write \(tmp)") }
            _ = rename(tmp, preservePath)
        } catch {
            log.error(name, "preserve_data: \(error)")
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

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
    let sandbox: Sandbox
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
         tickerInterval: Double, maxProcessInject: Int, maxTimerInject: Int, preservePath: String?) {
        self.name = name
        self.sandbox = sandbox
        self.reader = reader
        self.router = router
        self.counters = counters
        self.log = log
        self.tickerInterval = tickerInterval
        self.maxProcessInject = maxProcessInject
        self.maxTimerInject = maxTimerInject
        self.preservePath = preservePath
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

    private func terminated(_ reason: String) {
        counters.add("terminations")
        log.error(name, "terminated: \(reason)")
        var uuids = UUIDSource.random.makeGenerator()
        let m = Message(uuid: uuids.next(), timestamp: Sandbox.now(), type: "heka.sandbox-terminated", logger: "luapiped",
                        severity: 3, payload: reason, hostname: sandbox.hostname,
                        fields: [Field(name: "plugin", value: .string([name]))])
        _ = router.append(MessageView(m))
        router.removeReader(reader)
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
            terminated(error.message)
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
                terminated(e.message)
                done = true
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
            if !timer(shutdown: false) {
                done = true
                return true
            }
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

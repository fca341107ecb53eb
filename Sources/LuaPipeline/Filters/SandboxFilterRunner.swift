#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Synchronization

/// Runs one SandboxFilter, pinned to one worker of the sandbox pool: pulls the messages its matcher accepts,
/// calls `process_message`, `timer_event` every `ticker_interval`, and appends what it
/// injects back to the router (never to itself, loops bounded, at most
/// `max_process_inject`/`max_timer_inject` per call).
///
/// A terminated filter is reported (log, a `heka.sandbox-terminated` message) and restarted
/// per its ``RetryPolicy`` from its last state; the message that killed it is skipped and
/// counted. Otherwise it leaves the router so it holds nobody back. On stop it runs
/// `timer_event(ns, true)` and preserves its globals when `preserve_data` is set.
///
/// Hot reload: ``replace(with:)`` hands over a new version. At the next message boundary
/// the running sandbox's globals are restored into it (unless `_PRESERVATION_VERSION`
/// changed) and it gets the next call on trial: its injections are held back, and if the
/// call raises an error they are discarded, the new version is rejected and the old one
/// takes that same message. Otherwise the new one stays, from the same cursor: nothing is
/// lost or counted twice. ``remove()`` stops the filter at a boundary, saving its state.
final class SandboxFilterRunner: @unchecked Sendable {  // runs on its one worker; other threads use only the atomics and the pending Mutex
    let name: String
    var sandbox: Sandbox
    var settings: FilterSettings
    /// Its matcher now (a reload may change it).
    var matcher: ReaderMatch?
    var attempts = 0
    /// Set while a terminated sandbox waits for its restart.
    var restartAt: Date?
    let reader: RouterReader
    let router: Router
    let counters: PluginCounters
    let log: PipelineLog
    let maxProcessInject: Int
    let maxTimerInject: Int
    /// Reload events (the pipeline logs them, keeps the status and emits the message).
    let report: (ReloadEvent) -> Void
    let stopping = Atomic<Bool>(false)
    private let removal = Atomic<Bool>(false)
    let pending = Mutex<FilterReplacement?>(nil)
    /// A new version waiting for its first call.
    var trial: FilterReplacement?
    /// What the trial injected during its first call, appended once it is accepted.
    var held: [MessageView]?
    var currentLoops = 0
    var injectedThisCall = 0
    private var inTimer = false
    var trialNote = ""
    var probation: Probation?
    /// What the `replaced` event says once the probation passed.
    var probationNote = ""
    /// Where its snapshots go at each checkpoint's cut (nil: no checkpoints).
    let checkpointer: Checkpointer?
    /// The newest cut seen, and the one it still has to save its state at.
    var cutSeen: UInt64 = 0
    var pendingCut: Cut?
    /// The sequence number of its newest injection (a checkpoint waits for it).
    var lastInjected: UInt64?

    init(name: String, sandbox: Sandbox, settings: FilterSettings, reader: RouterReader, router: Router, counters: PluginCounters,
         log: PipelineLog, maxProcessInject: Int, maxTimerInject: Int, matcher: ReaderMatch? = nil,
         putBack: Bool = false, checkpointer: Checkpointer? = nil, report: @escaping (ReloadEvent) -> Void = { _ in }) {
        self.name = name
        self.checkpointer = checkpointer
        self.cutSeen = router.cutGeneration.load(ordering: .acquiring)
        self.thread = ThreadOwner(name)
        self.matcher = matcher
        self.probation = putBack ? .firstRun : nil
        self.sandbox = sandbox
        self.settings = settings
        self.reader = reader
        self.router = router
        self.counters = counters
        self.log = log
        self.maxProcessInject = maxProcessInject
        self.maxTimerInject = maxTimerInject
        self.report = report
        attach(sandbox)
    }

    /// Hands a new version to this filter's worker (a newer one replaces one still waiting).
    func replace(with r: FilterReplacement) {
        pending.withLock { $0 = r }
    }

    /// Stops this filter at its next message boundary: last `timer_event`, state saved.
    func remove() {
        removal.store(true, ordering: .relaxed)
    }

    func attach(_ sb: Sandbox) {
        sb.onInject = { [unowned self, unowned sb] in self.inject($0, from: sb) }
        sb.onLog = { [unowned self] _, line in self.log.info(self.name, line) }
    }

    private func inject(_ injection: Injection, from sb: Sandbox) -> InjectVerdict {
        injectedThisCall += 1
        let limit = inTimer ? maxTimerInject : maxProcessInject
        if injectedThisCall > limit {
            return .fatal("exceeded \(inTimer ? "max_timer_inject" : "max_process_inject") (\(limit))")
        }
        guard let view = sb.view(of: injection) else { return .reject("a filter injects messages, not raw payloads") }
        if held != nil {
            held!.append(view)
            return .accept
        }
        switch router.append(view, from: reader, loops: currentLoops + 1) {
        case .appended(let seq):
            counters.add(.injected)
            lastInjected = seq
        case .loopLimit: counters.add(.loopDrops)
        case .closed: return .reject("the pipeline is stopping")
        }
        return .accept
    }

    /// Reports a termination; returns whether the filter will be restarted (its reader
    /// then keeps its place, so messages wait for the new sandbox).
    private func terminated(_ reason: String) -> Bool {
        counters.add(.terminations)
        log.error(name, "terminated: \(reason)")
        var uuids = UUIDSource.random.makeGenerator()
        let m = Message(uuid: uuids.next(), timestamp: Sandbox.now(), type: "heka.sandbox-terminated", logger: "luapiped",
                        severity: 3, payload: reason, hostname: sandbox.hostname,
                        fields: [Field(name: "plugin", value: .string([name]))])
        // Never back to itself: a filter that matches everything would kill itself on
        // its own obituary, for ever.
        _ = router.append(MessageView(m), from: reader, loops: max(currentLoops, 0) + 1)
        let delay = settings.retries.delay(afterAttempt: attempts)
        report(ReloadEvent(plugin: name, action: .terminated, detail: reason, restarting: delay != nil))
        if let delay {
            attempts += 1
            restartAt = Date().addingTimeInterval(delay)
            reader.setSuspended(true)  // while it waits, it holds nobody back
            log.info(name, "restarting in \(fixed(delay, 3)) s (attempt \(attempts))")
            return true
        }
        router.removeReader(reader)
        return false
    }

    /// A fresh sandbox from the script, with the terminated one's globals when
    /// `preserve_data` is set and they can be saved and loaded again.
    private func restart() -> Bool {
        restartAt = nil
        reader.setSuspended(false)
        guard let fresh = settings.rebuild() else {
            log.error(name, "the script no longer loads; giving up")
            router.removeReader(reader)
            return false
        }
        if settings.preservePath != nil {
            do {
                try fresh.restore(try sandbox.preserve())
            } catch {
                log.error(name, "restarting without its state: \(error)")
            }
        }
        sandbox = fresh
        attach(fresh)
        counters.add(.restarts)
        report(ReloadEvent(plugin: name, action: .restarted, detail: "restarted after a termination (attempt \(attempts))"))
        return true
    }

    private func timer(shutdown: Bool) -> Bool {
        if let t = trial, !shutdown {
            injectedThisCall = 0
            currentLoops = 0
            inTimer = true
            defer { inTimer = false }
            let accepted = onTrial(t) { sb in
                guard sb.hasTimerEvent else { return nil }
                do throws(SandboxError) {
                    _ = try sb.timerEvent(ns: Sandbox.now(), shutdown: false)
                    return nil
                } catch {
                    return "timer_event: \(error.message)"
                }
            }
            if accepted { return true }
        }
        guard sandbox.hasTimerEvent else { return true }
        inTimer = true
        injectedThisCall = 0
        currentLoops = 0
        defer { inTimer = false }
        let callStarted = Router.monotonicNanosPrecise()
        defer { counters.timerDurations.record(nanos: Int64(Router.monotonicNanosPrecise() &- callStarted)) }
        do {
            try sandbox.timerEvent(ns: Sandbox.now(), shutdown: shutdown)
            if case .fallback? = probation { probation = nil }  // its first call went well
            return true
        } catch {
            if case .fallback(let old)? = probation, !shutdown {
                probation = nil
                counters.add(.rejectedVersions)
                restoreVersion(old)
                report(ReloadEvent(plugin: name, action: .rejected, detail: "\(probationNote): the new version failed its first call (timer_event: \(error.message)); the previous version is back"))
                return true
            }
            if !terminated(error.message) || shutdown { done = true }
            return false
        }
    }

    var nextTick: Date?
    private let finished = Atomic<Bool>(false)
    /// The worker that runs it (set by the pool under its lock; the watchdog moves it).
    var owner = 0
    /// The thread its Lua states belong to: claimed by its worker's first step, checked on
    /// every step, handed over when the watchdog moves it.
    let thread: ThreadOwner
    /// Terminated and waiting for its restart (read on its worker).
    var waitingForRestart: Bool { restartAt != nil }

    /// Whether this filter is finished (terminated for good, or stopped); readable from any thread.
    var done: Bool {
        get { finished.load(ordering: .acquiring) }
        set {
            finished.store(newValue, ordering: .releasing)
            if newValue { finishedFlag.set() }
        }
    }
    private let finishedFlag = DoneFlag()

    /// Waits until this filter is finished, or `deadline` passed; returns whether it is.
    @discardableResult
    func waitDone(until deadline: Date) -> Bool { finishedFlag.wait(until: deadline) }

    /// One round on a worker: a batch of messages (without waiting), the timer when due,
    /// the clean stop once asked and drained. Returns whether it did any work.
    func step() -> Bool {
        do throws(WrongThread) {
            try thread.check()
        } catch {
            // A programming error: refused before any Lua runs.
            log.error(name, "\(error)")
            return false
        }
        if removal.load(ordering: .relaxed) {
            guard !removed else { return false }
            removed = true
            trial = nil
            if !done { finish(removed: true) }
            done = true
            report(ReloadEvent(plugin: name, action: .removed, detail: "stopped; state saved"))
            return true
        }
        guard !done else { return false }
        adoptPending()
        if let at = restartAt {
            if Date() < at && !stopping.load(ordering: .relaxed) {
                counters.recordLag(of: reader)  // what is dropped for it meanwhile shows
                return false
            }
            if !restart() {
                done = true
                return true
            }
        }
        if stopping.load(ordering: .relaxed) { trial = nil }
        if nextTick == nil { nextTick = Date().addingTimeInterval(settings.tickerInterval) }
        guard let batch = reader.next(maxCount: trial == nil ? 64 : 1, timeout: 0) else {
            finish()
            done = true
            return true
        }
        // After the batch was taken: a cut taken since is above every message in it; one
        // taken before falls inside it or before it.
        if checkpointer != nil, settings.preservePath != nil, let cut = router.cut(newerThan: cutSeen) {
            cutSeen = cut.generation
            pendingCut = cut
        }
        let started = Router.monotonicNanosPrecise()
        var callStarted = started  // where the last call ended: one clock read per message
        var processed: Int64 = 0  // added once per batch: one atomic add, not one per message
        defer {
            if !batch.isEmpty {
                counters.add(.processed, processed)
                counters.add(.processNanos, Int64(Router.monotonicNanosPrecise() &- started))
                let u = sandbox.usage
                counters.set(.memoryCurrent, Int64(u.memoryCurrent))
                counters.set(.memoryPeak, Int64(u.memoryPeak))
                counters.set(.instructionsPeak, Int64(u.instructionsPeak))
                counters.set(.outputPeak, Int64(u.outputPeak))
                counters.recordLag(of: reader)
            }
        }
        // The running version, held once for the batch; only a trial or a probation below
        // changes it. Messages are read in place (batch[i]): the batch holds them, so
        // neither they nor the sandbox are retained per message.
        var running = sandbox
        for i in batch.indices {
            let seq = batch[i].seq
            if let cut = pendingCut, seq >= cut.seq { saveAtCut(cut); callStarted = Router.monotonicNanosPrecise() }
            currentLoops = batch[i].loops
            injectedThisCall = 0
            processed += 1
            if let t = trial {
                let m = batch[i]
                var status = 0
                var message: String?
                let accepted = onTrial(t) { sb in
                    switch sb.processMessage(m.view) {
                    case .terminated(let e): return "process_message: \(e.message)"
                    case .ok(let s, let msg):
                        status = s
                        message = msg
                        return nil
                    }
                }
                running = sandbox  // the new version when accepted
                callStarted = Router.monotonicNanosPrecise()
                if accepted {
                    if status < 0 {
                        counters.add(.failures)
                        log.debug(name, "process_message() failed with status \(status)" + (message.map { ": " + $0 } ?? ""))
                    }
                    continue
                }
                injectedThisCall = 0
            }
            if let p = probation {
                guard let handled = onProbation(p, batch[i]) else { return true }
                running = sandbox
                callStarted = Router.monotonicNanosPrecise()
                if handled { continue }
                injectedThisCall = 0
            }
            let outcome = Unmanaged.passUnretained(batch[i].view)._withUnsafeGuaranteedRef { running.processMessage(borrowing: $0) }
            let callEnded = Router.monotonicNanosPrecise()
            counters.processDurations.record(nanos: Int64(callEnded &- callStarted))
            callStarted = callEnded
            switch outcome {
            case .terminated(let e):
                // The message that killed it is skipped (counted), never fed again.
                counters.add(.skipped)
                reader.acknowledge(through: seq)
                reader.rewind(after: seq)  // the rest of the batch waits for the new sandbox
                if !terminated(e.message) { done = true }
                return true
            case .ok(let status, let message):
                if status < 0 {
                    counters.add(.failures)
                    log.debug(name, "process_message() failed with status \(status)" + (message.map { ": " + $0 } ?? ""))
                    callStarted = Router.monotonicNanosPrecise()  // the report is not the next call's time
                }
            }
        }
        if let cut = pendingCut, reader.readPosition >= cut.seq { saveAtCut(cut) }
        // One acknowledgement per batch: the lock and the log trim are not per message.
        if let last = batch.last { reader.acknowledge(through: last.seq) } else { reader.acknowledgeAll() }
        var worked = !batch.isEmpty
        if settings.tickerInterval > 0, let due = nextTick, Date() >= due {
            worked = true
            if !timer(shutdown: false) { return true }
            nextTick = Date().addingTimeInterval(settings.tickerInterval)
        }
        if batch.isEmpty && stopping.load(ordering: .relaxed) {
            finish()
            done = true
            return true
        }
        return worked
    }
    private var removed = false

    /// Its snapshot at a checkpoint's cut: everything below it read, nothing above. The
    /// bytes are written off this worker.
    private func saveAtCut(_ cut: Cut) {
        pendingCut = nil
        let state: Result<[UInt8], SandboxError>
        do throws(SandboxError) {
            state = .success(try sandbox.preserve())
        } catch {
            state = .failure(error)
        }
        checkpointer?.submit(cut, filter: name, runner: ObjectIdentifier(self), state: state,
                             injectedBelow: lastInjected.map { $0 + 1 } ?? 0)
    }

    /// Seconds until this filter's next timer_event (nil: none due).
    var secondsToTick: Double? {
        if let at = restartAt { return max(0, at.timeIntervalSinceNow) }
        guard settings.tickerInterval > 0, let due = nextTick else { return nil }
        return max(0, due.timeIntervalSinceNow)
    }

    /// The clean stop: last timer_event, then the globals saved when `preserve_data` is set
    /// (always when the plugin is removed at run time, so putting it back restores them).
    private func finish(removed: Bool = false) {
        let path = settings.preservePath ?? (removed ? settings.statePath : nil)
        // Even when the last timer_event fails (reported as a termination), the reader
        // leaves (nobody waits for it) and the state as it stands is saved.
        _ = timer(shutdown: true)
        router.removeReader(reader)
        guard let path else { return }
        do {
            let state = try sandbox.preserve()
            if !removed, settings.preservePath != nil { checkpointer?.submitFinal(filter: name, state: state) }
            try CheckpointWriter.write(state, to: path)
        } catch {
            log.error(name, "preserve_data: \(error)")
        }
    }
}

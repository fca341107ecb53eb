#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Synchronization

/// The pool of threads that run sandboxed filters (DESIGN §3): each filter is pinned to
/// one worker, so its Lua state is only ever used by that thread; a worker serves its
/// filters in turn, a batch each, and sleeps on the router when none has work. Never the
/// cooperative async pool: a script may run a million instructions at a time.
///
/// Filters added while running (hot reload) go to the worker with the fewest; finished
/// ones leave their worker's list. A worker ends once the pool is closed and its filters
/// are done.
///
/// The watchdog: a call running longer than `max_process_duration` (a script stuck in
/// one C call, where the instruction hook never runs) leaves its worker to that filter
/// alone: the worker's other filters move, between two of their calls, to a new worker
/// thread, and the stuck filter's reader stops holding anybody back. When the call
/// returns, the sandbox reports the deadline it broke and the filter is terminated and
/// restarted per its `[retries]`.
final class SandboxWorkerPool: @unchecked Sendable {  // worker lists and call marks are behind `state`; a filter is stepped only by the worker its `owner` names, checked under `state`
    let router: Router
    /// How long one call may run before its neighbours move away (0: never).
    let maxCallDuration: Double
    private let log: PipelineLog?

    private struct Worker {
        var runners: [SandboxFilterRunner] = []
        /// The filter in a call now, and since when (monotonic ns).
        var current: SandboxFilterRunner?
        var since: UInt64 = 0
        /// Left to a stuck filter: it takes no new filters.
        var stuck = false
        var ended = false
    }
    private let state: Mutex<[Worker]>
    private let closing = Atomic<Bool>(false)
    /// Where workers without filters sleep (not on the router: messages are not for them),
    /// and where the watchdog waits between its looks.
    private let idle = Condition()
    /// Starts a worker thread (the pipeline's, so that its stop sees it).
    var spawnWorker: (@Sendable (Int) -> Void)?

    init(count: Int, router: Router, maxCallDuration: Double = 0, log: PipelineLog? = nil) {
        self.router = router
        self.maxCallDuration = maxCallDuration
        self.log = log
        state = Mutex(Array(repeating: Worker(), count: max(1, count)))
    }

    /// Workers at start.
    var count: Int { state.withLock { $0.count } }

    /// Pins a filter to the worker with the fewest filters (never a stuck one).
    func add(_ runner: SandboxFilterRunner) {
        idle.lock()
        state.withLock { w in
            let i = w.indices.filter { !w[$0].stuck && !w[$0].ended }.min { w[$0].runners.count < w[$1].runners.count } ?? 0
            runner.owner = i
            w[i].runners.append(runner)
        }
        idle.broadcast()
        idle.unlock()
        router.wakeIdle()
    }

    /// Workers end once their filters are done (after ``SandboxFilterRunner/stopping``).
    func close() {
        idle.lock()
        closing.store(true, ordering: .relaxed)
        idle.broadcast()
        idle.unlock()
        router.wakeIdle()
    }

    /// Filters still in a call (stuck ones, at a bounded stop).
    var inCall: [String] { state.withLock { $0.compactMap { $0.ended ? nil : $0.current?.name } } }

    /// Worker `i`'s loop.
    func run(worker i: Int) {
        defer {
            idle.lock()
            state.withLock { $0[i].ended = true }
            idle.broadcast()
            idle.unlock()
        }
        while true {
            let runners = state.withLock { $0[i].runners }
            if closing.load(ordering: .relaxed) && runners.allSatisfy(\.done) { return }
            if runners.isEmpty {
                idle.lock()
                if state.withLock({ $0[i].runners.isEmpty }) && !closing.load(ordering: .relaxed) {
                    _ = idle.wait(until: Date(timeIntervalSinceNow: 1))
                }
                idle.unlock()
                continue
            }
            var worked = false
            for r in runners {
                // Owned and marked in one step: the watchdog moves only filters not in a call.
                let mine = state.withLock { w -> Bool in
                    guard r.owner == i else { return false }
                    w[i].current = r
                    w[i].since = Router.monotonicNanosPrecise()
                    return true
                }
                guard mine else { continue }
                if r.step() { worked = true }
                let wasStuck = state.withLock { w -> Bool in
                    w[i].current = nil
                    w[i].since = 0
                    return w[i].stuck
                }
                // A call the watchdog gave up on returned without a termination: it runs on.
                if wasStuck && !r.waitingForRestart && !r.done { r.reader.setSuspended(false) }
            }
            state.withLock { w in w[i].runners.removeAll { $0.done || $0.owner != i } }
            if !worked {
                let tick = runners.compactMap(\.secondsToTick).min() ?? 0.1
                router.waitForActivity(timeout: min(tick, 0.1))
            }
        }
    }

    /// The watchdog's loop: looks a few times per `maxCallDuration` until the pool closes.
    func watch() {
        guard maxCallDuration > 0 else { return }
        let every = max(0.01, maxCallDuration / 4)
        while !closing.load(ordering: .relaxed) {
            idle.lock()
            if !closing.load(ordering: .relaxed) { _ = idle.wait(until: Date(timeIntervalSinceNow: every)) }
            idle.unlock()
            checkCalls()
        }
    }

    /// Moves the neighbours of every filter in a call past `maxCallDuration` to a new worker.
    func checkCalls() {
        let limit = UInt64(maxCallDuration * 1e9)
        var moves: [(stuck: SandboxFilterRunner, from: Int, to: Int, moved: [String])] = []
        state.withLock { w in
            // Read under the lock: a call marked after an earlier reading would look like
            // one that started in the future, and wrap around into "stuck for ever".
            let now = Router.monotonicNanosPrecise()
            for i in w.indices where !w[i].stuck && !w[i].ended {
                guard let current = w[i].current, w[i].since > 0, now > w[i].since, now - w[i].since > limit else { continue }
                w[i].stuck = true
                let others = w[i].runners.filter { $0 !== current && !$0.done }
                w[i].runners = [current]
                let j = w.count
                for r in others {
                    r.owner = j
                    r.thread.handOver()  // not in a call: its worker is in the stuck one's
                }
                w.append(Worker(runners: others))
                moves.append((current, i, j, others.map(\.name)))
            }
        }
        for m in moves {
            m.stuck.reader.setSuspended(true)
            log?.error(m.stuck.name, "stuck in one call for over \(maxCallDuration) s (max_process_duration) on sandbox-worker-\(m.from)"
                       + (m.moved.isEmpty ? "" : "; \(m.moved.joined(separator: ", ")) moved to sandbox-worker-\(m.to)")
                       + "; it is terminated when the call returns")
            spawnWorker?(m.to)
        }
    }

    /// Waits until every worker ended, or `deadline` passed; returns the filters still in a
    /// call then.
    func waitForWorkers(until deadline: Date) -> [String] {
        idle.lock()
        defer { idle.unlock() }
        while !state.withLock({ $0.allSatisfy(\.ended) }) {
            if !idle.wait(until: deadline) { return inCall }
        }
        return []
    }
}

extension Router {
    /// Sleeps until a message is appended (woken like an idle reader) or `timeout` passes.
    func waitForActivity(timeout: Double) {
        condition.lock()
        waitingReaders += 1
        if let limit = waitLimitLocked(Date(timeIntervalSinceNow: timeout)) { _ = condition.wait(until: limit) }
        waitingReaders -= 1
        condition.unlock()
    }

    /// Wakes every idle reader and worker (a filter was added, the pool closes).
    func wakeIdle() {
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }

    /// The sequence number the next appended message gets.
    var headSeq: UInt64 {
        condition.lock()
        defer { condition.unlock() }
        return nextSeq
    }
}

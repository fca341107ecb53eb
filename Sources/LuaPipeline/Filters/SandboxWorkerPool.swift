#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// The fixed pool of threads that run sandboxed filters (DESIGN §3): each filter is
/// pinned to one worker for its life, so its Lua state is only ever used by that
/// thread; a worker serves its filters in turn, a batch each, and sleeps on the router
/// when none has work. Never the cooperative async pool: a script may run a million
/// instructions at a time.
///
/// Filters added while running (hot reload) go to the worker with the fewest; finished
/// ones leave their worker's list. A worker ends once the pool is closed and its filters
/// are done.
///
/// Not yet: the watchdog that moves a stuck plugin's neighbours to another worker.
final class SandboxWorkerPool: @unchecked Sendable {  // worker lists are guarded by its condition; each filter runs on one worker
    let router: Router
    let count: Int
    private let lists: Mutex<[[SandboxFilterRunner]]>
    private let closing = Atomic<Bool>(false)
    /// Where workers without filters sleep (not on the router: messages are not for them).
    private let idle = NSCondition()

    init(count: Int, router: Router) {
        self.router = router
        self.count = max(1, count)
        lists = Mutex(Array(repeating: [], count: max(1, count)))
    }

    /// Pins a filter to the worker with the fewest filters.
    func add(_ runner: SandboxFilterRunner) {
        idle.lock()
        lists.withLock { l in
            let i = l.indices.min { l[$0].count < l[$1].count }!
            l[i].append(runner)
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

    /// Worker `i`'s loop.
    func run(worker i: Int) {
        while true {
            let runners = lists.withLock { $0[i] }
            if closing.load(ordering: .relaxed) && runners.allSatisfy(\.done) { return }
            if runners.isEmpty {
                idle.lock()
                if lists.withLock({ $0[i].isEmpty }) && !closing.load(ordering: .relaxed) {
                    _ = idle.wait(until: Date(timeIntervalSinceNow: 1))
                }
                idle.unlock()
                continue
            }
            var worked = false
            for r in runners where r.step() { worked = true }
            if runners.contains(where: \.done) {
                lists.withLock { l in l[i].removeAll { $0.done } }
            }
            if !worked {
                let tick = runners.compactMap(\.secondsToTick).min() ?? 0.1
                router.waitForActivity(timeout: min(tick, 0.1))
            }
        }
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

import Foundation

/// The fixed pool of threads that run sandboxed filters (DESIGN §3): each filter is
/// pinned to one worker for its life, so its Lua state is only ever used by that
/// thread; a worker serves its filters in turn, a batch each, and sleeps on the router
/// when none has work. Never the cooperative async pool: a script may run a million
/// instructions at a time.
///
/// Not yet: the watchdog that moves a stuck plugin's neighbours to another worker.
final class SandboxWorkerPool: @unchecked Sendable {
    let router: Router
    private(set) var workers: [[SandboxFilterRunner]]

    /// Spreads `runners` over `count` workers (at most one per runner).
    init(runners: [SandboxFilterRunner], count: Int, router: Router) {
        self.router = router
        let n = max(1, min(count, runners.count))
        var w = Array(repeating: [SandboxFilterRunner](), count: runners.isEmpty ? 0 : n)
        for (i, r) in runners.enumerated() { w[i % n].append(r) }
        workers = w
    }

    /// A worker's loop: until every one of its filters is done.
    static func run(_ runners: [SandboxFilterRunner], router: Router) {
        while runners.contains(where: { !$0.done }) {
            var worked = false
            for r in runners where r.step() { worked = true }
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
}

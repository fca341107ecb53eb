import Foundation

/// A task executor with one thread of its own. Swift Testing runs synchronous tests on the
/// cooperative pool, which has one thread per core (two here); a test that waits by
/// blocking holds one. Tasks that prefer this executor (and their child tasks) go on
/// running while other suites' tests hold every pool thread.
final class ThreadTaskExecutor: TaskExecutor, @unchecked Sendable {  // `jobs` and `stopping` are guarded by `condition`
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopping = false

    init(name: String) {
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Ends the thread once the jobs queued so far have run.
    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}

import FoundationEssentials
import Glibc

/// One thread that runs an input's decoding for all its connections, so that its decoder's
/// sandbox has one owner (``PinnedSandbox``) instead of moving between client threads under
/// a lock. A connection thread hands over a batch of records and waits for it to be
/// decoded: the sender still feels backpressure, and acknowledgements are sent only for
/// what is in the log.
final class DecodeThread: @unchecked Sendable {  // jobs and stop flag are guarded by `condition`
    private let condition = Condition()
    private var jobs: [() -> Void] = []
    private var stopped = false
    private var started = false
    private let name: String

    /// The thread starts with the first job.
    init(name: String) { self.name = name }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopped { condition.wait() }
            if jobs.isEmpty && stopped {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }

    /// Runs `body` on the decode thread and returns its result.
    func run<T>(_ body: @escaping () -> T) -> T {
        let done = Condition()
        var result: T?
        condition.lock()
        if !started {
            // Named from inside: on Linux a name set before start() does not reach the thread.
            started = true
            Threads.start { [self] in
                ThreadName.set(name)
                loop()
            }
        }
        jobs.append {
            let r = body()
            done.lock()
            result = r
            done.signal()
            done.unlock()
        }
        condition.signal()
        condition.unlock()
        done.lock()
        while result == nil { done.wait() }
        done.unlock()
        return result!  // set before the signal that ended the wait
    }

    /// Ends the thread once the jobs handed over are done.
    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Testing

/// Waits (bounded) until a process the test started exits on its own and returns its
/// status. If it is still running after `timeout`, records an issue, kills it (SIGKILL) and
/// reaps it: no test leaves a process behind.
@discardableResult
func waitForExit(_ p: Process, _ what: String = "the process exited", timeout: Duration = defaultWaitTimeout,
                 sourceLocation: SourceLocation = #_sourceLocation) -> Int32 {
    if !eventually(what, timeout: timeout, sourceLocation: sourceLocation, { !p.isRunning }) {
        kill(p.processIdentifier, SIGKILL)
    }
    p.waitUntilExit()  // it has exited or was just killed: returns at once, and reaps it
    return p.terminationStatus
}

/// Stops a process the test started: SIGTERM (graceful), then as `waitForExit`.
@discardableResult
func terminateAndWait(_ p: Process, timeout: Duration = .seconds(30),
                      sourceLocation: SourceLocation = #_sourceLocation) -> Int32 {
    if p.isRunning { p.terminate() }
    return waitForExit(p, "it exited after SIGTERM", timeout: timeout, sourceLocation: sourceLocation)
}

/// Everything a process writes into `pipe`, read on another thread so that reading never
/// blocks the test (`finish` waits, bounded, for the writer to close its end).
final class PipeCollector: @unchecked Sendable {
    private let data = Mutex(Data())
    private var reader: Thread?

    init(_ pipe: Pipe) {
        let handle = pipe.fileHandleForReading
        let thread = Thread {
            while true {
                let d = handle.availableData
                if d.isEmpty { break }
                self.data.withLock { $0.append(d) }
            }
        }
        reader = thread
        thread.start()
    }

    /// What was read so far.
    var text: String { String(decoding: data.withLock { $0 }, as: UTF8.self) }

    /// Waits (bounded) until `text` contains `part`.
    @discardableResult
    func wait(for part: String, sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        eventually("the output contains \"\(part)\"", detail: { "output so far:\n\(text)" }, sourceLocation: sourceLocation) {
            text.contains(part)
        }
    }

    /// Waits (bounded) until the writer closed its end, then returns everything.
    func finish(sourceLocation: SourceLocation = #_sourceLocation) -> String {
        eventually("the process closed its output", sourceLocation: sourceLocation) { reader?.isFinished ?? true }
        return text
    }
}

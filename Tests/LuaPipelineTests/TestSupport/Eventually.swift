import Foundation
import Testing

/// How long `eventually` waits by default. Generous: a failing test ends after it, a
/// passing one never waits for it (waits end as soon as their condition holds).
let defaultWaitTimeout: Duration = .seconds(60)

/// Waits until `condition` holds, calling it again every `interval` (and `step` before each
/// new try, e.g. to send another message). If `timeout` passes first, records an issue at
/// the caller's line naming `what` (and `detail()`, e.g. a log tail) and returns false.
///
/// The only place the tests sleep to wait for something: the sleep paces the polls of a
/// condition, it is never the thing waited for.
@discardableResult
func eventually(_ what: String, timeout: Duration = defaultWaitTimeout, interval: Duration = .milliseconds(10),
                step: () -> Void = {}, detail: () -> String = { "" },
                sourceLocation: SourceLocation = #_sourceLocation, _ condition: () throws -> Bool) rethrows -> Bool {
    try eventually(what, timeout: timeout, interval: interval, step: step, detail: detail, sourceLocation: sourceLocation) {
        try condition() ? () : nil
    } != nil
}

/// Waits until `produce` returns a value and returns it, calling it again every `interval`
/// (and `step` before each new try). If `timeout` passes first, records an issue at the
/// caller's line naming `what` (and `detail()`) and returns nil.
func eventually<T>(_ what: String, timeout: Duration = defaultWaitTimeout, interval: Duration = .milliseconds(10),
                   step: () -> Void = {}, detail: () -> String = { "" },
                   sourceLocation: SourceLocation = #_sourceLocation, _ produce: () throws -> T?) rethrows -> T? {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while true {
        if let value = try produce() { return value }
        if clock.now >= deadline {
            let more = detail()
            Issue.record("timed out after \(timeout) waiting until \(what)\(more.isEmpty ? "" : "\n" + more)",
                         sourceLocation: sourceLocation)
            return nil
        }
        step()
        // Pacing between polls of the condition, not a guess at how long anything takes.
        Thread.sleep(forTimeInterval: Double(interval.components.seconds) + Double(interval.components.attoseconds) * 1e-18)
    }
}

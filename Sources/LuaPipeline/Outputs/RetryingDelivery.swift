import FoundationEssentials
import Glibc

/// What one attempt to hand a message to a remote endpoint came to.
enum DeliveryOutcome {
    case delivered
    /// Refused for good (an HTTP 4xx, an SMTP 5xx): skipped, so it cannot block the rest.
    case rejected(String)
    /// Worth trying again (endpoint down, 5xx, timeout).
    case retry(String)
}

/// Repeats `attempt` with backoff (0.1 s doubling to 30 s) until it delivers or is
/// rejected, counting `sent`, `rejected` and `retries` and logging why. Returns true when
/// delivered, false when rejected, nil when `stopping` said to give up first (the message
/// then stays unacknowledged, for a successor or the next run).
func deliverRetrying(_ name: String, counters: PluginCounters, log: PipelineLog, stopping: () -> Bool,
                     _ attempt: () -> DeliveryOutcome) -> Bool? {
    var delay = 0.1
    while true {
        switch attempt() {
        case .delivered:
            counters.add(.sent)
            return true
        case .rejected(let why):
            counters.add(.rejected)
            log.error(name, "\(why); skipped")
            return false
        case .retry(let why):
            counters.add(.retries)
            log.error(name, "\(why); retrying in \(delay) s")
            guard backOff(&delay, stopping: stopping) else { return nil }
        }
    }
}

/// Waits `delay` seconds, then doubles it (up to 30 s); false as soon as `stopping` says
/// so (the wait is cut short).
func backOff(_ delay: inout Double, stopping: () -> Bool) -> Bool {
    guard sleepUnlessStopping(delay, stopping: stopping) else { return false }
    delay = min(delay * 2, 30)
    return true
}

/// Sleeps `seconds` in steps of at most 50 ms, calling `each` before every step; false as
/// soon as `stopping` says so.
@discardableResult
func sleepUnlessStopping(_ seconds: Double, stopping: () -> Bool, each: () -> Void = {}) -> Bool {
    let until = Date().addingTimeInterval(seconds)
    while Date() < until {
        if stopping() { return false }
        each()
        Threads.sleep(min(0.05, max(0, until.timeIntervalSinceNow)))
    }
    return true
}

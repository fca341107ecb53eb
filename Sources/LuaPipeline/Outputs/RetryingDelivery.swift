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
            let until = Date().addingTimeInterval(delay)
            while Date() < until {
                if stopping() { return nil }
                Threads.sleep(min(0.05, max(0, until.timeIntervalSinceNow)))
            }
            delay = min(delay * 2, 30)
        }
    }
}

/// Heka's `[NAME.retries]`: how a terminated plugin is restarted. The delay doubles after
/// every attempt up to `maxDelay`, plus up to `maxJitter` at random; `maxRetries` -1 means
/// without end, 0 never.
public struct RetryPolicy: Sendable, Equatable {
    public var delay: Double
    public var maxDelay: Double
    public var maxJitter: Double
    public var maxRetries: Int

    public static let never = RetryPolicy(delay: 0, maxDelay: 0, maxJitter: 0, maxRetries: 0)
    /// The default for filters.
    public static let filterDefault = RetryPolicy(delay: 0.25, maxDelay: 30, maxJitter: 0.5, maxRetries: -1)

    public init(delay: Double, maxDelay: Double, maxJitter: Double, maxRetries: Int) {
        self.delay = delay
        self.maxDelay = maxDelay
        self.maxJitter = maxJitter
        self.maxRetries = maxRetries
    }

    /// Seconds to wait before attempt `n` (0-based), or nil when no attempt is left.
    public func delay(afterAttempt n: Int) -> Double? {
        if maxRetries >= 0 && n >= maxRetries { return nil }
        var d = delay
        for _ in 0..<min(n, 32) { d = min(d * 2, maxDelay) }
        return min(d, maxDelay) + (maxJitter > 0 ? Double.random(in: 0...maxJitter) : 0)
    }
}

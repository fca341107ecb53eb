import Synchronization

/// Call durations in fixed log-scale buckets (1-2.5-5 steps from 1 µs to 10 s):
/// `process_message` and `timer_event` of each filter, shown by `/metrics` as Prometheus
/// histograms. One writer at a time (the thread running the filter's calls), any number
/// of readers: a record is a relaxed load and store, no read-modify-write.
public final class DurationHistogram: Sendable {
    /// Upper bounds in nanoseconds; a last bucket takes the rest (+Inf).
    public static let bounds: [Int64] = {
        var b: [Int64] = []
        var decade: Int64 = 1_000
        while decade <= 1_000_000_000 {
            b += [decade, decade * 5 / 2, decade * 5]
            decade *= 10
        }
        return b + [10_000_000_000]
    }()

    private final class Slot: Sendable { let value = Atomic<Int64>(0) }
    private let buckets = DurationHistogram.bounds.map { _ in Slot() } + [Slot()]
    private let sum = Atomic<Int64>(0)

    public init() {}

    @inline(__always)
    public func record(nanos: Int64) {
        var i = 0
        while i < Self.bounds.count && nanos > Self.bounds[i] { i += 1 }
        let slot = buckets[i]
        slot.value.store(slot.value.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        sum.store(sum.load(ordering: .relaxed) &+ nanos, ordering: .relaxed)
    }

    /// Cumulative counts per bound (the last is every call), and the sum in nanoseconds.
    public var snapshot: (cumulative: [Int64], sumNanos: Int64) {
        var total: Int64 = 0
        let c = buckets.map { b -> Int64 in
            total += b.value.load(ordering: .relaxed)
            return total
        }
        return (c, sum.load(ordering: .relaxed))
    }
}

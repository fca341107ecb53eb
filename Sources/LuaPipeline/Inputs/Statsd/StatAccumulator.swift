import FoundationEssentials
import Glibc
import Synchronization

/// Heka's StatAccumInput: aggregates StatsD metrics over `ticker_interval` and emits them
/// as one `heka.statmetric` message per interval, the aggregates as carbon lines in the
/// Payload (`stats.counters.NAME.count 42 1795690000`) and/or as fields.
///
/// Per interval: counters give `count` (the sum of value / sample rate) and `rate`
/// (count per second); timers `count`, `count_ps`, `lower`, `upper`, `sum`, `mean`, and
/// for the lowest `percent_threshold` % of the values `mean_P`, `upper_P`, `sum_P`; gauges
/// their value; sets `count`, the number of distinct members. `stats.statsd.numStats` is
/// the number of stats emitted. DogStatsD tags end the name as Graphite tags
/// (`;env=prod`). With `legacy_namespaces`, counters are `stats.NAME` (rate) and
/// `stats_counts.NAME` (count) as in Etsy's StatsD.
///
/// Without `delete_idle_stats`, a counter, timer or set seen before is emitted with 0
/// when idle, and a gauge keeps its value; with it, idle stats are dropped.
/// A flood is bounded: at most `max_stats` distinct stats and `max_timer_samples` values
/// per timer (members per set) and interval; the rest is counted (`stats_dropped`,
/// `samples_dropped`).
final class StatAccumulator: @unchecked Sendable {  // its stats and options are behind Mutexes; `feeding` behind `feeders`
    struct Options: Sendable {
        var tickerInterval: Double = 10
        var percentThreshold: Int = 90
        var emitInPayload = true
        var emitInFields = false
        var deleteIdleStats = false
        var legacyNamespaces = false
        var globalPrefix = "stats"
        var counterPrefix = "counters"
        var timerPrefix = "timers"
        var gaugePrefix = "gauges"
        var setPrefix = "sets"
        var statsdPrefix = "statsd"
        var messageType = "heka.statmetric"
        var maxStats = 100_000
        var maxTimerSamples = 100_000
        var delivery = "drop"
    }

    private struct Key: Hashable {
        let name: String
        let tags: String
    }

    private struct State {
        var counters: [Key: Double] = [:]
        var timers: [Key: (values: [Double], count: Double)] = [:]
        var gauges: [Key: Double] = [:]
        var sets: [Key: Set<String>] = [:]
        var touched: Set<Key> = []
        var distinct = 0
    }

    let name: String
    private let current: Mutex<Options>
    /// The options now (a reload may change them).
    var options: Options {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }
    private let state = Mutex(State())
    /// StatsdInputs feeding it now (the last flush waits for them to finish).
    private let feeders = Condition()
    private var feeding = 0

    func beginFeeding() {
        feeders.lock()
        feeding += 1
        feeders.unlock()
    }

    func endFeeding() {
        feeders.lock()
        feeding -= 1
        feeders.broadcast()
        feeders.unlock()
    }

    /// Waits until no StatsdInput feeds it, or `deadline` passed.
    func waitForFeeders(until deadline: Date) {
        feeders.lock()
        while feeding > 0 && feeders.wait(until: deadline) {}
        feeders.unlock()
    }

    init(name: String, options: Options) {
        self.name = name
        self.current = Mutex(options)
    }

    /// Adds one parsed metric; says whether it was dropped by the `max_stats` bound, or
    /// its value by `max_timer_samples`.
    @discardableResult
    func add(_ m: StatsdLine) -> (stat: Bool, sample: Bool) {
        let options = self.options
        let key = Key(name: m.name, tags: m.tags.isEmpty ? "" : ";" + m.tags.joined(separator: ";"))
        let dropped: (stat: Bool, sample: Bool) = state.withLock { s in
            func admit(_ known: Bool) -> Bool {
                if known { return true }
                if s.distinct >= options.maxStats { return false }
                s.distinct += 1
                return true
            }
            switch m.kind {
            case .counter:
                guard admit(s.counters[key] != nil) else { return (true, false) }
                s.counters[key, default: 0] += m.value / m.sampleRate
            case .gauge:
                guard admit(s.gauges[key] != nil) else { return (true, false) }
                s.gauges[key] = m.isDelta ? (s.gauges[key] ?? 0) + m.value : m.value
            case .timer:
                guard admit(s.timers[key] != nil) else { return (true, false) }
                var t = s.timers[key] ?? ([], 0)
                t.count += 1 / m.sampleRate
                var sampleDropped = false
                if t.values.count < options.maxTimerSamples { t.values.append(m.value) } else { sampleDropped = true }
                s.timers[key] = t
                s.touched.insert(key)
                return (false, sampleDropped)
            case .set:
                guard admit(s.sets[key] != nil) else { return (true, false) }
                // Members count against max_timer_samples too: a flood of distinct members is bounded.
                if s.sets[key, default: []].count >= options.maxTimerSamples {
                    s.touched.insert(key)
                    return (false, !s.sets[key]!.contains(m.member ?? ""))
                }
                s.sets[key, default: []].insert(m.member ?? "")
            }
            s.touched.insert(key)
            return (false, false)
        }
        return dropped
    }

    private static func format(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }

    /// The interval's message (nil when there is nothing to say), and a fresh interval.
    func flush(now: Int64, hostname: String) -> Message? {
        let o = options
        var lines: [(String, Double)] = []
        let seconds = max(o.tickerInterval, 0.001)
        state.withLock { s in
            let g = o.globalPrefix
            for (k, count) in s.counters.sorted(by: { ($0.key.name, $0.key.tags) < ($1.key.name, $1.key.tags) }) {
                if o.deleteIdleStats && !s.touched.contains(k) { continue }
                if o.legacyNamespaces {
                    lines.append(("\(g).\(k.name)\(k.tags)", count / seconds))
                    lines.append(("stats_counts.\(k.name)\(k.tags)", count))
                } else {
                    lines.append(("\(g).\(o.counterPrefix).\(k.name).count\(k.tags)", count))
                    lines.append(("\(g).\(o.counterPrefix).\(k.name).rate\(k.tags)", count / seconds))
                }
            }
            for (k, t) in s.timers.sorted(by: { ($0.key.name, $0.key.tags) < ($1.key.name, $1.key.tags) }) {
                if o.deleteIdleStats && !s.touched.contains(k) { continue }
                let p = "\(g).\(o.timerPrefix).\(k.name)"
                let v = t.values.sorted()
                lines.append(("\(p).count\(k.tags)", t.count))
                lines.append(("\(p).count_ps\(k.tags)", t.count / seconds))
                if !v.isEmpty {
                    let sum = v.reduce(0, +)
                    lines.append(("\(p).lower\(k.tags)", v[0]))
                    lines.append(("\(p).upper\(k.tags)", v[v.count - 1]))
                    lines.append(("\(p).sum\(k.tags)", sum))
                    lines.append(("\(p).mean\(k.tags)", sum / Double(v.count)))
                    let n = Int((Double(o.percentThreshold) / 100 * Double(v.count)).rounded())
                    if n > 0 && o.percentThreshold < 100 {
                        let part = v[0..<n].reduce(0, +)
                        lines.append(("\(p).mean_\(o.percentThreshold)\(k.tags)", part / Double(n)))
                        lines.append(("\(p).upper_\(o.percentThreshold)\(k.tags)", v[n - 1]))
                        lines.append(("\(p).sum_\(o.percentThreshold)\(k.tags)", part))
                    }
                }
            }
            for (k, value) in s.gauges.sorted(by: { ($0.key.name, $0.key.tags) < ($1.key.name, $1.key.tags) }) {
                if o.deleteIdleStats && !s.touched.contains(k) { continue }
                lines.append(("\(g).\(o.gaugePrefix).\(k.name)\(k.tags)", value))
            }
            for (k, members) in s.sets.sorted(by: { ($0.key.name, $0.key.tags) < ($1.key.name, $1.key.tags) }) {
                if o.deleteIdleStats && !s.touched.contains(k) { continue }
                lines.append(("\(g).\(o.setPrefix).\(k.name).count\(k.tags)", Double(members.count)))
            }
            // Next interval: counters, timers and sets start again from zero; gauges keep their value.
            if o.deleteIdleStats {
                s.counters = s.counters.filter { s.touched.contains($0.key) }.mapValues { _ in 0 }
                s.timers = s.timers.filter { s.touched.contains($0.key) }.mapValues { _ in ([], 0) }
                s.sets = s.sets.filter { s.touched.contains($0.key) }.mapValues { _ in [] }
                s.gauges = s.gauges.filter { s.touched.contains($0.key) }
            } else {
                s.counters = s.counters.mapValues { _ in 0 }
                s.timers = s.timers.mapValues { _ in ([], 0) }
                s.sets = s.sets.mapValues { _ in [] }
            }
            s.distinct = s.counters.count + s.timers.count + s.gauges.count + s.sets.count
            s.touched = []
        }
        guard !lines.isEmpty else { return nil }
        let ts = now / 1_000_000_000
        lines.append(("\(o.globalPrefix).\(o.statsdPrefix).numStats", Double(lines.count)))
        var payload: String?
        if o.emitInPayload {
            var text = ""
            for (path, v) in lines { text += "\(path) \(Self.format(v)) \(ts)\n" }
            payload = text
        }
        // Heka's first field: the interval's time in seconds (statmetric_influx.lua reads it).
        let fields = o.emitInFields
            ? [Field(name: "timestamp", value: .integer([ts]))] + lines.map { Field(name: $0.0, value: .double([$0.1])) } : []
        var uuids = UUIDSource.random.makeGenerator()
        return Message(uuid: uuids.next(), timestamp: now, type: o.messageType, logger: name, severity: 6,
                       payload: payload, hostname: hostname, fields: fields)
    }

    /// Flushes the interval now into the router (counted as `emitted`).
    func emit(into router: Router, counters: PluginCounters, hostname: String) {
        if let m = flush(now: Sandbox.now(), hostname: hostname) {
            _ = router.append(MessageView(m), delivery: Delivery(rawValue: options.delivery) ?? .drop)
            counters.add(.emitted)
        }
    }
}

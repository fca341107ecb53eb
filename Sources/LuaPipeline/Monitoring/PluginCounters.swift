import Synchronization

/// A plugin's self-monitoring counters: one atomic slot per declared ``CounterKey``, so the
/// hot path is an array index and a relaxed atomic add (no lock, no string hashing).
public final class PluginCounters: Sendable {
    public let name: String
    /// The plugin's kind: which keys it declares.
    public let category: PluginCategory
    private let slots: [Slot]
    private let allowed: UInt64
    /// Set when the plugin updated a counter its kind does not declare (a test asserts
    /// it stays empty; the update is kept, so nothing is lost in production).
    private let undeclared = Mutex<Set<String>>([])
    /// Filters: the durations of their `process_message` and `timer_event` calls.
    public let processDurations = DurationHistogram()
    public let timerDurations = DurationHistogram()

    /// Boxed so the array holds references: `Atomic` cannot be copied into an array.
    private final class Slot: Sendable {
        let value = Atomic<Int64>(0)
    }

    public init(name: String, category: PluginCategory) {
        self.name = name
        self.category = category
        self.slots = CounterKey.all.map { _ in Slot() }
        self.allowed = CounterKey.declared(for: category).reduce(0) { $0 | (1 << UInt64($1.slot)) }
    }

    @inline(__always)
    private func check(_ key: CounterKey) {
        if allowed & (1 << UInt64(key.slot)) == 0 { undeclared.withLock { _ = $0.insert(key.key) } }
    }

    /// Adds `n` to a counter.
    @inline(__always)
    public func add(_ key: CounterKey, _ n: Int64 = 1) {
        check(key)
        slots[key.slot].value.wrappingAdd(n, ordering: .relaxed)
    }

    /// Sets a gauge.
    @inline(__always)
    public func set(_ key: CounterKey, _ v: Int64) {
        check(key)
        slots[key.slot].value.store(v, ordering: .relaxed)
    }

    public subscript(key: CounterKey) -> Int64 { slots[key.slot].value.load(ordering: .relaxed) }

    /// A counter by its declared name (tests, tools).
    /// - Throws: ``UndeclaredCounter`` for a name no ``CounterKey`` declares.
    public func value(named key: String) throws(UndeclaredCounter) -> Int64 {
        guard let k = CounterKey.named(key) else { throw UndeclaredCounter(key: key) }
        return self[k]
    }

    /// A counter by name; 0 for a name that is not declared (see ``value(named:)``).
    public subscript(key: String) -> Int64 { (try? value(named: key)) ?? 0 }

    /// Keys updated that this plugin's kind does not declare.
    public var undeclaredUpdates: Set<String> { undeclared.withLock { $0 } }

    /// The declared counters of this plugin's kind that are not zero, by key.
    public var snapshot: [String: Int64] {
        var out: [String: Int64] = [:]
        for k in CounterKey.declared(for: category) where self[k] != 0 { out[k.key] = self[k] }
        for k in undeclaredUpdates { if let c = CounterKey.named(k) { out[k] = self[c] } }
        return out
    }
}

/// A counter name that no ``CounterKey`` declares.
public struct UndeclaredCounter: Error, CustomStringConvertible {
    public let key: String
    public var description: String { "no counter named \"\(key)\" is declared (Monitoring/CounterKey.swift)" }
}

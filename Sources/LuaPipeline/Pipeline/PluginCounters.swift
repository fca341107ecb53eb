import Synchronization

/// A plugin's self-monitoring counters, readable from any thread.
public final class PluginCounters: Sendable {
    public let name: String
    private let values = Mutex<[String: Int64]>([:])

    public init(name: String) { self.name = name }

    public func add(_ key: String, _ n: Int64 = 1) {
        values.withLock { $0[key, default: 0] += n }
    }

    public func set(_ key: String, _ v: Int64) {
        values.withLock { $0[key] = v }
    }

    public subscript(key: String) -> Int64 { values.withLock { $0[key] ?? 0 } }

    public var snapshot: [String: Int64] { values.withLock { $0 } }
}

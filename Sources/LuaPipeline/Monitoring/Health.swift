import FoundationEssentials
import Glibc
import Synchronization

/// `/health` and `/metrics` (docs/monitoring.md), derived from the declared counters
/// (``CounterKey``) and the plugins' statuses, under the same names.
extension Pipeline {
    /// Every running plugin's counters, by its name.
    var countersByName: [String: PluginCounters] {
        Dictionary(counters.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// Every configured plugin but splitters, in config order, with its category.
    var monitoredPlugins: [PluginConfig] {
        config.plugins.filter { [.input, .decoder, .filter, .encoder, .output].contains($0.type.category) }
    }

    /// The health document and its HTTP status: 503 while a plugin is terminated or
    /// restarting, or was terminated within `health_window`.
    public func health(now: Date = Date()) -> (status: Int, body: JSONValue) {
        let statuses = status
        let counters = countersByName
        let nowNanos = Int64(now.timeIntervalSince1970 * 1e9)
        let window = Int64(config.global.healthWindow * 1e9)
        var problems: [JSONValue] = []
        var plugins: [(String, JSONValue)] = []
        for p in monitoredPlugins {
            let s = statuses[p.name] ?? PluginStatus()
            let recent = s.terminatedNanos.map { window > 0 && nowNanos - $0 < window } ?? false
            if s.state == .terminated || s.state == .restarting || recent {
                let why = s.lastError ?? "terminated"
                problems.append(.string("\(p.name): \(s.state == .running ? "terminated \(fixed(Double(nowNanos - s.terminatedNanos!) / 1e9, 1)) s ago: " : "")\(why)"))
            }
            var c: [(String, JSONValue)] = []
            if let pc = counters[p.name] {
                for (k, v) in pc.snapshot.sorted(by: { $0.key < $1.key }) { c.append((k, .integer(v))) }
            }
            plugins.append((p.name, .object([
                ("type", .string(p.type.name)), ("category", .string(p.type.category.rawValue)), ("state", .string(s.state.rawValue)),
                ("last_error", s.lastError.map(JSONValue.string) ?? .null), ("last_error_ns", s.lastErrorNanos.map(JSONValue.integer) ?? .null),
                ("counters", .object(c)),
            ])))
        }
        let r = router.currentStats
        let body = JSONValue.object([
            ("status", .string(problems.isEmpty ? "ok" : "unhealthy")),
            ("uptime_s", .double((now.timeIntervalSince(startedAt) * 10).rounded() / 10)),
            ("problems", .array(problems)),
            ("router", .object([("held_messages", .integer(Int64(r.held))), ("held_bytes", .integer(Int64(r.heldBytes))),
                                ("left_memory", .integer(Int64(r.spilled))), ("queue_bytes", .integer(Int64(queueBytes)))])),
            ("stream", .object([("clients", .integer(Int64(dashboard.hub.clientCount))),
                                ("dropped", .integer(Int64(dashboard.hub.dropped.load(ordering: .relaxed))))])),
            ("plugins", .object(plugins)),
        ])
        return (problems.isEmpty ? 200 : 503, body)
    }

    private var queueBytes: UInt64 { router.condition.withLock { router.durable }?.log.size ?? 0 }

    /// The Prometheus text format (0.0.4): `luapiped_<counter>_total{plugin,type}` for
    /// counters, `luapiped_<gauge>{plugin,type}` for gauges, and the global gauges.
    public func prometheusText(now: Date = Date()) -> String {
        let types = Dictionary(monitoredPlugins.map { ($0.name, $0.type.name) }, uniquingKeysWith: { a, _ in a })
        let all = counters
        var out = ""
        func label(_ s: String) -> String {
            var o = ""
            for c in s {
                switch c {
                case "\\": o += "\\\\"
                case "\"": o += "\\\""
                case "\n": o += "\\n"
                default: o.append(c)
                }
            }
            return o
        }
        for key in CounterKey.all {
            let holders = all.filter { CounterKey.declared(for: $0.category).contains(key) }
            guard !holders.isEmpty else { continue }
            let name = "luapiped_" + key.key + (key.kind == .counter ? "_total" : "")
            out += "# HELP \(name) \(key.help) (\(key.unit))\n# TYPE \(name) \(key.kind.rawValue)\n"
            for c in holders {
                out += "\(name){plugin=\"\(label(c.name))\",type=\"\(label(types[c.name] ?? c.category.rawValue))\"} \(c[key])\n"
            }
        }
        for (metric, help, pick) in [("process_message", "process_message call durations", \PluginCounters.processDurations),
                                     ("timer_event", "timer_event call durations", \PluginCounters.timerDurations)] {
            let name = "luapiped_\(metric)_duration_seconds"
            out += "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
            for c in all where c.category == .filter {
                let (cumulative, sum) = c[keyPath: pick].snapshot
                let labels = "plugin=\"\(label(c.name))\",type=\"\(label(types[c.name] ?? c.category.rawValue))\""
                for (bound, n) in zip(DurationHistogram.bounds, cumulative) { out += "\(name)_bucket{\(labels),le=\"\(Double(bound) / 1e9)\"} \(n)\n" }
                out += "\(name)_bucket{\(labels),le=\"+Inf\"} \(cumulative.last!)\n\(name)_sum{\(labels)} \(Double(sum) / 1e9)\n\(name)_count{\(labels)} \(cumulative.last!)\n"
            }
        }
        let r = router.currentStats
        let globals: [(String, String, Double)] = [
            ("luapiped_uptime_seconds", "seconds since the daemon started", now.timeIntervalSince(startedAt)),
            ("luapiped_router_held_messages", "messages in the router not yet acknowledged by every reader", Double(r.held)),
            ("luapiped_router_held_bytes", "bytes of those messages", Double(r.heldBytes)),
            ("luapiped_queue_bytes", "bytes in the durable queue of disk-class messages", Double(queueBytes)),
            ("luapiped_stream_clients", "clients following /api/stream", Double(dashboard.hub.clientCount)),
            ("luapiped_stream_dropped_events_total", "events lost by /api/stream clients that did not keep up", Double(dashboard.hub.dropped.load(ordering: .relaxed))),
        ]
        for (name, help, v) in globals {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(name.hasSuffix("_total") ? "counter" : "gauge")\n\(name) \(v == v.rounded() ? String(Int64(v)) : String(v))\n"
        }
        return out
    }
}

extension JSONValue {
    /// The JSON text.
    public var text: String {
        var o: [UInt8] = []
        append(to: &o)
        return String(decoding: o, as: UTF8.self)
    }

    private func append(to o: inout [UInt8]) {
        switch self {
        case .null: o += Array("null".utf8)
        case .bool(let b): o += Array((b ? "true" : "false").utf8)
        case .integer(let i): JSONWriter.appendInteger(&o, i)
        case .double(let d): JSONWriter.appendDouble(&o, d)
        case .string(let s): JSONWriter.appendString(&o, s)
        case .array(let a):
            o.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { o.append(44) }
                v.append(to: &o)
            }
            o.append(UInt8(ascii: "]"))
        case .object(let kv):
            o.append(UInt8(ascii: "{"))
            for (i, (k, v)) in kv.enumerated() {
                if i > 0 { o.append(44) }
                JSONWriter.appendString(&o, k)
                o.append(UInt8(ascii: ":"))
                v.append(to: &o)
            }
            o.append(UInt8(ascii: "}"))
        }
    }
}

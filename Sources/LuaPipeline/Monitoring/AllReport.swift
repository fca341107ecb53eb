import FoundationEssentials
import Glibc

/// Heka's self-report: a `heka.all-report` message every `[luapiped] report_interval`
/// (and on SIGUSR1), whose Payload is JSON in Heka's shape: `globals`, `inputs`,
/// `decoders`, `filters`, `encoders`, `outputs`, each plugin `{"Name": …, "Type": …,
/// COUNTER: {"value": …, "representation": UNIT}}`, with Heka's names where Heka had one
/// (`ProcessMessageCount`, `ProcessMessageAvgDuration`, `InjectMessageCount`, `Memory`, …)
/// and the declared names (``CounterKey``) for the rest.
extension Pipeline {
    /// Heka's name for a counter of a plugin of `category`, when Heka reported it.
    static func hekaName(_ key: CounterKey, _ category: PluginCategory) -> String? {
        switch (key.key, category) {
        case ("processed", .filter), ("processed", .output): "ProcessMessageCount"
        case ("failures", _): "ProcessMessageFailures"
        case ("injected", _): "InjectMessageCount"
        case ("memory_current", _): "Memory"
        case ("memory_peak", _): "MaxMemory"
        case ("instructions_peak", _): "MaxInstructions"
        case ("output_peak", _): "MaxOutput"
        default: nil
        }
    }

    /// The report's Payload.
    public func allReportPayload() -> String {
        let byName = countersByName
        func value(_ v: Int64, _ unit: String) -> JSONValue { .object([("value", .integer(v)), ("representation", .string(unit))]) }
        var sections: [String: [JSONValue]] = [:]
        for p in monitoredPlugins {
            var entry: [(String, JSONValue)] = [("Name", .string(p.name)), ("Type", .string(p.type.name))]
            if let c = byName[p.name] {
                for key in CounterKey.declared(for: c.category) where key != .processNanos {
                    entry.append((Self.hekaName(key, c.category) ?? key.key, value(c[key], key.unit)))
                }
                if c.category == .filter, c[.processed] > 0 {
                    entry.append(("ProcessMessageAvgDuration", value(c[.processNanos] / c[.processed], "ns")))
                }
            }
            entry.append(("State", .string((status[p.name] ?? PluginStatus()).state.rawValue)))
            sections[p.type.category.rawValue + "s", default: []].append(.object(entry))
        }
        let r = router.currentStats
        let globals = JSONValue.object([("Name", .string("Router")), ("ProcessMessageCount", value(Int64(r.appended), "count")),
                                        ("HeldMessages", value(Int64(r.held), "count")), ("HeldBytes", value(Int64(r.heldBytes), "B")),
                                        ("PeakHeldBytes", value(Int64(r.peakHeldBytes), "B")),
                                        ("LeftMemory", value(Int64(r.spilled), "count"))])
        var doc: [(String, JSONValue)] = [("globals", .array([globals]))]
        for s in ["inputs", "decoders", "filters", "encoders", "outputs"] { doc.append((s, .array(sections[s] ?? []))) }
        return JSONValue.object(doc).text
    }

    /// Appends a `heka.all-report` message now.
    public func emitAllReport() {
        var uuids = UUIDSource.random.makeGenerator()
        let m = Message(uuid: uuids.next(), timestamp: Sandbox.now(), type: "heka.all-report", logger: "luapiped",
                        severity: 7, payload: allReportPayload(), pid: Int32(getpid()), hostname: config.global.hostname)
        _ = router.append(MessageView(m))
    }

    /// Emits a report every `report_interval` until the stop (on its own thread).
    func runReports() {
        let every = config.global.reportInterval
        guard every > 0 else { return }
        while !reportsStopped.wait(until: Date().addingTimeInterval(every)) { emitAllReport() }
    }
}

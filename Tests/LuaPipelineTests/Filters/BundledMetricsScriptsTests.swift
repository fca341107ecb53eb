import Foundation
import Testing
@testable import LuaPipeline

/// The bundled metrics filters and the alert encoder, each on hand-made input.
@Suite struct BundledMetricsScriptsTests {
    let lua = repositoryRoot.appendingPathComponent("lua")

    private func harness(_ script: String, config: [String: ConfigValue] = [:], kind: PluginKind = .filter) throws -> ScriptHarness {
        let code = try String(contentsOf: lua.appendingPathComponent(script), encoding: .utf8)
        return try ScriptHarness(code, kind: kind, config: config, modulePaths: [lua.appendingPathComponent("modules").path],
                                 name: (script as NSString).lastPathComponent.replacingOccurrences(of: ".lua", with: ""))
    }

    private static func payloads(_ h: ScriptHarness) -> [(name: String, text: String)] {
        h.messages.map { m in
            var name = ""
            if case .string(let s)? = m.field("payload_name")?.value { name = s.first ?? "" }
            return (name, m.payload ?? "")
        }
    }

    @Test func httpStatusCountsClassesAndAlertsOnASpike() throws {
        let h = try harness("filters/http_status.lua", config: [
            "rows": .integer(40), "sec_per_row": .integer(60),
            "anomaly_config": .string("roc(\"HTTP Status\", 5, 2, 0, 3, false, false)"),
        ])
        // 37 quiet minutes with one 5xx each, then two minutes of 50.
        for minute in 0..<39 {
            let errors = minute >= 37 ? 50 : 1
            for i in 0..<(20 + errors) {
                let status: Int64 = i < errors ? 503 : (i % 10 == 0 ? 404 : 200)
                h.process(Message(timestamp: Int64(minute) * 60_000_000_000 + Int64(i), type: "nginx.access",
                                  fields: [Field(name: "status", value: .integer([status]))]))
            }
        }
        h.process(Message(timestamp: 39 * 60_000_000_000, type: "nginx.access", fields: [Field(name: "status", value: .string(["x"]))]))
        try h.sandbox.timerEvent(ns: 39 * 60_000_000_000 + 1, shutdown: false)
        let out = Self.payloads(h)
        let alerts = out.filter { !$0.text.hasPrefix("{") }
        #expect(alerts.count == 1 && alerts[0].name == "HTTP Status" && alerts[0].text.contains("HTTP_5xx"))
        let cbuf = try #require(out.last { $0.name == "HTTP Status" && $0.text.hasPrefix("{") })
        #expect(cbuf.text.contains("\"name\":\"HTTP_5xx\""))
        #expect(cbuf.text.contains("\"annotations\":[{\"x\":2280000,\"col\":5,\"shortText\":\"A\""))
        // the last rows: minute 37 and 38 (2xx 18, 4xx 2, 5xx 50), minute 39 (one unknown)
        #expect(cbuf.text.hasSuffix("nan\t18\tnan\t2\t50\tnan\nnan\tnan\tnan\tnan\tnan\t1\n"))
    }

    @Test func heartbeatReportsSilenceOnceAndRecovery() throws {
        let h = try harness("filters/heartbeat.lua", config: ["timeout": .integer(60), "expected": .string("db1")])
        h.process(Message(timestamp: 0, type: "t", hostname: "web1"))
        h.process(Message(timestamp: 0, type: "t", hostname: "web2"))
        try h.sandbox.timerEvent(ns: 30_000_000_000, shutdown: false)  // db1 watched from now
        h.process(Message(timestamp: 50_000_000_000, type: "t", hostname: "web2"))
        try h.sandbox.timerEvent(ns: 100_000_000_000, shutdown: false)
        try h.sandbox.timerEvent(ns: 110_000_000_000, shutdown: false)  // already reported
        h.process(Message(timestamp: 120_000_000_000, type: "t", hostname: "web1"))
        try h.sandbox.timerEvent(ns: 125_000_000_000, shutdown: false)
        #expect(Self.payloads(h).map(\.text) == [
            "db1: no data for 70 s\nweb1: no data for 100 s",
            "web1 is sending again\nweb2: no data for 75 s",
        ])
    }

    @Test func counterAndStatGraph() throws {
        let c = try harness("filters/counter.lua")
        for _ in 0..<10 { c.process() }
        try c.sandbox.timerEvent(ns: 1_000_000_000, shutdown: false)
        for _ in 0..<5 { c.process() }
        try c.sandbox.timerEvent(ns: 2_000_000_000, shutdown: false)
        #expect(Self.payloads(c).map(\.text) == ["10 messages, 0.0 per second", "15 messages, 5.0 per second"])

        let g = try harness("filters/stat_graph.lua", config: ["stats": .string("stats.counters.a.rate stats.gauges.q"), "rows": .integer(2),
                                                                "stat_labels": .string("requests queue")])
        g.process(Message(timestamp: 0, type: "heka.statmetric", payload: "stats.counters.a.rate 2 60\nstats.gauges.q 5 60\nstats.other 9 60\n"))
        g.process(Message(timestamp: 0, type: "heka.statmetric", payload: "stats.counters.a.rate 3 61\n"))
        try g.sandbox.timerEvent(ns: 0, shutdown: false)
        let text = try #require(Self.payloads(g).last?.text)
        #expect(text.contains("{\"name\":\"requests\""))
        #expect(text.hasSuffix("nan\tnan\n5\t5\n"))
    }

    @Test func theAlertEncoderWritesReadableText() throws {
        let e = try harness("encoders/alert.lua", kind: .encoder)
        e.process(Message(timestamp: 1_795_690_000_000_000_000, type: "heka.sandbox-output", logger: "nginx_5xx_alert", payload: "12% failed",
                          hostname: "web1", fields: [Field(name: "payload_type", value: .string(["alert"])),
                                                     Field(name: "payload_name", value: .string(["nginx 5xx"]))]))
        guard case .payload(_, _, let bytes)? = e.injected.last else {
            Issue.record("no output")
            return
        }
        #expect(String(decoding: bytes, as: UTF8.self) == "Alert: nginx 5xx (from nginx_5xx_alert on web1)\nTime: 2026-11-26 10:46:40 UTC\n\n12% failed\n")
    }
}

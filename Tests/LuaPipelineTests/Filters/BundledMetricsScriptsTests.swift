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

    @Test func loadavgAndMemstatsGraphWhatTheProcDecodersMake() throws {
        let load = try harness("filters/loadavg.lua", config: ["rows": .integer(3), "sec_per_row": .integer(60)])
        func loadavg(_ ns: Int64, _ one: Double, _ procs: Double) -> Message {
            Message(timestamp: ns, type: "stats.loadavg", fields: [
                Field(name: "1MinAvg", value: .double([one])), Field(name: "5MinAvg", value: .double([0.4])),
                Field(name: "15MinAvg", value: .double([0.3])), Field(name: "NumProcesses", value: .double([procs])),
            ])
        }
        load.process(loadavg(60_000_000_000, 0.5, 2))
        load.process(loadavg(61_000_000_000, 1.5, 4))  // the same row: max
        load.process(loadavg(120_000_000_000, 0.25, 1))
        guard case .ok(-1, _) = load.process(Message(timestamp: 180_000_000_000, type: "stats.loadavg")) else {
            Issue.record("a message without the fields is refused"); return
        }
        try load.sandbox.timerEvent(ns: 150_000_000_000, shutdown: false)
        let graph = try #require(Self.payloads(load).last { $0.name == "LoadAvg Stats" })
        #expect(graph.text.contains(#"{"name":"1MinAvg","unit":"Count","aggregation":"max"}"#))
        #expect(graph.text.contains(#"{"name":"NumProcesses","unit":"Count","aggregation":"max"}"#))
        #expect(graph.text.hasSuffix("nan\tnan\tnan\tnan\n1.5\t0.4\t0.3\t4\n0.25\t0.4\t0.3\t1\n"), "\(graph.text)")

        let mem = try harness("filters/memstats.lua", config: ["rows": .integer(2), "sec_per_row": .integer(60)])
        let kb = ["MemFree": 3_432_216.0, "Cached": 368_636, "Active": 120_000, "Inactive": 90_000, "VmallocUsed": 0,
                  "Shmem": 1_000, "SwapCached": 0, "SwapTotal": 2_000_000, "SwapFree": 1_500_000]
        mem.process(Message(timestamp: 60_000_000_000, type: "stats.memstats",
                            fields: kb.sorted { $0.key < $1.key }.map { Field(name: $0.key, value: .double([$0.value]), representation: "kB") }))
        try mem.sandbox.timerEvent(ns: 60_000_000_000, shutdown: false)
        let memGraph = try #require(Self.payloads(mem).last { $0.name == "Memory Stats" })
        #expect(memGraph.text.contains(#"{"name":"SwapUsed","unit":"Count","aggregation":"max"}"#))
        #expect(memGraph.text.hasSuffix("3432216\t368636\t120000\t90000\t0\t1000\t0\t1500000\t500000\n"), "\(memGraph.text)")
    }

    @Test func diskstatsGraphsRatesAndRunningTimes() throws {
        let h = try harness("filters/diskstats.lua", config: ["rows": .integer(3)])
        try h.sandbox.timerEvent(ns: 0, shutdown: false)
        #expect(Self.payloads(h).isEmpty, "no graph before the first message")
        let names = ["ReadsCompleted", "ReadsMerged", "SectorsRead", "TimeReading", "WritesCompleted", "WritesMerged",
                     "SectorsWritten", "TimeWriting", "NumIOInProgress", "TimeDoingIO", "WeightedTimeDoingIO"]
        func stat(_ ns: Int64, _ base: Double, interval: Int64 = 10) -> Message {
            Message(timestamp: ns, type: "stats.diskstats",
                    fields: names.enumerated().map { Field(name: $1, value: .double([base * Double($0 + 1)])) }
                        + [Field(name: "TickerInterval", value: .integer([interval]))])
        }
        h.process(stat(0, 100))
        h.process(stat(10_000_000_000, 110))
        h.process(stat(20_000_000_000, 130))
        guard case .ok(-1, _) = h.process(Message(timestamp: 30_000_000_000, type: "stats.diskstats")) else {
            Issue.record("a message without TickerInterval is refused"); return
        }
        try h.sandbox.timerEvent(ns: 20_000_000_000, shutdown: false)
        let out = Self.payloads(h)
        let rates = try #require(out.last { $0.name == "Disk Stats" })
        #expect(rates.text.contains(#"{"name":"WritesCompleted","unit":"per_10_","aggregation":"none"}"#))
        // increases of WritesCompleted (5x), ReadsCompleted (1x), SectorsWritten (7x), SectorsRead (3x), WritesMerged (6x), ReadsMerged (2x)
        #expect(rates.text.hasSuffix("nan\tnan\tnan\tnan\tnan\tnan\n50\t10\t70\t30\t60\t20\n100\t20\t140\t60\t120\t40\n"), "\(rates.text)")
        let times = try #require(out.last { $0.name == "Time doing IO" })
        #expect(times.text.contains(#"{"name":"TimeWriting","unit":"ms","aggregation":"max"}"#))
        #expect(times.text.hasSuffix("800\t400\t1000\t1100\n880\t440\t1100\t1210\n1040\t520\t1300\t1430\n"), "\(times.text)")
    }

    @Test func graphiteModuleWritesHekasCarbonLines() throws {
        let h = try ScriptHarness("""
            local graphite = require "graphite"
            function process_message()
              local now = graphite.ns_to_sec(1389366296999999999)
              add_to_payload(graphite.count_rate("hits", 30, 10, now))
              add_to_payload(graphite.multi_counts_rates({only = 5}, 10, now))
              add_to_payload(graphite.timeseries_metrics("db", {30, 10, 20, 40, 100, 50, 60, 70, 80, 90}, 10, 90, now))
              add_to_payload(graphite.timeseries_metrics("idle", {}, 10, 90, now))
              add_to_payload(graphite.multi_timeseries_metrics({one = {7}}, 10, 90, now))
              inject_payload("txt", "carbon")
              return 0
            end
            """, kind: .filter, modulePaths: [lua.appendingPathComponent("modules").path])
        h.process()
        let lines = (Self.payloads(h).first?.text ?? "").split(separator: "\n").map(String.init)
        #expect(Array(lines.prefix(4)) == [
            "stats.counters.hits.count 30 1389366296", "stats.counters.hits.rate 3.000000 1389366296",
            "stats.counters.only.count 5 1389366296", "stats.counters.only.rate 0.500000 1389366296",
        ])
        // ten values, 90th percentile: the lowest nine (10 … 90)
        #expect(Array(lines[4..<12]) == [
            "stats.timers.db.count 10 1389366296", "stats.timers.db.count_ps 1.000000 1389366296",
            "stats.timers.db.lower 10.000000 1389366296", "stats.timers.db.upper 100.000000 1389366296",
            "stats.timers.db.sum 550.000000 1389366296", "stats.timers.db.mean 55.000000 1389366296",
            "stats.timers.db.mean_90 50.000000 1389366296", "stats.timers.db.upper_90 90.000000 1389366296",
        ])
        #expect(lines[12] == "stats.timers.idle.count 0 1389366296" && lines[17] == "stats.timers.idle.mean 0.000000 1389366296")
        #expect(lines[20] == "stats.timers.one.count 1 1389366296" && lines[26] == "stats.timers.one.mean_90 7.000000 1389366296")
        #expect(lines.count == 28)
    }

    @Test func msgInterpolateAndFieldUtilAsHekasModules() throws {
        let h = try ScriptHarness("""
            local interp = require "msg_interpolate"
            local fu = require "field_util"
            function process_message()
              local s, n = interp.interpolate_from_msg("%{Type}/%{Hostname}/%{Severity}/%{status}/%{ratio}/%{ok}/%{%Y-%m-%d}/%{nope}", 1389366296)
              add_to_payload(s, " ", n, "\\n")
              add_to_payload(select(1, interp.interpolate_from_msg("plain")), "\\n")
              add_to_payload(fu.field_interp("idx-%{Hostname}"), "\\n")
              local set, base, all = fu.field_map("status Type **all_base**")
              add_to_payload(tostring(set.status), " ", tostring(set.Payload), " ", tostring(base), " ", tostring(all), "\\n")
              local _, b2, a2 = fu.field_map(nil)
              add_to_payload(tostring(b2), " ", tostring(a2), "\\n")
              local used = fu.used_base_fields({Payload = true, Pid = true})
              add_to_payload(tostring(used.Payload), " ", tostring(used.Type), "\\n")
              add_to_payload(fu.message_timestamp(), " ", fu.message_timestamp("s"), " ", fu.message_timestamp("h"), "\\n")
              inject_payload("txt", "out")
              return 0
            end
            """, kind: .filter, modulePaths: [lua.appendingPathComponent("modules").path])
        h.process(Message(timestamp: 1_389_366_296_999_999_999, type: "nginx.access", severity: 6, hostname: "web1",
                          fields: [Field(name: "status", value: .integer([200])), Field(name: "ratio", value: .double([3.0])),
                                   Field(name: "ok", value: .bool([true]))]))
        let lines = (Self.payloads(h).first?.text ?? "").split(separator: "\n").map(String.init)
        #expect(lines == [
            "nginx.access/web1/6/200/3/true/2014-01-10/%{nope} 8",
            "plain", "idx-web1", "true true true false", "true false", "nil true",
            "1389366296999 1389366296 385935",
        ])
    }

    @Test func utilTableToFieldsFlattensAsHekas() throws {
        let h = try ScriptHarness("""
            require "circular_buffer"
            local util = require "util"
            function process_message()
              local fields = {}
              util.table_to_fields({a = 1, b = {c = "x", d = {e = true}}, cb = circular_buffer.new(2, 1, 1)}, fields)
              util.table_to_fields({list = {10, 20}}, fields, "top", "_")
              util.table_to_fields({deep = {deeper = {deepest = 1}}, shallow = 2}, fields, nil, ".", 2)
              inject_message({Type = "flat", Fields = fields})
              return 0
            end
            """, kind: .filter, modulePaths: [lua.appendingPathComponent("modules").path])
        h.process()
        let m = try #require(h.messages.first)
        #expect(Set(m.fields.map(\.name)) == ["a", "b.c", "b.d.e", "top_list_1", "top_list_2", "shallow"])
        #expect(m.field("b.d.e")?.value == .bool([true]) && m.field("top_list_2")?.value == .integer([20]))
    }

    @Test func influxAndCarbonLineEncodersAsHekas() throws {
        let loadavg = Message(
            timestamp: 1_434_932_024_123_456_789, type: "stats.loadavg", logger: "LoadAvg", severity: 7, hostname: "my host",
            fields: [
                Field(name: "1MinAvg", value: .double([0.11])), Field(name: "5MinAvg", value: .double([3.0])),
                Field(name: "NumProcesses", value: .integer([2])), Field(name: "FilePath", value: .string(["/proc/loadavg"])),
                Field(name: "Environment", value: .string(["dev"])), Field(name: "pair", value: .integer([1, 2, 3])),
                Field(name: "1MinAvg", value: .double([0.5])),
            ])
        func encode(_ script: String, _ config: [String: ConfigValue]) throws -> [String] {
            let h = try harness("encoders/\(script)", config: config, kind: .encoder)
            h.process(loadavg)
            guard case .payload(_, _, let bytes)? = h.injected.last else { return [] }
            return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        }
        #expect(try encode("schema_influx_line.lua", [
            "skip_fields": .string("**all_base** FilePath NumProcesses Environment"), "tag_fields": .string("Hostname Environment"),
            "timestamp_precision": .string("s"),
        ]) == [
            #"1MinAvg,Hostname=my\ host,Environment=dev value=0.110000 1434932024"#,
            #"1MinAvg_fidx_1,Hostname=my\ host,Environment=dev value=0.500000 1434932024"#,
            #"5MinAvg,Hostname=my\ host,Environment=dev value=3.000000 1434932024"#,
            #"pair,Hostname=my\ host,Environment=dev value=1.000000 1434932024"#,
            #"pair_vidx_1,Hostname=my\ host,Environment=dev value=2.000000 1434932024"#,
            #"pair_vidx_1_vidx_2,Hostname=my\ host,Environment=dev value=3.000000 1434932024"#,
        ])
        #expect(try encode("schema_influx_line.lua", [
            "skip_fields": .string("**all_base** pair 1MinAvg"), "tag_fields": .string("Type"), "multi_fields": .bool(true),
            "name_prefix": .string("load"), "decimal_precision": .string("2"),
        ]) == [#"load,Type=stats.loadavg 5MinAvg=3.00,Environment="dev",FilePath="/proc/loadavg",NumProcesses=2.00 1434932024123"#])
        #expect(try encode("schema_carbon_line.lua", [
            "name_prefix": .string("%{Environment}.%{Type}"), "skip_fields": .string("**all_base** FilePath NumProcesses"),
        ]) == [
            "dev.stats.loadavg.1MinAvg 0.11 1434932024", "dev.stats.loadavg.1MinAvg_fidx_1 0.5 1434932024",
            "dev.stats.loadavg.5MinAvg 3 1434932024", "dev.stats.loadavg.pair 1 1434932024",
            "dev.stats.loadavg.pair_vidx_1 2 1434932024", "dev.stats.loadavg.pair_vidx_1_vidx_2 3 1434932024",
        ])
        #expect(try encode("schema_carbon_line.lua", ["name_prefix": .string("%{Hostname}.procs"), "source_value_field": .string("NumProcesses")])
            == ["my host.procs 2 1434932024"])
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

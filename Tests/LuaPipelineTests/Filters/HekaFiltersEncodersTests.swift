import Foundation
import Testing
@testable import LuaPipeline

/// Heka's frequent_items and schema_influx scripts, the message counter, and Heka's native
/// ElasticSearch encoders (ESJsonEncoder, ESLogstashV0Encoder) as bundled Lua scripts.
@Suite struct HekaFiltersEncodersTests {
    let lua = repositoryRoot.appendingPathComponent("lua")

    private func harness(_ script: String, config: [String: ConfigValue] = [:], kind: PluginKind = .filter) throws -> ScriptHarness {
        let code = try String(contentsOf: lua.appendingPathComponent(script), encoding: .utf8)
        return try ScriptHarness(code, kind: kind, config: config, modulePaths: [lua.appendingPathComponent("modules").path],
                                 name: (script as NSString).lastPathComponent.replacingOccurrences(of: ".lua", with: ""))
    }

    /// The load error of `script` with `config`, or nil when it loads.
    private func loadError(_ script: String, _ config: [String: ConfigValue], kind: PluginKind = .encoder) -> String? {
        do {
            _ = try harness(script, config: config, kind: kind)
            return nil
        } catch let e as SandboxError {
            return e.message
        } catch {
            return "\(error)"
        }
    }

    private static func payloads(_ h: ScriptHarness) -> [(type: String, name: String, text: String)] {
        h.messages.map { m in
            var type = "", name = ""
            if case .string(let s)? = m.field("payload_type")?.value { type = s.first ?? "" }
            if case .string(let s)? = m.field("payload_name")?.value { name = s.first ?? "" }
            return (type, name, m.payload ?? "")
        }
    }

    /// What an encoder script writes for `message`.
    private func encode(_ script: String, _ config: [String: ConfigValue] = [:], _ message: Message) throws -> String? {
        let h = try harness("encoders/\(script)", config: config, kind: .encoder)
        guard case .ok(0, _) = h.process(message) else { return nil }
        guard case .payload(_, _, let bytes)? = h.injected.last else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The action line and the document of a bulk request body ending in a newline.
    private static func bulkLines(_ text: String?) -> (action: String, document: String)? {
        guard let text, text.hasSuffix("\n") else { return nil }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count == 3, lines[2].isEmpty else { return nil }
        return (lines[0], lines[1])
    }

    /// Whether `line` is an action line for index `prefix` + today's date as %Y.%m.%d (the
    /// date is the current time's, so only its shape is checked).
    private static func isDatedAction(_ line: String, prefix: String, rest: String) -> Bool {
        let head = "{\"index\":{\"_index\":\"\(prefix)"
        let tail = "\",\"_type\":\"message\"\(rest)}}"
        guard line.hasPrefix(head), line.hasSuffix(tail), line.count == head.count + 10 + tail.count else { return false }
        let date = Array(line.dropFirst(head.count).prefix(10))
        return date.enumerated().allSatisfy { i, c in (i == 4 || i == 7) ? c == "." : c.isASCII && c.isNumber }
    }

    // MARK: - frequent_items

    @Test func frequentItemsKeepsTheHeaviestValuesAndResetsDaily() throws {
        let h = try harness("filters/frequent_items.lua", config: [
            "message_variable": .string("Fields[remote_addr]"), "max_items": .integer(3), "min_output_weight": .integer(0),
        ])
        func hit(_ addr: String, day: Int64 = 0) -> ProcessResult {
            h.process(Message(timestamp: day * 86_400_000_000_000 + 1_000, type: "nginx.access",
                              fields: [Field(name: "remote_addr", value: .string([addr]))]))
        }
        for addr in ["192.0.2.1", "192.0.2.1", "192.0.2.2", "192.0.2.1", "192.0.2.3", "192.0.2.2", "192.0.2.1", "192.0.2.2", "192.0.2.1"] {
            guard case .ok(0, _) = hit(addr) else { Issue.record("\(addr) refused"); return }
        }
        // Full (3 tracked): a new value lowers every weight by one, .3 (weight 1) is forgotten.
        _ = hit("192.0.2.4")
        _ = hit("192.0.2.5")  // room again: tracked with weight 1
        guard case .ok(-1, _) = h.process(Message(timestamp: 2_000, type: "nginx.access")) else {
            Issue.record("a message without the variable is refused"); return
        }
        try h.sandbox.timerEvent(ns: 10_000, shutdown: false)
        var out = Self.payloads(h)
        #expect(out.count == 1)
        #expect(out.last?.type == "tsv" && out.last?.name == "Weighting by Fields[remote_addr]")
        #expect(out.last?.text == "Fields[remote_addr]\tWeight\n192.0.2.1\t4\n192.0.2.2\t2\n192.0.2.5\t1\n")

        _ = hit("198.51.100.7", day: 1)  // a new day: the counts start again
        guard case .ok(0, _) = hit("192.0.2.1") else { Issue.record("an old message is ignored, not refused"); return }
        try h.sandbox.timerEvent(ns: 86_400_000_010_000, shutdown: false)
        out = Self.payloads(h)
        #expect(out.last?.text == "Fields[remote_addr]\tWeight\n198.51.100.7\t1\n")
    }

    @Test func frequentItemsHidesLightValuesAndNeedsItsVariable() throws {
        let h = try harness("filters/frequent_items.lua", config: ["message_variable": .string("Hostname")])
        for i in 0..<102 { h.process(Message(timestamp: Int64(i), type: "t", hostname: "web1")) }
        for i in 0..<100 { h.process(Message(timestamp: Int64(i), type: "t", hostname: "web2")) }
        try h.sandbox.timerEvent(ns: 1_000, shutdown: false)
        // min_output_weight 100 by default: only weights above it
        #expect(Self.payloads(h).last?.text == "Hostname\tWeight\nweb1\t102\n")

        #expect(loadError("filters/frequent_items.lua", [:], kind: .filter)?.contains("'message_variable' setting is required") == true)
        #expect(loadError("filters/frequent_items.lua", ["message_variable": .string("Type"), "max_items": .integer(0)], kind: .filter)?
            .contains("'max_items' must be a positive integer") == true)
    }

    // MARK: - heka_message_counter

    @Test func messageCounterGraphsEachLogger() throws {
        let h = try harness("filters/heka_message_counter.lua", config: [
            "rows": .integer(3), "sec_per_row": .integer(60), "max_sources": .integer(2),
        ])
        let s: Int64 = 1_000_000_000
        h.process(Message(timestamp: 60 * s, type: "nginx.access", logger: "nginx"))
        h.process(Message(timestamp: 61 * s, type: "nginx.access", logger: "nginx"))
        h.process(Message(timestamp: 62 * s, type: "syslog", logger: "syslog"))
        h.process(Message(timestamp: 125 * s, type: "nginx.access", logger: "nginx"))
        h.process(Message(timestamp: 130 * s, type: "x", logger: "third"))  // past max_sources: "-other-"
        guard case .ok(0, _) = h.process(Message(timestamp: 131 * s, type: "no logger")) else {
            Issue.record("a message without Logger is counted"); return
        }
        try h.sandbox.timerEvent(ns: 185 * s, shutdown: false)
        let out = Self.payloads(h)
        #expect(out.map(\.name) == ["-other-", "nginx", "syslog"])
        #expect(out.allSatisfy { $0.type == "cbuf" })
        let header = #"{"time":60,"rows":3,"columns":1,"seconds_per_row":60,"column_info":[{"name":"messages","unit":"count","aggregation":"sum"}]}"#
        #expect(out.map(\.text) == [header + "\nnan\n2\n0\n", header + "\n2\n1\n0\n", header + "\n1\nnan\n0\n"])

        let byType = try harness("filters/heka_message_counter.lua", config: ["message_variable": .string("Type"), "rows": .integer(3)])
        byType.process(Message(timestamp: 60 * s, type: "nginx.access", logger: "nginx"))
        byType.process(Message(timestamp: 60 * s, logger: "nginx"))
        try byType.sandbox.timerEvent(ns: 60 * s, shutdown: false)
        #expect(Self.payloads(byType).map(\.name) == ["-none-", "nginx.access"])
        // a new graph's window is rows 0, 60 and 120 s until a later time moves it on
        #expect(Self.payloads(byType).first?.text.hasSuffix("]}\nnan\n1\nnan\n") == true)

        #expect(loadError("filters/heka_message_counter.lua", ["sec_per_row": .integer(0)], kind: .filter)?
            .contains("'sec_per_row' must be an integer from 1 to 86400") == true)
    }

    // MARK: - schema_influx

    @Test func schemaInfluxWritesOneSeriesPerMessage() throws {
        let m = Message(
            timestamp: 1_409_378_221_123_456_789, type: "log", logger: "TcpInput", severity: 5, payload: "test",
            pid: 99, hostname: "web1",
            fields: [
                Field(name: "syslogfacility", value: .integer([1])), Field(name: "programname", value: .string(["test"])),
                Field(name: "ratio", value: .double([0.5])), Field(name: "arr", value: .integer([1, 2, 3])),
                Field(name: "raw", value: .bytes([[0xff]])), Field(name: "Timestamp", value: .string(["x"])),
                Field(name: "env", value: .string(["prod"])), Field(name: "arr", value: .bool([true])),
            ])
        #expect(try encode("schema_influx.lua", [
            "series": .string("heka.%{Logger}.%{env}.%{nope}"), "skip_fields": .string("Pid EnvVersion ratio"),
        ], m) == #"[{"points":[[1409378221123.5,"log","test","web1","TcpInput",5,1,"test",[1,2,3],"prod",true]],"name":"heka.TcpInput.prod.%{nope}","columns":["time","Type","Payload","Hostname","Logger","Severity","syslogfacility","programname","arr","env","arr2"]}]"#)

        // defaults: every header (a missing EnvVersion is ""), series "series"
        #expect(try encode("schema_influx.lua", [:], Message(timestamp: 2_000_000, type: "t", fields: [Field(name: "n", value: .double([2.5]))]))
            == #"[{"points":[[2,"t","","",0,"",7,"",2.5]],"name":"series","columns":["time","Type","Payload","Hostname","Pid","Logger","Severity","EnvVersion","n"]}]"#)
    }

    @Test func schemaInfluxMultiSeries() throws {
        let m = Message(timestamp: 3_000_000_000, type: "stats", hostname: "web1", fields: [
            Field(name: "cpu", value: .double([0.25])), Field(name: "blob", value: .bytes([[1, 2]])),
            Field(name: "procs", value: .integer([12, 13])), Field(name: "idle", value: .bool([false])),
        ])
        #expect(try encode("schema_influx.lua", [
            "series": .string("%{Hostname}"), "multi_series": .bool(true), "exclude_base_fields": .bool(true), "skip_fields": .string("idle"),
        ], m) == #"[{"points":[[3000,0.25]],"name":"web1.cpu","columns":["time","value"]},{"points":[[3000,12]],"name":"web1.procs","columns":["time","value"]}]"#)
        #expect(try encode("schema_influx.lua", ["multi_series": .bool(true), "skip_fields": .string("Type Payload Pid Logger Severity EnvVersion cpu procs")], m)
            == #"[{"points":[[3000,"web1",false]],"name":"series.idle","columns":["time","Hostname","value"]}]"#)
    }

    // MARK: - ElasticSearch encoders

    static let uuid: [UInt8] = [0x87, 0xcf, 0x1a, 0xc2, 0xe8, 0x10, 0x4d, 0xdf, 0xa0, 0x2d, 0xa5, 0xce, 0x44, 0xd1, 0x3a, 0x85]

    /// An nginx access message with fields of every type (2013-07-16T15:49:05.070Z).
    static let access = Message(
        uuid: uuid, timestamp: 1_373_989_745_070_000_000, type: "nginx.access", logger: "nginx", severity: 6,
        payload: "GET /index.html HTTP/1.1", envVersion: "0.8", pid: 14098, hostname: "web1",
        fields: [
            Field(name: "status", value: .integer([200])),
            Field(name: "remote_addr", value: .string(["192.0.2.10"]), representation: "ipv4"),
            Field(name: "request_time", value: .double([0.005])),
            Field(name: "bytes", value: .integer([5120]), representation: "B"),
            Field(name: "ports", value: .integer([22, 80, 3000])),
            Field(name: "ratios", value: .double([42, 19101.3])),
            Field(name: "flags", value: .bool([true, false])),
            Field(name: "tags", value: .string(["a", "b"])),
            Field(name: "doc", value: .string([#"{"k":1}"#])),
            Field(name: "note", value: .string(["say \"hi\"\n"])),
            Field(name: "blob", value: .bytes([Array("hello".utf8)])),
            Field(name: "blobs", value: .bytes([Array("asdf".utf8), Array("jkl;".utf8)])),
            Field(name: "rawblob", value: .bytes([Array(#"{"b":2}"#.utf8)])),
            Field(name: "big", value: .double([1e6])),
        ])

    static let accessFields = #""status":200,"remote_addr":"192.0.2.10","request_time":0.005,"bytes":5120,"ports":[22,80,3000],"ratios":[42,19101.3],"flags":[true,false],"tags":["a","b"],"doc":"{\u0022k\u0022:1}","note":"say \u0022hi\u0022\u000a","blob":"hello","blobs":["YXNkZg==","amtsOw=="],"rawblob":"{\u0022b\u0022:2}","big":1e+06"#

    @Test func esJsonDefaults() throws {
        let out = try #require(Self.bulkLines(try encode("es_json.lua", [:], Self.access)))
        #expect(Self.isDatedAction(out.action, prefix: "heka-", rest: ""), "\(out.action)")
        #expect(out.document == #"{"Uuid":"87cf1ac2-e810-4ddf-a02d-a5ce44d13a85","Timestamp":"2013-07-16T15:49:05","Type":"nginx.access","Logger":"nginx","Severity":6,"Payload":"GET /index.html HTTP/1.1","EnvVersion":"0.8","Pid":14098,"Hostname":"web1","# + Self.accessFields + "}")

        // missing headers: "" strings, Pid 0, Severity 7
        let bare = try #require(Self.bulkLines(try encode("es_json.lua", [:], Message(uuid: Self.uuid, timestamp: 0))))
        #expect(bare.document == #"{"Uuid":"87cf1ac2-e810-4ddf-a02d-a5ce44d13a85","Timestamp":"1970-01-01T00:00:00","Type":"","Logger":"","Severity":7,"Payload":"","EnvVersion":"","Pid":0,"Hostname":""}"#)
    }

    @Test func esJsonFieldMappingsAndRawBytesFields() throws {
        let out = try #require(Self.bulkLines(try encode("es_json.lua", [
            "field_mappings": .table(["Timestamp": .string("@timestamp"), "Severity": .string("level"), "uuid": .string("id")]),
            "raw_bytes_fields": .array([.string("doc"), .string("rawblob")]),
        ], Self.access)))
        #expect(out.document == #"{"id":"87cf1ac2-e810-4ddf-a02d-a5ce44d13a85","@timestamp":"2013-07-16T15:49:05","Type":"nginx.access","Logger":"nginx","level":6,"Payload":"GET /index.html HTTP/1.1","EnvVersion":"0.8","Pid":14098,"Hostname":"web1","#
            + Self.accessFields.replacingOccurrences(of: #""doc":"{\u0022k\u0022:1}""#, with: #""doc":{"k":1}"#)
                .replacingOccurrences(of: #""rawblob":"{\u0022b\u0022:2}""#, with: #""rawblob":{"b":2}"#) + "}")
        #expect(loadError("encoders/es_json.lua", ["field_mappings": .table(["Time": .string("t")])])?
            .contains("unknown key 'Time' in 'field_mappings'") == true)
    }

    @Test func esJsonFieldsSubsetDynamicFieldsIndexFromTimestampAndId() throws {
        let text = try encode("es_json.lua", [
            "index": .string("%{Type}-%{Hostname}-%{%Y.%m.%d}"), "es_index_from_timestamp": .bool(true),
            "type_name": .string("%{Logger}"), "id": .string("%{remote_addr}-%{status}"),
            "fields": .array([.string("Timestamp"), .string("Type"), .string("dynamicfields")]),
            "dynamic_fields": .array([.string("status"), .string("remote_addr")]),
            "timestamp": .string("%Y-%m-%dT%H:%M:%S.%LZ"),
        ], Self.access)
        #expect(text == #"{"index":{"_index":"nginx.access-web1-2013.07.16","_type":"nginx","_id":"192.0.2.10-200"}}"# + "\n"
            + #"{"Timestamp":"2013-07-16T15:49:05.070Z","Type":"nginx.access","status":200,"remote_addr":"192.0.2.10"}"# + "\n")

        // The index is lower-cased; an id that cannot be interpolated is left out.
        let out = try #require(Self.bulkLines(try encode("es_json.lua", [
            "index": .string("Heka-%{Logger}-%{Severity}"), "id": .string("%{missing}"), "fields": .array([.string("Hostname"), .string("Pid")]),
        ], Self.access)))
        #expect(out.action == #"{"index":{"_index":"heka-nginx-6","_type":"message"}}"#)
        #expect(out.document == #"{"Hostname":"web1","Pid":14098}"#)

        #expect(loadError("encoders/es_json.lua", ["fields": .array([.string("Logger"), .string("Bogus")])])?
            .contains(#"unknown name "Bogus" in 'fields'"#) == true)
        #expect(loadError("encoders/es_json.lua", ["fields": .array([.string("Logger")]), "dynamic_fields": .array([.string("status")])])?
            .contains(#"'dynamic_fields' needs "DynamicFields" in the 'fields' list"#) == true)
        #expect(loadError("encoders/es_json.lua", ["fields": .string("Logger"), "es_index_from_timestamp": .string("yes")])?
            .contains("'es_index_from_timestamp' must be true or false") == true)
    }

    @Test func esJsonEscapesStringsAndReplacesInvalidUTF8() throws {
        let m = Message(uuid: Self.uuid, timestamp: 0, fields: [
            Field(name: "\"quoted", value: .string(["tab\there \\ back/slash é \u{7f}"])),
            Field(name: "bad", value: .bytes([[0x61, 0xa3, 0x62]])),
            Field(name: "tiny", value: .double([1.5e-7])), Field(name: "neg", value: .double([-2.5])),
        ])
        let out = try #require(Self.bulkLines(try encode("es_json.lua", ["fields": .array([.string("DynamicFields")])], m)))
        #expect(out.document == "{\"\\u0022quoted\":\"tab\\u0009here \\u005c back/slash é \u{7f}\",\"bad\":\"a\u{fffd}b\",\"tiny\":1.5e-07,\"neg\":-2.5}")
    }

    @Test func esLogstashV0WritesAtKeys() throws {
        let out = try #require(Self.bulkLines(try encode("es_logstash_v0.lua", [
            "es_index_from_timestamp": .bool(true), "raw_bytes_fields": .array([.string("doc")]),
        ], Self.access)))
        #expect(out.action == #"{"index":{"_index":"logstash-2013.07.16","_type":"message"}}"#)
        #expect(out.document == #"{"@uuid":"87cf1ac2-e810-4ddf-a02d-a5ce44d13a85","@timestamp":"2013-07-16T15:49:05","@type":"message","@logger":"nginx","@severity":6,"@message":"GET /index.html HTTP/1.1","@envversion":"0.8","@pid":14098,"@source_host":"web1","@fields":{"#
            + Self.accessFields.replacingOccurrences(of: #""doc":"{\u0022k\u0022:1}""#, with: #""doc":{"k":1}"#) + "}}")

        // @type: the interpolated type_name, the message's Type with use_message_type,
        // the type_name as written when it cannot be interpolated.
        let typed = try #require(Self.bulkLines(try encode("es_logstash_v0.lua", [
            "type_name": .string("%{Type}"), "index": .string("logs-%{Logger}"),
            "fields": .array([.string("Type"), .string("Payload"), .string("Fields")]), "dynamic_fields": .array([.string("status")]),
        ], Self.access)))
        #expect(typed.action == #"{"index":{"_index":"logs-nginx","_type":"nginx.access"}}"#)
        #expect(typed.document == #"{"@type":"nginx.access","@message":"GET /index.html HTTP/1.1","@fields":{"status":200}}"#)
        let own = try #require(Self.bulkLines(try encode("es_logstash_v0.lua", [
            "use_message_type": .bool(true), "type_name": .string("doc"), "fields": .array([.string("Type")]),
        ], Self.access)))
        #expect(own.action.hasSuffix(#"","_type":"doc"}}"#) && own.document == #"{"@type":"nginx.access"}"#)
        let unresolved = try #require(Self.bulkLines(try encode("es_logstash_v0.lua", [
            "type_name": .string("%{nope}"), "fields": .array([.string("Type")]),
        ], Self.access)))
        #expect(unresolved.document == #"{"@type":"%{nope}"}"#)

        // defaults on a message without fields: an empty @fields object
        let bare = try #require(Self.bulkLines(try encode("es_logstash_v0.lua", [:], Message(uuid: Self.uuid, timestamp: 0, type: "t"))))
        #expect(Self.isDatedAction(bare.action, prefix: "logstash-", rest: ""), "\(bare.action)")
        #expect(bare.document == #"{"@uuid":"87cf1ac2-e810-4ddf-a02d-a5ce44d13a85","@timestamp":"1970-01-01T00:00:00","@type":"message","@logger":"","@severity":7,"@message":"","@envversion":"","@pid":0,"@source_host":"","@fields":{}}"#)
    }

    @Test func elasticsearchModuleHelpers() throws {
        let h = try ScriptHarness("""
            local es = require "elasticsearch"
            function process_message()
              add_to_payload(es.strftime("%Y-%m-%d %H:%M:%S.%f %j %a %b %p %s", 1373989745070123456), "\\n")
              add_to_payload(es.go_float(0.1), " ", es.go_float(123456.0), " ", es.go_float(1234567.0), " ", es.go_float(0.00001), "\\n")
              add_to_payload(es.base64("f"), " ", es.base64("fo"), " ", es.base64("foo"), "\\n")
              add_to_payload(es.bulkapi_index_json("idx-%{Type}-%{%Y}", "t", nil, 1373989745070123456), "\\n")
              add_to_payload(select(1, es.interpolate("%{Pid}-%{UUID}", 0)), "\\n")
              inject_payload("txt", "out")
              return 0
            end
            """, kind: .filter, modulePaths: [lua.appendingPathComponent("modules").path])
        h.process(Message(uuid: Self.uuid, timestamp: 0, type: "T", pid: 7))
        #expect(Self.payloads(h).last?.text == """
            2013-07-16 15:49:05.070123 197 Tue Jul PM 1373989745
            0.1 123456 1.234567e+06 1e-05
            Zg== Zm8= Zm9v
            {"index":{"_index":"idx-T-2013","_type":"t"}}
            7-87cf1ac2-e810-4ddf-a02d-a5ce44d13a85

            """)
    }
}

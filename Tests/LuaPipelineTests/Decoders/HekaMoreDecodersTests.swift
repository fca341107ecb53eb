import Foundation
import Testing
@testable import LuaPipeline

/// Heka's ip_address and mysql modules and its MySQL/MariaDB slow query, GELF and JSON
/// decoders written anew, on records as MySQL, MariaDB, GELF clients and applications
/// write them: the fields and headers Heka's documentation lists.
@Suite struct HekaMoreDecodersTests {
    let lua = repositoryRoot.appendingPathComponent("lua")

    private func harness(_ code: String, config: [String: ConfigValue] = [:], name: String) throws -> ScriptHarness {
        try ScriptHarness(code, kind: .decoder, config: config, modulePaths: [lua.appendingPathComponent("modules").path], name: name)
    }

    private func decode(_ script: String, _ payload: String, config: [String: ConfigValue] = [:]) throws -> (ProcessResult, [Message]) {
        let code = try String(contentsOf: lua.appendingPathComponent("decoders/\(script)"), encoding: .utf8)
        let h = try harness(code, config: config, name: script)
        let r = h.process(Message(timestamp: 1, type: "input", logger: "TestInput", severity: 7, payload: payload, hostname: "collector"))
        return (r, h.messages)
    }

    private func loads(_ script: String, config: [String: ConfigValue]) throws {
        let code = try String(contentsOf: lua.appendingPathComponent("decoders/\(script)"), encoding: .utf8)
        _ = try harness(code, config: config, name: script)
    }

    // MARK: ip_address

    /// Searching a line for an IPv6 address stays cheap on long hex runs (hashes, ids):
    /// within the default instruction limit for a 4 KiB line.
    @Test func ipv6SearchOnLongHexLines() throws {
        let code = """
            local ip = require "ip_address"
            local find = lpeg.P{ lpeg.C(ip.v6) + 1 * lpeg.V(1) }
            function process_message()
                inject_message({Payload = find:match(read_message("Payload")) or "none"})
                return 0
            end
            """
        let h = try harness(code, name: "ip_search")
        let line = "GET /blobs/" + String(repeating: "deadbeef", count: 500) + " from 2001:db8::7 ok"
        let r = h.process(Message(timestamp: 1, payload: line))
        #expect(terminationReason(r) == nil)
        #expect(h.messages.first?.payload == "2001:db8::7")
    }

    @Test func ipAddressGrammars() throws {
        let code = """
            local ip = require "ip_address"
            local v4, v6, field = ip.v4 * -1, ip.v6 * -1, ip.hostname_field * -1
            function process_message()
                local s = read_message("Payload")
                inject_message({Payload = s, Fields = {
                    v4 = v4:match(s) ~= nil, v6 = v6:match(s) ~= nil, host = field:match(s) or "none"}})
                return 0
            end
            """
        let h = try harness(code, name: "ip_test")
        // (text, is IPv4, is IPv6, hostname_field value, its representation)
        let cases: [(String, Bool, Bool, String, String)] = [
            ("192.168.1.10", true, false, "192.168.1.10", "ipv4"),
            ("0.0.0.0", true, false, "0.0.0.0", "ipv4"),
            ("255.255.255.255", true, false, "255.255.255.255", "ipv4"),
            ("256.1.1.1", false, false, "256.1.1.1", "hostname"),
            ("192.168.1", false, false, "192.168.1", "hostname"),
            ("01.2.3.4", false, false, "01.2.3.4", "hostname"),
            ("1.2.3.4.5", false, false, "1.2.3.4.5", "hostname"),
            ("::", false, true, "::", "ipv6"),
            ("::1", false, true, "::1", "ipv6"),
            ("2001:db8::8a2e:370:7334", false, true, "2001:db8::8a2e:370:7334", "ipv6"),
            ("2001:0DB8:0000:0000:0000:ff00:0042:8329", false, true, "2001:0DB8:0000:0000:0000:ff00:0042:8329", "ipv6"),
            ("fe80::", false, true, "fe80::", "ipv6"),
            ("::ffff:192.0.2.128", false, true, "::ffff:192.0.2.128", "ipv6"),
            ("1:2:3:4:5:6:7::", false, true, "1:2:3:4:5:6:7::", "ipv6"),
            ("1:2:3:4:5:6:7:8:9", false, false, "none", ""),
            ("2001:db8:::1", false, false, "none", ""),
            ("1::2::3", false, false, "none", ""),
            (":1::2", false, false, "none", ""),
            ("12345::1", false, false, "none", ""),
            ("::ffff:256.0.2.1", false, false, "none", ""),
            ("fe80::1%eth0", false, false, "none", ""),
            ("db-01.Example.COM", false, false, "db-01.example.com", "hostname"),
            ("10.1.2.3.nip.io", false, false, "10.1.2.3.nip.io", "hostname"),
        ]
        for (text, _, _, _, _) in cases {
            guard case .ok(0, _) = h.process(Message(timestamp: 1, type: "input", payload: text)) else {
                Issue.record("\(text)"); return
            }
        }
        let out = h.messages
        #expect(out.count == cases.count)
        for (m, (text, isV4, isV6, value, rep)) in zip(out, cases) {
            #expect(m.payload == text)
            #expect(m.field("v4")?.value == .bool([isV4]), "\(text)")
            #expect(m.field("v6")?.value == .bool([isV6]), "\(text)")
            #expect(m.field("host")?.value == .string([value]), "\(text)")
            #expect((m.field("host")?.representation ?? "") == rep, "\(text)")
        }
    }

    // MARK: MySQL / MariaDB slow query log

    /// A MySQL 5.5 record as the splitter delivers it: the "# Time:" line of the next
    /// entry trails it.
    let mysql55 = """
        # Time: 140507 15:51:28
        # User@Host: syncrw[syncrw] @  [127.0.0.1]
        # Query_time: 7.249660  Lock_time: 0.047038 Rows_sent: 5001  Rows_examined: 16458
        use weave0;
        SET timestamp=1399500688;
        /* [queryName=FIND_ITEMS] */ SELECT bso.userid, bso.collection, bso.id, bso.sortindex, bso.modified, bso.payload, bso.payload_size, bso.ttl
        FROM bso
        WHERE bso.userid = 7712345 AND bso.collection = 4 AND bso.ttl > 1399500681
        ORDER BY bso.sortindex DESC
        LIMIT 5001;
        # Time: 140507 15:51:30
        """
    let mysql55Query = """
        /* [queryName=FIND_ITEMS] */ SELECT bso.userid, bso.collection, bso.id, bso.sortindex, bso.modified, bso.payload, bso.payload_size, bso.ttl
        FROM bso
        WHERE bso.userid = 7712345 AND bso.collection = 4 AND bso.ttl > 1399500681
        ORDER BY bso.sortindex DESC
        LIMIT 5001;
        """

    @Test func mysqlSlowQuery() throws {
        let (r, out) = try decode("mysql_slow_query.lua", mysql55)
        guard case .ok(0, _) = r else { Issue.record("\(r)"); return }
        let m = try #require(out.first)
        #expect(out.count == 1)
        #expect(m.type == "mysql.slow-query")
        #expect(m.timestamp == 1_399_500_688_000_000_000)
        #expect(m.hostname == "127.0.0.1")
        #expect(m.logger == "TestInput")
        #expect(m.payload == mysql55Query)
        #expect(m.field("Query_time") == Field(name: "Query_time", value: .double([7.24966]), representation: "s"))
        #expect(m.field("Lock_time") == Field(name: "Lock_time", value: .double([0.047038]), representation: "s"))
        #expect(m.field("Rows_sent")?.value == .double([5001]))
        #expect(m.field("Rows_examined")?.value == .double([16458]))
        #expect(m.fields.count == 4)

        let (t, tOut) = try decode("mysql_slow_query.lua", mysql55, config: ["truncate_sql": .integer(28)])
        guard case .ok(0, _) = t else { Issue.record("\(t)"); return }
        #expect(tOut.first?.payload == "/* [queryName=FIND_ITEMS] */...")

        // MySQL 5.6+: "Id:" after the address, localhost with empty brackets, a leading
        // newline (a splitter on "\n# User@Host:" without Heka's capture group keeps it)
        let mysql56 = """

            # User@Host: app_user2[app_user2] @ localhost []  Id:     3
            # Query_time: 2.000311  Lock_time: 0.000000 Rows_sent: 0  Rows_examined: 0
            SET timestamp=1489486728;
            SELECT SLEEP(2);
            """
        let (r56, out56) = try decode("mysql_slow_query.lua", mysql56, config: ["truncate_sql": .integer(-8)])
        guard case .ok(0, _) = r56 else { Issue.record("\(r56)"); return }
        let m56 = try #require(out56.first)
        #expect(m56.timestamp == 1_489_486_728_000_000_000)
        #expect(m56.hostname == "localhost")
        #expect(m56.payload == "SELECT SL...")  // as Heka: string.sub(sql, 1, -8) .. "..."
        #expect(m56.field("Query_time") == Field(name: "Query_time", value: .double([2.000311]), representation: "s"))
        #expect(m56.field("Lock_time")?.value == .double([0]))

        let (bad, badOut) = try decode("mysql_slow_query.lua", "# Time: 140507 15:51:28")
        guard case .ok(-1, _) = bad else { Issue.record("\(bad)"); return }
        #expect(badOut.isEmpty)
        #expect(throws: (any Error).self) { try loads("mysql_slow_query.lua", config: ["truncate_sql": .string("64")]) }
    }

    @Test func mariadbSlowQuery() throws {
        let record = """
            # User@Host: weave[weave] @  [10.0.0.5]
            # Thread_id: 110804  Schema: weave0  QC_hit: No
            # Query_time: 7.249660  Lock_time: 0.047038  Rows_sent: 5001  Rows_examined: 16458
            # Full_scan: Yes  Full_join: No  Tmp_table: No  Tmp_table_on_disk: No
            # Filesort: Yes  Filesort_on_disk: No  Merge_passes: 0
            SET timestamp=1522137849;
            SELECT * FROM bso WHERE userid = 1 ORDER BY sortindex;
            """
        let (r, out) = try decode("mariadb_slow_query.lua", record)
        guard case .ok(0, _) = r else { Issue.record("\(r)"); return }
        let m = try #require(out.first)
        #expect(m.type == "mariadb.slow-query")
        #expect(m.timestamp == 1_522_137_849_000_000_000)
        #expect(m.hostname == "10.0.0.5")
        #expect(m.payload == "SELECT * FROM bso WHERE userid = 1 ORDER BY sortindex;")
        #expect(m.field("Query_time") == Field(name: "Query_time", value: .double([7.24966]), representation: "s"))
        #expect(m.field("Thread_id")?.value == .double([110_804]))
        #expect(m.field("Schema")?.value == .string(["weave0"]))
        #expect(m.field("QC_hit")?.value == .string(["No"]))
        #expect(m.field("Full_scan")?.value == .string(["Yes"]))
        #expect(m.field("Tmp_table_on_disk")?.value == .string(["No"]))
        #expect(m.field("Filesort")?.value == .string(["Yes"]))
        #expect(m.field("Merge_passes")?.value == .double([0]))
        #expect(m.fields.count == 14)

        // MariaDB 10's extra "# Rows_affected:" line, no query-plan lines, a "use" line
        let short = """
            # User@Host: root[root] @ localhost []
            # Thread_id: 8  Schema: shop_prod  QC_hit: No
            # Query_time: 0.000263  Lock_time: 0.000094  Rows_sent: 1  Rows_examined: 1
            # Rows_affected: 0  Bytes_sent: 80
            use shop_prod;
            SET timestamp=1522137850;
            select * from t1;
            """
        let (rs, outs) = try decode("mariadb_slow_query.lua", short)
        guard case .ok(0, _) = rs else { Issue.record("\(rs)"); return }
        #expect(outs.first?.field("Schema")?.value == .string(["shop_prod"]))
        #expect(outs.first?.field("Full_scan") == nil)

        // log_slow_verbosity=explain: "# explain:" lines between bare "#" lines
        let explain = """
            # User@Host: root[root] @ localhost []
            # Thread_id: 9  Schema: shop_prod  QC_hit: No
            # Query_time: 0.000300  Lock_time: 0.000100  Rows_sent: 1  Rows_examined: 1
            # Rows_affected: 0  Bytes_sent: 89
            #
            # explain: id\tselect_type\ttable\ttype
            # explain: 1\tSIMPLE\tt1\tALL
            #
            SET timestamp=1522137851;
            select 1;
            """
        let (re, oute) = try decode("mariadb_slow_query.lua", explain)
        guard case .ok(0, _) = re else { Issue.record("\(re)"); return }
        #expect(oute.first?.payload == "select 1;" && oute.first?.field("Thread_id")?.value == .double([9]))
        #expect(outs.first?.fields.count == 7)

        // a MySQL record has no Thread_id line
        let (bad, badOut) = try decode("mariadb_slow_query.lua", mysql55)
        guard case .ok(-1, _) = bad else { Issue.record("\(bad)"); return }
        #expect(badOut.isEmpty)
    }

    // MARK: GELF

    @Test func graylogExtended() throws {
        let gelf = #"{"version":"1.1","host":"web-3.example.com","short_message":"Payment declined for order 8812","full_message":"PaymentError: card declined\n  at charge (billing.js:88)","timestamp":1385053862.3072,"level":3,"_user_id":9001,"_request_id":"c1f9e7a2","_tags":["billing","eu"],"_retry":false}"#
        let (r, out) = try decode("graylog_extended.lua", gelf, config: ["type": .string("gelf")])
        guard case .ok(0, _) = r else { Issue.record("\(r)"); return }
        let m = try #require(out.first)
        #expect(m.type == "gelf")
        #expect(m.timestamp == 1_385_053_862_307_200_000)
        #expect(m.hostname == "web-3.example.com")
        #expect(m.severity == 3)
        #expect(m.envVersion == "1.1")
        #expect(m.logger == "TestInput")
        #expect(m.payload == nil)
        #expect(m.field("short_message")?.value == .string(["Payment declined for order 8812"]))
        #expect(m.field("full_message")?.value == .string(["PaymentError: card declined\n  at charge (billing.js:88)"]))
        #expect(m.field("_user_id")?.value == .double([9001]))
        #expect(m.field("_request_id")?.value == .string(["c1f9e7a2"]))
        #expect(m.field("_tags")?.value == .string(["billing", "eu"]))
        #expect(m.field("_retry")?.value == .bool([false]))
        #expect(m.field("host") == nil && m.field("timestamp") == nil && m.field("level") == nil && m.field("version") == nil)
        #expect(m.fields.count == 6)

        // Arrays: nulls dropped, mixed values as text, an empty object adds nothing.
        let (ra, outa) = try decode("graylog_extended.lua", #"{"version":"1.1","host":"h","short_message":"m","timestamp":1.5,"_arr":[1,null,2],"_e":{},"_mixed":[1,"a"]}"#)
        guard case .ok(0, _) = ra else { Issue.record("\(ra)"); return }
        #expect(outa.first?.field("_arr")?.value == .double([1, 2]) && outa.first?.field("_mixed")?.value == .string(["1", "a"]))
        #expect(outa.first?.field("_e") == nil)
        let (kept, keptOut) = try decode("graylog_extended.lua", gelf, config: ["payload_keep": .bool(true)])
        guard case .ok(0, _) = kept else { Issue.record("\(kept)"); return }
        #expect(keptOut.first?.payload == gelf && keptOut.first?.type == "input")

        // GELF 1.0 from an older client: legacy members stay fields, null is left out
        let legacy = #"{"version":"1.0","host":"db1","short_message":"checkpoint complete","timestamp":1700000000.5,"level":6,"facility":"postgres","line":42,"file":"/var/log/postgresql.log","_session":null}"#
        let (rl, outl) = try decode("graylog_extended.lua", legacy)
        guard case .ok(0, _) = rl else { Issue.record("\(rl)"); return }
        #expect(outl.first?.timestamp == 1_700_000_000_500_000_000)
        #expect(outl.first?.field("facility")?.value == .string(["postgres"]))
        #expect(outl.first?.field("line")?.value == .double([42]))
        #expect(outl.first?.field("_session") == nil)

        for bad in ["not json", #"{"host":"h","short_message":"x","timestamp":"yesterday"}"#, "[1,2]"] {
            let (rb, outb) = try decode("graylog_extended.lua", bad)
            guard case .ok(-1, _) = rb else { Issue.record("\(bad): \(rb)"); return }
            #expect(outb.isEmpty)
        }
    }

    // MARK: JSON

    @Test func jsonHekaExample() throws {
        let line = #"{"msg":"Start Request","event":"artemis.web.ensure-running","extra":{"workspace-id":"cN907xLngi"},"time":"2015-05-06T20:40:05.509926234Z","severity":1}"#
        let (r, out) = try decode("json.lua", line, config: [
            "type": .string("artemis"), "payload_keep": .bool(true), "map_fields": .bool(true),
            "Severity": .string("severity"), "Timestamp": .string("time"),
        ])
        guard case .ok(0, _) = r else { Issue.record("\(r)"); return }
        let m = try #require(out.first)
        #expect(m.type == "artemis")
        #expect(m.severity == 1)
        #expect(m.timestamp == 1_430_944_805_509_926_234)
        #expect(m.payload == line)
        #expect(m.hostname == "collector")
        #expect(m.field("msg")?.value == .string(["Start Request"]))
        #expect(m.field("event")?.value == .string(["artemis.web.ensure-running"]))
        #expect(m.field("extra.workspace-id")?.value == .string(["cN907xLngi"]))
        #expect(m.fields.count == 3)

        // Heka's defaults: Type "json", nothing mapped, every member a field
        let (d, dOut) = try decode("json.lua", line)
        guard case .ok(0, _) = d else { Issue.record("\(d)"); return }
        #expect(dOut.first?.type == "json" && dOut.first?.payload == nil && dOut.first?.timestamp == 1)
        #expect(dOut.first?.field("time")?.value == .string(["2015-05-06T20:40:05.509926234Z"]))
        #expect(dOut.first?.field("severity")?.value == .double([1]))

        // a strftime timestamp_format, matched at the start of the value (the fraction dropped)
        let (f, fOut) = try decode("json.lua", line, config: [
            "Timestamp": .string("time"), "timestamp_format": .string("%Y-%m-%dT%H:%M:%S"),
        ])
        guard case .ok(0, _) = f else { Issue.record("\(f)"); return }
        #expect(fOut.first?.timestamp == 1_430_944_805_000_000_000)
        #expect(fOut.first?.field("time") == nil)
    }

    @Test func jsonApplicationLog() throws {
        let line = #"{"@timestamp":"2024-03-05T14:22:31.417+01:00","level":"info","logger":"com.shop.OrderService","host":"api-7f9c","pid":4711,"message":"order created","order":{"id":"A-1001","total":59.9,"items":[{"sku":"X1","qty":2},{"sku":"Y7","qty":1}],"paid":true},"tags":["checkout","eu"],"trace_id":null,"uuid":"76F05CCE-4A24-B032-9E08-8466F27CD84A","env":"0.8"}"#
        let (r, out) = try decode("json.lua", line, config: [
            "type": .string("app"), "map_fields": .bool(true), "Timestamp": .string("@timestamp"),
            "Hostname": .string("host"), "Pid": .string("pid"), "Logger": .string("logger"),
            "Payload": .string("message"), "Uuid": .string("uuid"), "EnvVersion": .string("env"),
            "Type": .string("kind"),
        ])
        guard case .ok(0, _) = r else { Issue.record("\(r)"); return }
        let m = try #require(out.first)
        #expect(m.type == "app")  // no "kind" member: the type setting stays
        #expect(m.timestamp == 1_709_644_951_417_000_000)  // 14:22:31.417 +01:00 is 13:22:31.417 UTC
        #expect(m.hostname == "api-7f9c")
        #expect(m.pid == 4711)
        #expect(m.logger == "com.shop.OrderService")
        #expect(m.payload == "order created")
        #expect(m.envVersion == "0.8")
        #expect(m.uuid == [0x76, 0xF0, 0x5C, 0xCE, 0x4A, 0x24, 0xB0, 0x32, 0x9E, 0x08, 0x84, 0x66, 0xF2, 0x7C, 0xD8, 0x4A])
        #expect(m.field("level")?.value == .string(["info"]))
        #expect(m.field("order.id")?.value == .string(["A-1001"]))
        #expect(m.field("order.total")?.value == .double([59.9]))
        #expect(m.field("order.paid")?.value == .bool([true]))
        #expect(m.field("order.items.1.sku")?.value == .string(["X1"]))
        #expect(m.field("order.items.2.qty")?.value == .double([1]))
        #expect(m.field("tags.1")?.value == .string(["checkout"]))
        #expect(m.field("tags.2")?.value == .string(["eu"]))
        #expect(m.field("trace_id") == nil && m.field("host") == nil && m.field("@timestamp") == nil)
        #expect(m.fields.count == 10)

        // nanoseconds since the epoch, as a number or a string of digits
        let (n, nOut) = try decode("json.lua", #"{"ts":"1430944805509926234","msg":"ns"}"#, config: ["Timestamp": .string("ts")])
        guard case .ok(0, _) = n else { Issue.record("\(n)"); return }
        #expect(nOut.first?.timestamp == 1_430_944_805_509_926_234)

        let (bt, btOut) = try decode("json.lua", #"{"ts":"yesterday","msg":"x"}"#, config: ["Timestamp": .string("ts")])
        guard case .ok(-1, "Failed to decode timestamp.") = bt else { Issue.record("\(bt)"); return }
        #expect(btOut.isEmpty)
        let (bj, bjOut) = try decode("json.lua", #"{"msg": "unterminated"#)
        guard case .ok(-1, "Failed to decode JSON.") = bj else { Issue.record("\(bj)"); return }
        #expect(bjOut.isEmpty)
        let (bu, _) = try decode("json.lua", #"{"id":"not-a-uuid"}"#, config: ["map_fields": .bool(true), "Uuid": .string("id")])
        guard case .ok(-1, "Failed to inject message.") = bu else { Issue.record("\(bu)"); return }

        #expect(throws: (any Error).self) { try loads("json.lua", config: ["Timestamp": .string("t"), "timestamp_format": .string("%Q")]) }
        #expect(throws: (any Error).self) { try loads("json.lua", config: ["Severity": .integer(5)]) }
    }
}

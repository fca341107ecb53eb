#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import LuaPipeline

/// The Heka config of docs/migrating-from-heka.md, taken from the page itself: `luapiped
/// check` accepts it as written, and it runs end to end with only its addresses and paths
/// pointed at temporary ones.
@Suite struct HekaMigrationTests {
    let h = ReloadHarness()

    /// The page's TOML block.
    static func documentedConfig() throws -> String {
        let page = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/migrating-from-heka.md"), encoding: .utf8)
        let start = try #require(page.range(of: "```toml\n"))
        let end = try #require(page.range(of: "\n```", range: start.upperBound..<page.endIndex))
        return String(page[start.upperBound..<end.lowerBound])
    }

    @Test func theDocumentedConfigPassesCheckAsWritten() throws {
        let file = h.path("heka.toml")
        h.put("heka.toml", try Self.documentedConfig())
        let p = Process()
        p.executableURL = CommandLineTests.binary
        p.arguments = ["check", "-c", file]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = PipeCollector(out)
        let status = waitForExit(p, "luapiped check exited")
        #expect(status == 0, "\(text.finish())")
    }

    @Test func itRunsEndToEnd() throws {
        let syslogPort = try freeTcpPort(), httpPort = try freeTcpPort()
        let sinkDir = h.path("sink"), nginxDir = h.path("nginx")
        for d in [sinkDir, nginxDir] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        let sink = try AlertDeliveryTests.startSink("http_sink.py", port: httpPort, dir: sinkDir)
        defer { terminateAndWait(sink) }
        var config = try Self.documentedConfig()
        for (documented, here) in [("127.0.0.1:5514", "127.0.0.1:\(syslogPort)"), ("http://127.0.0.1:9200", "http://127.0.0.1:\(httpPort)"),
                                   ("/var/cache/hekad", h.path("state")), ("/var/log/nginx", nginxDir), ("ticker_interval = 60", "ticker_interval = 1")] {
            #expect(config.contains(documented), "\(documented)")
            config = config.replacingOccurrences(of: documented, with: here)
        }
        h.put("luapiped.toml", config)
        try h.start()
        defer { h.stop() }

        // nginx lines for the http_status filter.
        try append(lines: [
            #"10.0.0.1 - - [10/Feb/2014:12:58:58 -0800] "GET / HTTP/1.1" 200 612 "-" "curl/8.0""#,
            #"10.0.0.2 - - [10/Feb/2014:12:58:59 -0800] "GET /a HTTP/1.1" 200 10 "-" "curl/8.0""#,
            #"10.0.0.3 - - [10/Feb/2014:12:59:01 -0800] "GET /missing HTTP/1.1" 404 0 "-" "curl/8.0""#,
            #"10.0.0.4 - - [10/Feb/2014:12:59:02 -0800] "GET /api HTTP/1.1" 502 0 "-" "curl/8.0""#,
        ], toFile: URL(fileURLWithPath: nginxDir + "/access.log"))

        // rsyslog's forward format over TCP: local time in Los Angeles, no year.
        let fd = try #require(eventually("the TcpInput listens") { try? Socket.connect("127.0.0.1:\(syslogPort)") })
        defer { close(fd) }
        writeAll(Array("""
            <38>Feb 10 12:58:58 web1 sshd[1234]: Accepted publickey for alice
            <29>Jul  4 09:00:01 web2 cron[77]: (root) CMD (run-parts /etc/cron.hourly)

            """.utf8), to: fd)

        h.waitUntil("both syslog messages reached the Elasticsearch sink") { h.lines("sink/received.jsonl").count >= 2 }
        // Four requests in two minutes: 200, 200 | 404, 502 (a graph written before the
        // filter saw them all is followed by another each second).
        h.waitUntil("http_status graphed all four requests") {
            let graph = (try? String(contentsOfFile: h.path("state/sandbox-output.log"), encoding: .utf8)) ?? ""
            return graph.contains("HTTP_2xx") && graph.contains("nan\t2\tnan\tnan\tnan\tnan") && graph.contains("nan\tnan\tnan\t1\t1\tnan")
        }

        let bodies = sinkRequests(in: h.path("sink")).compactMap { $0["body"] as? String }
        let year = Calendar(identifier: .gregorian).component(.year, from: Date())
        let february = try #require(bodies.first { $0.contains("alice") })
        let lines = february.split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        // Index and type interpolated from the message, its date from its Timestamp.
        #expect(lines.first == #"{"index":{"_index":"syslog-\#(year).02.10","_type":"syslog"}}"#)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
        // 12:58:58 in Los Angeles (PST) is 20:58:58 UTC: the decoder's tz was applied.
        #expect(doc["@timestamp"] as? String == "\(year)-02-10T20:58:58")
        #expect(doc["level"] as? Int == 6 && doc["Hostname"] as? String == "web1" && doc["Pid"] as? Int == 1234)
        #expect(doc["Payload"] as? String == "Accepted publickey for alice" && doc["programname"] as? String == "sshd")
        #expect(doc["Type"] as? String == "syslog" && doc["syslogfacility"] as? Int == 4)
        // July is daylight time (UTC-7).
        #expect(bodies.contains { $0.contains(#""@timestamp":"\#(year)-07-04T16:00:01""#) })

        #expect(h.counter("SyslogInput", "decode_failures") == 0)
    }

    /// Heka's native ES encoders: its keys, its Init checks and their wording.
    @Test func elasticsearchEncoderSettingsAreCheckedAsHekaDid() throws {
        func parse(_ section: String) throws(ConfigErrors) -> PipelineConfig {
            try PipelineConfig.parse(sources: [("es.toml", """
                [out]
                type = "FileOutput"
                path = "es.out"
                message_matcher = "TRUE"
                encoder = "ES"

                [ES]
                \(section)
                """)], directory: h.dir.path)
        }
        func problems(_ section: String) -> String {
            do { _ = try parse(section); return "" } catch { return "\(error)" }
        }
        #expect(problems("type = \"ESJsonEncoder\"\nfields = [\"Uuid\", \"Bogus\"]")
            .contains("[ES] fields: Unsupported value \"bogus\" in 'fields' list, must be one of uuid, timestamp"))
        #expect(problems("type = \"ESLogstashV0Encoder\"\nfields = [\"Payload\"]\ndynamic_fields = [\"status\"]")
            .contains("[ES] dynamic_fields: \"DynamicFields\" must be in 'fields' list if using 'dynamic_fields'"))
        #expect(problems("type = \"ESJsonEncoder\"\n[ES.field_mappings]\nColour = \"c\"").contains("[ES] field_mappings.Colour: unknown header"))
        #expect(problems("type = \"ESJsonEncoder\"\nuse_message_type = true").contains("[ES] use_message_type: unknown key"))
        // Accepted as Heka wrote them ("Fields" is Heka's old name of DynamicFields), and built.
        let c = try parse("type = \"ESLogstashV0Encoder\"\nfields = [\"Timestamp\", \"Fields\"]\ndynamic_fields = [\"status\"]\nuse_message_type = true")
        _ = try Pipeline(config: c, log: PipelineLog(sink: { _ in }))
    }
}

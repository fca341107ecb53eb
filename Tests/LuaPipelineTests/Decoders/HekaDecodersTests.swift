import Foundation
import Testing
@testable import LuaPipeline

/// Heka's bundled decoders written anew, on samples as the kernel, nginx and Apache write
/// them: the fields Heka's documentation lists.
@Suite struct HekaDecodersTests {
    let lua = repositoryRoot.appendingPathComponent("lua")

    private func decode(_ script: String, _ payload: String, config: [String: ConfigValue] = [:],
                        fields: [Field] = []) throws -> (ProcessResult, [Message]) {
        let code = try String(contentsOf: lua.appendingPathComponent("decoders/\(script)"), encoding: .utf8)
        let h = try ScriptHarness(code, kind: .decoder, config: config, modulePaths: [lua.appendingPathComponent("modules").path], name: script)
        let r = h.process(Message(timestamp: 1, type: "input", payload: payload, fields: fields))
        return (r, h.messages)
    }

    @Test func loadavg() throws {
        let (r, out) = try decode("linux_loadavg.lua", "3.05 1.21 0.44 11/287 12345\n",
                                  fields: [Field(name: "FilePath", value: .string(["/proc/loadavg"]))])
        guard case .ok(0, _) = r else { Issue.record("\(r)"); return }
        let m = try #require(out.first)
        #expect(m.type == "stats.loadavg" && m.payload == nil)
        #expect(m.field("1MinAvg")?.value == .double([3.05]))
        #expect(m.field("5MinAvg")?.value == .double([1.21]))
        #expect(m.field("15MinAvg")?.value == .double([0.44]))
        #expect(m.field("NumProcesses")?.value == .double([11]))
        #expect(m.field("FilePath")?.value == .string(["/proc/loadavg"]))

        let (kept, keptOut) = try decode("linux_loadavg.lua", "0.00 0.01 0.05 1/120 7", config: ["payload_keep": .bool(true)])
        guard case .ok(0, _) = kept else { Issue.record("\(kept)"); return }
        #expect(keptOut.first?.payload == "0.00 0.01 0.05 1/120 7" && keptOut.first?.field("FilePath") == nil)

        let (bad, badOut) = try decode("linux_loadavg.lua", "load is high")
        guard case .ok(-1, _) = bad else { Issue.record("\(bad)"); return }
        #expect(badOut.isEmpty)
    }

    @Test func memstats() throws {
        let meminfo = """
            MemTotal:        4047616 kB
            MemFree:         3432216 kB
            Buffers:           82028 kB
            Cached:           368636 kB
            Active(anon):     120044 kB
            HugePages_Total:       0
            HugePages_Free:        0
            Hugepagesize:       2048 kB
            DirectMap4k:      108352 kB

            """
        let (r, out) = try decode("linux_memstats.lua", meminfo, fields: [Field(name: "FilePath", value: .string(["/proc/meminfo"]))])
        guard case .ok(0, _) = r else { Issue.record("\(r)"); return }
        let m = try #require(out.first)
        #expect(m.type == "stats.memstats")
        #expect(m.field("MemTotal") == Field(name: "MemTotal", value: .double([4_047_616]), representation: "kB"))
        #expect(m.field("Active(anon)") == Field(name: "Active(anon)", value: .double([120_044]), representation: "kB"))
        #expect(m.field("HugePages_Total") == Field(name: "HugePages_Total", value: .double([0]), representation: ""))
        #expect(m.field("Hugepagesize")?.representation == "kB")
        #expect(m.field("FilePath")?.value == .string(["/proc/meminfo"]))
        #expect(m.fields.count == 10)

        let (bad, _) = try decode("linux_memstats.lua", "MemTotal: lots\n")
        guard case .ok(-1, _) = bad else { Issue.record("\(bad)"); return }
    }

    @Test func nginxStubStatus() throws {
        let page = """
            Active connections: 291 
            server accepts handled requests
             16630948 16630948 31070465 
            Reading: 6 Writing: 179 Waiting: 106 

            """
        let (r, out) = try decode("nginx_stub_status.lua", page)
        guard case .ok(0, _) = r else { Issue.record("\(r)"); return }
        let m = try #require(out.first)
        #expect(m.type == "nginx_stub_status" && m.payload == nil)
        let want: [(String, Int64)] = [("connections", 291), ("accepts", 16_630_948), ("handled", 16_630_948),
                                       ("requests", 31_070_465), ("reading", 6), ("writing", 179), ("waiting", 106)]
        for (name, value) in want { #expect(m.field(name)?.value == .integer([value]), "\(name)") }

        let (typed, typedOut) = try decode("nginx_stub_status.lua", page, config: ["type": .string("nginx.status"), "payload_keep": .bool(true)])
        guard case .ok(0, _) = typed else { Issue.record("\(typed)"); return }
        #expect(typedOut.first?.type == "nginx.status" && typedOut.first?.payload == page)

        let (bad, _) = try decode("nginx_stub_status.lua", "<html>502 Bad Gateway</html>")
        guard case .ok(-1, _) = bad else { Issue.record("\(bad)"); return }
    }

    @Test func apacheAccessCombinedAndVhostCombined() throws {
        let combined = #"%h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i""#
        let line = #"62.195.113.219 - frank [10/Jan/2014:07:04:56 -0800] "GET /v1/recovery_email/status HTTP/1.1" 200 82 "https://example.com/" "Mozilla/5.0 (Mobile; rv:29.0) Gecko/29.0 Firefox/29.0""#
        let (r, out) = try decode("apache_access.lua", line, config: [
            "log_format": .string(combined), "type": .string("combined"), "user_agent_transform": .bool(true),
        ])
        guard case .ok(0, _) = r else { Issue.record("\(r)"); return }
        let m = try #require(out.first)
        #expect(m.type == "combined")
        #expect(m.timestamp == 1_389_366_296_000_000_000)  // 07:04:56 -0800 is 15:04:56 UTC
        #expect(m.field("remote_addr") == Field(name: "remote_addr", value: .string(["62.195.113.219"]), representation: "ipv4"))
        #expect(m.field("remote_user")?.value == .string(["frank"]))
        #expect(m.field("request")?.value == .string(["GET /v1/recovery_email/status HTTP/1.1"]))
        #expect(m.field("status")?.value == .integer([200]))
        #expect(m.field("http_referer")?.value == .string(["https://example.com/"]))
        #expect(m.field("user_agent_browser")?.value == .string(["Firefox"]))
        #expect(m.field("user_agent_version")?.value == .integer([29]))
        #expect(m.field("user_agent_os")?.value == .string(["FirefoxOS"]))
        #expect(m.field("http_user_agent") == nil)

        let vhost = #"%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i""#
        let (rv, outv) = try decode("apache_access.lua", "www.example.com:443 " + line, config: ["log_format": .string(vhost), "payload_keep": .bool(true)])
        guard case .ok(0, _) = rv else { Issue.record("\(rv)"); return }
        #expect(outv.first?.field("server_name")?.value == .string(["www.example.com"]))
        #expect(outv.first?.field("server_port")?.value == .integer([443]))
        #expect(outv.first?.field("http_user_agent")?.value == .string(["Mozilla/5.0 (Mobile; rv:29.0) Gecko/29.0 Firefox/29.0"]))
        #expect(outv.first?.payload == "www.example.com:443 " + line)

        let (bad, badOut) = try decode("apache_access.lua", "not a log line", config: ["log_format": .string(combined)])
        guard case .ok(-1, "Failed to parse") = bad else { Issue.record("\(bad)"); return }
        #expect(badOut.isEmpty)
        #expect(throws: (any Error).self) { try decode("apache_access.lua", line) }  // log_format is required
    }

    @Test func diskstats() throws {
        // a 5.x kernel's line: Heka's eleven columns, then discards and flushes
        let line = "   20123    11267  1094968    45148     1278     1278   206504     3348        3     4876    48356        0        0        0        0       12        7\n"
        let (r, out) = try decode("linux_diskstats.lua", line, fields: [
            Field(name: "FilePath", value: .string(["/sys/block/sda/stat"])), Field(name: "TickerInterval", value: .double([2])),
        ])
        guard case .ok(0, _) = r else { Issue.record("\(r)"); return }
        let m = try #require(out.first)
        #expect(m.type == "stats.diskstats")
        let want: [(String, Double)] = [
            ("ReadsCompleted", 20123), ("ReadsMerged", 11267), ("SectorsRead", 1_094_968), ("TimeReading", 45148),
            ("WritesCompleted", 1278), ("WritesMerged", 1278), ("SectorsWritten", 206_504), ("TimeWriting", 3348),
            ("NumIOInProgress", 3), ("TimeDoingIO", 4876), ("WeightedTimeDoingIO", 48356),
        ]
        for (name, value) in want { #expect(m.field(name)?.value == .double([value]), "\(name)") }
        #expect(m.field("FilePath")?.value == .string(["/sys/block/sda/stat"]))
        #expect(m.field("TickerInterval")?.value == .double([2]))
        #expect(m.fields.count == 13)

        let (short, _) = try decode("linux_diskstats.lua", "1 2 3\n")
        guard case .ok(-1, _) = short else { Issue.record("\(short)"); return }
        let (bad, _) = try decode("linux_diskstats.lua", "1 2 3 4 5 6 7 8 nine 10 11\n")
        guard case .ok(-1, _) = bad else { Issue.record("\(bad)"); return }
    }
}

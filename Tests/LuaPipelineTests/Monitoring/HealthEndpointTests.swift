import Foundation
import Testing
@testable import LuaPipeline

/// The admin server: `/health` counts exact, `/metrics` read by Prometheus's own parser,
/// and a failing filter turning the health to 503 with its error text.
@Suite struct HealthEndpointTests {
    /// A daemon reading stdin lines with `admin_address` on a free port (`global`: more
    /// `[luapiped]` keys).
    func start(_ h: ReloadHarness, global: String = "", _ extra: String = "") throws -> Int {
        let port = try freeTcpPort()
        h.put("luapiped.toml", h.configText(extra, global: "admin_address = \"127.0.0.1:\(port)\"\n" + global))
        try h.start()
        return port
    }

    func get(_ port: Int, _ path: String) -> HttpTestClient.Response? {
        HttpTestClient.request(port: port, method: "GET", path: path)
    }

    func health(_ port: Int) -> (Int, [String: Any])? {
        guard let r = get(port, "/health"), let doc = try? JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any] else { return nil }
        return (r.status, doc)
    }

    func processed(_ doc: [String: Any], _ plugin: String) -> Int? {
        (((doc["plugins"] as? [String: Any])?[plugin] as? [String: Any])?["counters"] as? [String: Any])?["processed"] as? Int
    }

    /// `luapiped_processed_total` and the process_message call counts as Prometheus's own
    /// parser (prometheus_client) reads them: "PLUGIN TYPE N" and "calls PLUGIN N" lines.
    static func prometheusSamples(_ text: String) throws -> String {
        let parser = Process()
        parser.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        parser.arguments = ["python3", "-c", """
            import sys
            from prometheus_client.parser import text_string_to_metric_families
            for family in text_string_to_metric_families(sys.stdin.read()):
                for s in family.samples:
                    if s.name == "luapiped_processed_total":
                        print(s.labels["plugin"], s.labels["type"], int(s.value))
                    if s.name == "luapiped_process_message_duration_seconds_count":
                        print("calls", s.labels["plugin"], int(s.value))
            """]
        let input = Pipe(), output = Pipe()
        parser.standardInput = input
        parser.standardOutput = output
        try parser.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let parsed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(waitForExit(parser) == 0)
        return parsed
    }

    @Test func healthAndMetricsCountExactly() throws {
        let h = ReloadHarness()
        h.put("count.lua", "n = 0\nfunction process_message() n = n + 1 return 0 end\nfunction timer_event() end\n")
        let port = try start(h, """
            [count]
            type = "SandboxFilter"
            filename = "count.lua"
            message_matcher = "Type == 'StdinInput'"
            """)
        defer { h.finish() }
        h.send(count: 3000)
        // The input counts its messages after the router took them, and the filter times a
        // call after it returned: wait for those counts too.
        h.waitUntil("the input and the filter counted 3,000, every call timed") {
            h.counter("count", "processed") == 3000 && h.counter("StdinInput", "processed") == 3000
                && (get(port, "/metrics")?.body.split(separator: "\n").contains {
                    $0.hasPrefix("luapiped_process_message_duration_seconds_count{") && $0.contains("plugin=\"count\"") && $0.hasSuffix(" 3000")
                } ?? false)
        }
        let (status, doc) = try #require(health(port))
        #expect(status == 200)
        #expect(doc["status"] as? String == "ok")
        #expect(processed(doc, "count") == 3000)
        #expect(processed(doc, "StdinInput") == 3000)
        let plugins = doc["plugins"] as? [String: Any]
        let names = Set((plugins ?? [:]).keys)
        #expect(names.isSuperset(of: ["StdinInput", "count", "counts", "events", "PayloadEncoder", "JsonEncoder"]))
        #expect((plugins?["count"] as? [String: Any])?["type"] as? String == "SandboxFilter")

        // Prometheus's own parser reads the same counts under the same names.
        let metrics = try #require(get(port, "/metrics"))
        #expect(metrics.status == 200)
        #expect(metrics.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        let parsed = try Self.prometheusSamples(metrics.body)
        #expect(parsed.contains("count SandboxFilter 3000\n"))
        #expect(parsed.contains("StdinInput StdinInput 3000\n"))
        #expect(parsed.contains("calls count 3000\n"))  // the duration histogram counts every call

        // Other paths and methods.
        #expect(get(port, "/nope")?.status == 404)
        #expect(HttpTestClient.request(port: port, method: "POST", path: "/health")?.status == 405)
    }

    @Test func aFailingFilterIsUnhealthyUntilItIsFixed() throws {
        let h = ReloadHarness()
        h.put("lua.d/filters/fragile.toml", "message_matcher = \"Type == 'StdinInput'\"\n[retries]\nmax_retries = 0\n")
        h.put("lua.d/filters/fragile.lua", "function process_message() error('the input is not what I expected') end\n")
        let port = try start(h, global: "health_window = 0")
        defer { h.finish() }
        #expect(health(port)?.0 == 200)
        h.send(["one"])
        h.waitUntil("it is terminated") { h.status("fragile")?.state == .terminated }
        let (status, doc) = try #require(health(port))
        #expect(status == 503)
        #expect(doc["status"] as? String == "unhealthy")
        let problems = (doc["problems"] as? [String]) ?? []
        #expect(problems.contains { $0.hasPrefix("fragile: ") && $0.contains("the input is not what I expected") })
        h.put("lua.d/filters/fragile.lua", "function process_message() return 0 end\n")
        h.waitUntil("the fixed script is healthy") { health(port)?.0 == 200 }
    }

    @Test func aRestartedFilterIsUnhealthyWithinTheWindow() throws {
        let h = ReloadHarness()
        h.put("lua.d/filters/flaky.toml", "message_matcher = \"Type == 'StdinInput'\"\n")
        h.put("lua.d/filters/flaky.lua", "function process_message() if read_message('Payload') == 'boom' then error('boom') end return 0 end\n")
        let port = try start(h, global: "health_window = \"2s\"")
        defer { h.finish() }
        h.send(["boom"])
        h.waitUntil("it was terminated") { h.counter("flaky", "terminations") == 1 }
        // The termination is counted before it is reported to the health state: wait for
        // the report itself.
        h.waitUntil("/health reports the termination") {
            guard let (status, doc) = health(port) else { return false }
            return status == 503 && ((doc["problems"] as? [String]) ?? []).contains { $0.hasPrefix("flaky: ") && $0.contains("boom") }
        }
        h.waitUntil("healthy once the window passed") { health(port)?.0 == 200 }
        #expect(h.status("flaky")?.state == .running)
    }

    @Test func anAdminAddressAlreadyTakenIsAStartUpError() throws {
        let taken = try Socket.listen("127.0.0.1:0")
        defer { close(taken) }
        let port = boundPort(taken)
        let dir = temporaryDirectory()
        let path = dir.appendingPathComponent("a.toml").path
        FileManager.default.createFile(atPath: path, contents: Data("[luapiped]\nadmin_address = \"127.0.0.1:\(port)\"\n[StdinInput]\n".utf8))
        let pipeline = try Pipeline(config: try PipelineConfig.load(path: path), stdin: -1)
        #expect {
            try pipeline.open()
        } throws: { error in
            "\(error)".contains("[luapiped] admin_address: cannot serve on 127.0.0.1:\(port)")
        }
    }

    /// SIGUSR1 logs the counters and emits a heka.all-report that a filter receives, in
    /// Heka's JSON shape.
    @Test func sigusr1EmitsAnAllReportAFilterReceives() throws {
        let dir = temporaryDirectory()
        func put(_ name: String, _ text: String) { FileManager.default.createFile(atPath: dir.appendingPathComponent(name).path, contents: Data(text.utf8)) }
        put("luapiped.toml", """
            [luapiped]
            base_dir = "state"
            report_interval = 0

            [StdinInput]

            [reports]
            type = "SandboxFilter"
            filename = "reports.lua"
            message_matcher = "Type == 'heka.all-report'"

            [out]
            type = "FileOutput"
            path = "reports.json"
            message_matcher = "Type == 'heka.sandbox.report'"
            encoder = "PayloadEncoder"

            [PayloadEncoder]
            """)
        put("reports.lua", """
            function process_message()
              inject_message({Type = "report", Payload = read_message("Payload")})
              return 0
            end
            """)
        // Its StdinInput must not reach the end of its input: the daemon would then end
        // before the signal (it did, under load).
        let daemon = try CrashRecoveryTests.Daemon(in: dir, holdStdin: true)
        defer { terminateAndWait(daemon.process) }
        #expect(daemon.output.wait(for: "running"))
        #expect(kill(daemon.process.processIdentifier, SIGUSR1) == 0)
        let path = dir.appendingPathComponent("reports.json").path
        let text = try #require(eventually("the filter received the report", detail: { daemon.output.text }) { () -> String? in
            guard let t = try? String(contentsOfFile: path, encoding: .utf8), !t.isEmpty else { return nil }
            return t
        })
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(text.split(separator: "\n")[0].utf8)) as? [String: Any])
        let filters = try #require(doc["filters"] as? [[String: Any]])
        let me = try #require(filters.first { $0["Name"] as? String == "reports" })
        #expect(me["Type"] as? String == "SandboxFilter")
        #expect((me["ProcessMessageCount"] as? [String: Any])?["representation"] as? String == "messages")
        #expect((doc["inputs"] as? [[String: Any]])?.first?["Name"] as? String == "StdinInput")
        #expect(doc["globals"] != nil && doc["outputs"] != nil && doc["decoders"] != nil && doc["encoders"] != nil)
        #expect(daemon.output.wait(for: "reports: "))  // the counters were logged too
    }

    /// A head over about 8 KiB gets 431; 64 connections are served, more get 503 or are
    /// refused at once, and the server answers again once they close.
    @Test func badHeadsAndTooManyConnections() throws {
        let h = ReloadHarness()
        let port = try start(h)
        defer { h.finish() }
        h.waitUntil("the admin server answers") { health(port) != nil }
        #expect(HttpTestClient.request(port: port, method: "GET", path: "/health", headers: ["X-Pad": String(repeating: "a", count: 4000)])?.status == 200)
        #expect(HttpTestClient.request(port: port, method: "GET", path: "/health", headers: ["X-Pad": String(repeating: "a", count: 16000)])?.status == 431)
        var idle: [Int32] = []
        defer { for fd in idle { close(fd) } }
        for _ in 0..<60 { if let fd = try? Socket.connect("127.0.0.1:\(port)") { idle.append(fd) } }
        #expect(idle.count == 60)
        #expect(health(port)?.0 == 200)
        for _ in 0..<40 { if let fd = try? Socket.connect("127.0.0.1:\(port)") { idle.append(fd) } }
        h.waitUntil("a new request is turned away") {
            guard let r = HttpTestClient.request(port: port, method: "GET", path: "/health") else { return true }  // refused at accept
            return r.status == 503 && r.headers["retry-after"] == "1"
        }
        for fd in idle { close(fd) }
        idle = []
        h.waitUntil("it answers again") { health(port)?.0 == 200 }
        // A client that never finishes its head is cut off after 10 s.
        let slow = try #require(try? Socket.connect("127.0.0.1:\(port)"))
        defer { close(slow) }
        #expect(Socket.writeAll(slow, Array("GET /health HTTP/1.1\r\nHost: x\r\n".utf8)))
        var byte: UInt8 = 0
        eventually("the slow client is cut off", timeout: .seconds(30)) { Socket.readable(slow, ms: 100) && recv(slow, &byte, 1, 0) <= 0 }
    }
}

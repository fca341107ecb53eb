#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import LuaPipeline

/// DashboardOutput and the page: a filter's circular buffer served as Heka's cbuf text,
/// drawn by the page in a real (headless) Chromium, and served again after a restart.
@Suite struct DashboardTests {
    static let lines = """
        require "circular_buffer"
        local cb = circular_buffer.new(600, 1, 1)
        cb:set_header(1, "Lines", "count", "sum")
        function process_message() cb:add(read_message("Timestamp"), 1, 1) return 0 end
        function timer_event(ns)
          inject_payload("cbuf", "Lines per second", cb)
          inject_payload("txt", "note", "a text output")
        end
        """

    /// A daemon with a TCP line input, the `lines` filter, a DashboardOutput writing each
    /// second, and the admin server, both on free ports (returned).
    func start(_ h: ReloadHarness) throws -> (tcpPort: Int, adminPort: Int) {
        let tcpPort = try freeTcpPort(), adminPort = try freeTcpPort()
        h.put("lines.lua", Self.lines)
        h.put("luapiped.toml", h.configText(Self.tcpLines(port: tcpPort) + """

            [lines]
            type = "SandboxFilter"
            filename = "lines.lua"
            message_matcher = "Logger == 'tcp_lines'"
            ticker_interval = 1

            [DashboardOutput]
            ticker_interval = 1
            """, global: "admin_address = \"127.0.0.1:\(adminPort)\""))
        try h.start()
        return (tcpPort, adminPort)
    }

    /// A TCP input of lines (one message each, Logger tcp_lines).
    static func tcpLines(port: Int) -> String {
        """
            [tcp_lines]
            type = "TcpInput"
            address = "127.0.0.1:\(port)"
            splitter = "LineSplitter"

            [LineSplitter]
            type = "TokenSplitter"

            """
    }

    /// Sends lines to the TCP input on `port` (once it listens).
    static func send(_ lines: [String], to port: Int) throws {
        let fd = try #require(eventually("the TCP input listens") { try? Socket.connect("127.0.0.1:\(port)") })
        #expect(Socket.writeAll(fd, Array(lines.map { $0 + "\n" }.joined().utf8)))
        close(fd)
    }

    static let id = "lines.Lines per second.cbuf"
    static let path = "/api/outputs/lines.Lines%20per%20second.cbuf"

    /// The sum of a cbuf text's values (NaN rows are empty).
    static func cbufSum(_ text: String) -> Int? {
        let lines = text.split(separator: "\n")
        guard let header = lines.first, header.hasPrefix("{\"time\":") else { return nil }
        return lines.dropFirst().reduce(0) { $0 + (Double($1).map { $0.isNaN ? 0 : Int($0) } ?? 0) }
    }

    @Test func aFiltersCbufIsServedCountedAndDrawn() throws {
        let h = ReloadHarness()
        let (tcpPort, adminPort) = try start(h)
        defer { h.stop() }
        try Self.send((0..<3000).map { "line \($0)" }, to: tcpPort)
        h.waitUntil("the cbuf sums to 3,000") {
            HttpTestClient.request(port: adminPort, method: "GET", path: Self.path).flatMap { Self.cbufSum($0.body) } == 3000
        }
        // The text output is injected after the cbuf in the same timer_event, so it can
        // reach the dashboard a moment later: wait for it too.
        h.waitUntil("the text output is listed") {
            HttpTestClient.request(port: adminPort, method: "GET", path: "/api/outputs")?.body.contains("\"lines.note.txt\"") == true
        }
        let list = try #require(HttpTestClient.request(port: adminPort, method: "GET", path: "/api/outputs"))
        let items = try #require(try JSONSerialization.jsonObject(with: Data(list.body.utf8)) as? [[String: Any]])
        let cbuf = try #require(items.first { $0["id"] as? String == Self.id })
        #expect(cbuf["plugin"] as? String == "lines" && cbuf["type"] as? String == "cbuf" && cbuf["name"] as? String == "Lines per second")
        #expect(items.contains { $0["id"] as? String == "lines.note.txt" })
        let health = try #require(HttpTestClient.request(port: adminPort, method: "GET", path: "/health"))
        #expect(health.body.contains("\"lines\":{\"type\":\"SandboxFilter\""))
        #expect(h.counter("lines", "processed") == 3000)
        let metrics = try #require(HttpTestClient.request(port: adminPort, method: "GET", path: "/metrics"))
        let parsed = try HealthEndpointTests.prometheusSamples(metrics.body)
        #expect(parsed.contains("lines SandboxFilter 3000\n"))
        #expect(parsed.contains("tcp_lines TcpInput 3000\n"))

        // Headless Chromium renders the page from plain GETs: every plugin, a canvas per
        // graph, the cbuf's name.
        let chromium = Process()
        chromium.executableURL = URL(fileURLWithPath: "/usr/bin/chromium")
        chromium.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=8000",
                              "--user-data-dir=\(h.path("chromium"))", "--dump-dom", "http://127.0.0.1:\(adminPort)/?nostream=1"]
        let out = Pipe()
        chromium.standardOutput = out
        chromium.standardError = FileHandle.nullDevice
        try chromium.run()
        let collected = PipeCollector(out)
        #expect(waitForExit(chromium, "chromium dumped the page", timeout: .seconds(30)) == 0)
        let dom = collected.finish()
        for name in ["tcp_lines", "lines", "DashboardOutput", "counts", "events", "Lines per second", "a text output"] {
            #expect(dom.contains(name), "\(name) is not on the page")
        }
        #expect(dom.contains("<canvas"))
    }

    @Test func storedPayloadsAreServedAfterARestart() throws {
        let h = ReloadHarness()
        let (tcpPort, adminPort) = try start(h)
        try Self.send((0..<10).map { "line \($0)" }, to: tcpPort)
        h.waitUntil("the cbuf is written to disk") {
            (try? String(contentsOfFile: h.path("state/dashboard/data/\(Self.id)"), encoding: .utf8)).flatMap(Self.cbufSum) == 10
        }
        h.stop()

        // Started again without the filter: what was stored is served at once.
        let again = ReloadHarness()
        try FileManager.default.createDirectory(atPath: again.path("state"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: h.path("state/dashboard"), toPath: again.path("state/dashboard"))
        again.put("luapiped.toml", again.configText("[DashboardOutput]\n", global: "admin_address = \"127.0.0.1:\(adminPort)\""))
        try again.start()
        defer { again.finish() }
        let r = try #require(eventually("the admin server answers") { HttpTestClient.request(port: adminPort, method: "GET", path: Self.path) })
        #expect(r.status == 200)
        #expect(Self.cbufSum(r.body) == 10)
    }

    @Test func aBareDashboardOutputIsValid() throws {
        let dir = temporaryDirectory()
        let path = dir.appendingPathComponent("d.toml").path
        FileManager.default.createFile(atPath: path, contents: Data("[StdinInput]\n[DashboardOutput]\n".utf8))
        let c = try PipelineConfig.load(path: path)
        #expect(c.plugins.contains { $0.type.name == "DashboardOutput" })
    }

    /// `/api/stream` sends health every second and an `output` event when a filter output
    /// changes; a client that never reads holds nothing up.
    @Test func theStreamFollowsChangesAndASilentClientHoldsNothingUp() throws {
        let h = ReloadHarness()
        let (tcpPort, adminPort) = try start(h)
        defer { h.stop() }
        func openStream() throws -> Int32 {
            let fd = try #require(eventually("the admin server accepts") { try? Socket.connect("127.0.0.1:\(adminPort)") })
            #expect(Socket.writeAll(fd, Array("GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)))
            return fd
        }
        let silent = try openStream()  // never read
        defer { close(silent) }
        let fd = try openStream()
        defer { close(fd) }
        var received = ""
        var buf = [UInt8](repeating: 0, count: 65536)
        func read(until part: String) {
            eventually("the stream sent \(part)", timeout: .seconds(30)) {
                if Socket.readable(fd, ms: 50) {
                    let n = recv(fd, &buf, buf.count, 0)
                    if n > 0 { received += String(decoding: buf[0..<n], as: UTF8.self) }
                }
                return received.contains(part)
            }
        }
        read(until: "event: health\ndata: {\"status\":\"ok\"")
        #expect(received.contains("Content-Type: text/event-stream"))
        try Self.send(["a line"], to: tcpPort)
        read(until: "event: output\ndata: {\"id\":\"lines.Lines per second.cbuf\"")
        #expect(HttpTestClient.request(port: adminPort, method: "GET", path: "/health")?.status == 200)
        // The silent client subscribes on its own connection's thread.
        h.waitUntil("both stream clients are subscribed") { h.pipeline.dashboard.hub.clientCount == 2 }
    }

    /// Selenium and Chromium: the live page redraws a graph when more lines arrive,
    /// without a reload; the screenshot is kept beside the test's files.
    @Test func aLiveGraphChangesWithoutAReload() throws {
        let h = ReloadHarness()
        let (tcpPort, adminPort) = try start(h)
        defer { h.stop() }
        func send(_ n: Int) throws {
            try Self.send((0..<n).map { "line \($0)" }, to: tcpPort)
        }
        try send(100)
        let shot = h.path("dashboard.png")
        let driver = Process()
        driver.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        driver.arguments = ["python3", repositoryRoot.appendingPathComponent("Tests/drivers/dashboard_live.py").path,
                            "http://127.0.0.1:\(adminPort)/", Self.id, shot]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        driver.standardInput = input
        driver.standardOutput = output
        driver.standardError = errors
        try driver.run()
        let said = PipeCollector(output), complained = PipeCollector(errors)
        defer { if driver.isRunning { terminateAndWait(driver) } }
        #expect(said.wait(for: "READY "), "\(complained.text)")
        try send(250)
        input.fileHandleForWriting.write(Data("sent\n".utf8))
        #expect(waitForExit(driver, "the page redrew the graph", timeout: .seconds(90)) == 0, "\(complained.finish())")
        #expect(said.finish().contains("CHANGED"))
        #expect(FileManager.default.fileExists(atPath: shot))
    }

    /// 20,000 payloads over 200 outputs with a stream client that never reads: the
    /// daemon's memory stays flat (within 10% from 2,000 to 20,000), the silent client's
    /// lost events are counted, and every payload is counted.
    @Test func manyPayloadsAndASilentClientKeepMemoryFlat() throws {
        let dir = temporaryDirectory()
        let tcpPort = try freeTcpPort(), adminPort = try freeTcpPort()
        func put(_ name: String, _ text: String) { FileManager.default.createFile(atPath: dir.appendingPathComponent(name).path, contents: Data(text.utf8)) }
        put("luapiped.toml", """
            [luapiped]
            base_dir = "state"
            admin_address = "127.0.0.1:\(adminPort)"
            report_interval = 0

            \(Self.tcpLines(port: tcpPort))

            [outputs]
            type = "SandboxFilter"
            filename = "outputs.lua"
            message_matcher = "Logger == 'tcp_lines'"

            [DashboardOutput]
            ticker_interval = 1
            """)
        put("outputs.lua", """
            function process_message()
              local i = tonumber(read_message("Payload"))
              inject_payload("txt", "output " .. (i % 200), "payload " .. i .. " " .. string.rep("x", 200))
              return 0
            end
            """)
        let daemon = try CrashRecoveryTests.Daemon(in: dir)
        defer { terminateAndWait(daemon.process) }
        #expect(daemon.output.wait(for: "running"))
        // The silent client: a small receive buffer, never read.
        let silent = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(silent) }
        var small: Int32 = 4096
        setsockopt(silent, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        var to = sockaddr_in()
        to.sin_family = sa_family_t(AF_INET)
        to.sin_port = in_port_t(UInt16(adminPort).bigEndian)
        to.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &to) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(silent, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        #expect(connected == 0)
        #expect(Socket.writeAll(silent, Array("GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)))

        func health() -> [String: Any]? {
            HttpTestClient.request(port: adminPort, method: "GET", path: "/health").flatMap { try? JSONSerialization.jsonObject(with: Data($0.body.utf8)) as? [String: Any] }
        }
        func written() -> Int {
            ((((health()?["plugins"] as? [String: Any])?["DashboardOutput"] as? [String: Any])?["counters"] as? [String: Any])?["written"] as? Int) ?? 0
        }
        func rss() -> Int {
            let status = (try? String(contentsOfFile: "/proc/\(daemon.process.processIdentifier)/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
        func send(_ range: Range<Int>) throws {
            try Self.send(range.map { "\($0)" }, to: tcpPort)
        }
        eventually("the silent client is following the stream") { (health()?["stream"] as? [String: Any])?["clients"] as? Int == 1 }
        // In steps of 2,000, each taken in before the next, so the router holds the same
        // at each measurement.
        var early = 0
        for step in 0..<10 {
            try send(step * 2000..<(step + 1) * 2000)
            eventually("\((step + 1) * 2000) payloads kept", timeout: .seconds(60)) { written() == (step + 1) * 2000 }
            if step == 0 { early = rss() }
        }
        let late = rss()
        #expect(Double(late) <= Double(early) * 1.10, "RSS \(early) KiB after 2,000, \(late) KiB after 20,000")
        let list = try #require(HttpTestClient.request(port: adminPort, method: "GET", path: "/api/outputs"))
        let items = try #require(try JSONSerialization.jsonObject(with: Data(list.body.utf8)) as? [[String: Any]])
        #expect(items.count == 200)
        let last = try #require(HttpTestClient.request(port: adminPort, method: "GET", path: "/api/outputs/outputs.output%20199.txt"))
        #expect(last.body.hasPrefix("payload 19999 "))
        let dropped = (health()?["stream"] as? [String: Any])?["dropped"] as? Int ?? 0
        #expect(dropped > 0, "the silent client lost events, counted")
    }
}

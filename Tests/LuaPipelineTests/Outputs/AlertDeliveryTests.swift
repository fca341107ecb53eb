import Foundation
import Testing
@testable import LuaPipeline

/// Alerts leave through HttpOutput and SmtpOutput to sinks the tests start on loopback
/// (Tests/drivers), including while those sinks are down for a while.
@Suite struct AlertDeliveryTests {
    let h = ReloadHarness()
    let lua = repositoryRoot.appendingPathComponent("lua").path

    /// Starts a driver script on `port`, writing into `dir`; waits until it accepts connections.
    static func startSink(_ script: String, port: Int, dir: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", repositoryRoot.appendingPathComponent("Tests/drivers/\(script)").path, String(port), dir]
        p.standardOutput = FileHandle.nullDevice
        let err = Pipe()
        p.standardError = err
        try p.run()
        let stderr = PipeCollector(err)
        enum Readiness { case listening, exited }
        let ready = eventually("\(script) listens on \(port) or exits", timeout: .seconds(30)) { () -> Readiness? in
            if let fd = try? Socket.connect("127.0.0.1:\(port)") {
                close(fd)
                return .listening
            }
            return p.isRunning ? nil : .exited
        }
        switch ready {
        case .listening?:
            return p
        case .exited?:
            waitForExit(p)
            throw SinkError(description: "\(script) did not start (install its needs with scripts/install-deps): \(stderr.finish())")
        case nil:
            terminateAndWait(p)
            throw SinkError(description: "\(script) did not listen on \(port)")
        }
    }

    struct SinkError: Error, CustomStringConvertible { let description: String }

    private func config(http: Int, smtp: Int) -> String {
        """
        [luapiped]
        base_dir = "state"
        share_dir = "\(lua)"

        [StdinInput]

        [alerter]
        type = "SandboxFilter"
        filename = "alerter.lua"
        message_matcher = "Type == 'StdinInput'"

        [alert_text]
        type = "SandboxEncoder"
        filename = "encoders/alert.lua"

        [webhook]
        type = "HttpOutput"
        message_matcher = "Fields[payload_type] == 'alert'"
        address = "http://127.0.0.1:\(http)/hooks/alerts"
        encoder = "alert_text"
        username = "luapiped"
        password = "pw"
        http_timeout = 2000
        [webhook.headers]
        X-Team = "ops"

        [json_hook]
        type = "HttpOutput"
        message_matcher = "Fields[payload_type] == 'alert'"
        address = "http://127.0.0.1:\(http)/json"

        [mail]
        type = "SmtpOutput"
        message_matcher = "Fields[payload_type] == 'alert'"
        host = "127.0.0.1:\(smtp)"
        send_from = "luapiped@example.org"
        send_to = ["ops@example.org", "oncall@example.org"]
        subject = "luapiped alert"
        auth = "Plain"
        user = "alerts"
        password = "secret"
        encoder = "alert_text"
        """
    }

    @Test func alertsReachHttpAndSmtpSinksEvenAfterTheyWereDown() throws {
        let httpPort = try freeTcpPort(), smtpPort = try freeTcpPort()
        let sinkDir = h.path("sink")
        try FileManager.default.createDirectory(atPath: sinkDir, withIntermediateDirectories: true)
        h.put("alerter.lua", """
            local alert = require "alert"
            alert.set_throttle(0)
            function process_message()
              alert.send(read_message("Timestamp"), read_message("Payload"), "disk")
              return 0
            end
            """)
        h.put("luapiped.toml", config(http: httpPort, smtp: smtpPort))
        try h.start()
        // Both sinks are down: the alerts wait.
        h.send(["disk full on db1", "disk full on db2"])
        h.waitUntil("the outputs retried") {
            h.counter("webhook", "retries") > 0 && h.counter("mail", "retries") > 0 && h.counter("json_hook", "retries") > 0
        }
        // The HTTP sink comes up, answering 503 twice first; the SMTP sink comes up too.
        FileManager.default.createFile(atPath: sinkDir + "/fail_next", contents: Data("2".utf8))
        let http = try Self.startSink("http_sink.py", port: httpPort, dir: sinkDir)
        defer { terminateAndWait(http) }
        let smtp = try Self.startSink("smtp_sink.py", port: smtpPort, dir: sinkDir)
        defer { terminateAndWait(smtp) }
        h.send(["reject-me: a 4xx is skipped", "disk full on db3"])
        h.waitUntil("every alert is delivered") {
            h.counter("webhook", "sent") + h.counter("webhook", "rejected") == 4 && h.counter("json_hook", "sent") + h.counter("json_hook", "rejected") == 4
                && h.counter("mail", "mailed_messages") == 4
        }
        h.finish()

        let received = sinkRequests(in: h.path("sink"))
        let hooks = received.filter { $0["path"] as? String == "/hooks/alerts" }
        #expect(hooks.map { ($0["body"] as? String ?? "").split(separator: "\n").last.map(String.init) ?? "" }
                == ["disk full on db1", "disk full on db2", "disk full on db3"])
        #expect(hooks.allSatisfy { ($0["body"] as? String)?.hasPrefix("Alert: disk (from alerter on ") == true })
        #expect(hooks.allSatisfy { $0["auth"] as? String == "Basic " + Data("luapiped:pw".utf8).base64EncodedString() && $0["x"] as? String == "ops" })
        let json = received.filter { $0["path"] as? String == "/json" }
        #expect(json.count == 3 && json.allSatisfy { ($0["type"] as? String) == "application/json" && ($0["body"] as? String)?.contains("\"payload_type\":{\"value\":\"alert\",\"representation\":\"file-extension\"}") == true })
        #expect(h.counter("webhook", "rejected") == 1 && h.counter("json_hook", "rejected") == 1)

        let mails = try FileManager.default.contentsOfDirectory(atPath: sinkDir).filter { $0.hasSuffix(".eml") }.sorted()
        let texts = try mails.map { try String(contentsOfFile: sinkDir + "/" + $0, encoding: .utf8) }
        // Every alert once (alerts that waited together may share an e-mail); e-mail has no
        // 4xx to refuse on, so the "reject-me" alert is mailed too.
        #expect(texts.map { $0.components(separatedBy: "Alert: disk (from alerter").count - 1 }.reduce(0, +) == 4)
        for alert in ["disk full on db1", "disk full on db2", "reject-me", "disk full on db3"] {
            #expect(texts.filter { $0.contains(alert) }.count == 1, "\(alert)")
        }
        #expect(texts.allSatisfy { $0.contains("X-Envelope-To: ops@example.org,oncall@example.org") && $0.contains("Subject: luapiped alert") })
        #expect(texts.contains { $0.contains("disk full on db3") })
    }

    @Test func badOutputSettingsAreReported() throws {
        h.put("luapiped.toml", """
            [luapiped]
            base_dir = "state"
            [mail]
            type = "SmtpOutput"
            message_matcher = "TRUE"
            send_from = "a@example.org"
            send_to = ["b@example.org"]
            auth = "Plain"
            """)
        #expect(throws: ConfigErrors.self) { _ = try Pipeline(config: try PipelineConfig.load(path: h.configPath)) }
    }
}

#if canImport(Glibc)
import Glibc
#endif

import Foundation
import Testing
@testable import LuaPipeline

/// NatsOutput and NatsInput against a real nats-server with JetStream (started by each
/// test on a free port): a local pipeline publishes what it reads on standard input, a
/// global one consumes it into a file.
@Suite(.serialized) struct NatsTests {
    let local = ReloadHarness()
    let global = ReloadHarness()

    func localConfig(_ servers: [String], stream: String = "LOGS", subject: String = "logs.local", extra: String = "") -> String {
        local.configText("""
            [nats]
            type = "NatsOutput"
            message_matcher = "Logger == 'StdinInput'"
            servers = [\(servers.map { "\"\($0)\"" }.joined(separator: ", "))]
            subject = "\(subject)"
            stream = "\(stream)"
            ack_wait = "2s"
            \(extra)
            """)
    }

    func globalConfig(_ servers: [String], stream: String = "LOGS", extra: String = "") -> String {
        global.configText("""
            [nin]
            type = "NatsInput"
            servers = [\(servers.map { "\"\($0)\"" }.joined(separator: ", "))]
            subject = "logs.local"
            stream = "\(stream)"
            \(extra)

            [received]
            type = "FileOutput"
            path = "out/received.txt"
            message_matcher = "Logger == 'StdinInput'"
            encoder = "PayloadEncoder"
            """)
    }

    func stopBoth() {
        for h in [local, global] where h.pipeline != nil {
            h.stop()
        }
    }

    func received() -> [String] { global.lines("out/received.txt") }

    @Test func everyMessageArrivesOnceAcrossANatsRestart() throws {
        // Both daemons start before NATS does: they keep trying.
        let nats = try NatsServer(dir: local.dir)
        defer { nats.kill9() }
        local.put("luapiped.toml", localConfig([nats.url]))
        global.put("luapiped.toml", globalConfig([nats.url]))
        try local.start()
        try global.start()
        defer { stopBoth() }
        local.waitUntil("the unreachable server is logged") { local.counter("nats", "stream_errors") >= 1 }
        try nats.start()

        local.send(count: 500)
        global.waitUntil("the first 500 arrived") { received().count >= 500 }
        // JetStream's acknowledgements reach the publisher apart from the deliveries.
        local.waitUntil("JetStream acknowledged the first 500") { local.counter("nats", "sent") == 500 }

        // NATS restarts with its store: what is published meanwhile waits in the router
        // and is sent again; JetStream and the global Uuid check drop the resends.
        nats.stop()
        local.send(count: 500, from: 500)
        try nats.start()
        global.waitUntil("all 1,000 arrived") { received().count >= 1000 }
        local.waitUntil("the local output's cursor is past all 1,000") { local.counter("nats", "lag_messages") == 0 }
        // The global input acknowledges a batch after its output may have written it.
        global.waitUntil("the global input acknowledged all 1,000") { global.counter("nin", "acknowledged") >= 1000 }
        let lines = received()
        #expect(lines.count == 1000)
        #expect(Set(lines) == Set((0..<1000).map { "line \($0)" }))
        #expect(local.counter("nats", "disconnects") >= 1)
    }

    @Test func aMessageThatIsNotProtobufIsTerminatedAndTheRestArrive() throws {
        let nats = try NatsServer(dir: local.dir)
        try nats.start()
        defer { nats.kill9() }
        local.put("luapiped.toml", localConfig([nats.url]))
        global.put("luapiped.toml", globalConfig([nats.url]))
        try local.start()
        local.send(count: 100)
        local.waitUntil("100 published") { local.counter("nats", "sent") == 100 }
        try natsTool([nats.url, "publish", "logs.local", "this is not a protobuf message"])
        local.send(count: 100, from: 100)
        local.waitUntil("200 published") { local.counter("nats", "sent") == 200 }
        try global.start()
        defer { stopBoth() }

        global.waitUntil("the 200 good messages arrived and the bad one was terminated") {
            received().count == 200 && global.counter("nin", "terminated") == 1
        }
        #expect(global.logged.withLock { $0 }.contains { $0.contains("terminating a NATS message that does not decode") })
        #expect(global.counter("nin", "decode_failures") == 1)
        // Terminated, so not pending and never delivered again.
        global.waitUntil("the consumer has nothing pending") { (try? natsTool([nats.url, "consumer-pending", "LOGS", "nin"]))?.hasPrefix("0 0") ?? false }
        #expect(global.counter("nin", "terminated") == 1)
    }

    @Test func aStreamThatDoesNotCoverTheSubjectIsAClearErrorAndTheOtherOutputsGoOn() throws {
        let nats = try NatsServer(dir: local.dir)
        try nats.start()
        defer { nats.kill9() }
        try natsTool([nats.url, "add-stream", "OTHER", "other.>"])
        local.put("luapiped.toml", localConfig([nats.url], stream: "OTHER", extra: """

            [copy]
            type = "FileOutput"
            path = "out/copy.txt"
            message_matcher = "Logger == 'StdinInput'"
            encoder = "PayloadEncoder"
            """))
        try local.start()
        defer { stopBoth() }
        local.send(count: 50)
        local.waitUntil("the error is logged and counted") {
            local.counter("nats", "stream_errors") >= 1
                && local.logged.withLock { $0 }.contains { $0.contains("stream OTHER takes subjects [other.>], none of which covers subject logs.local") }
        }
        local.waitUntil("the other output has every message") { local.lines("out/copy.txt").count == 50 }
        // Nothing was acknowledged for NATS: the 50 wait in its reader.
        local.waitUntil("they show in its lag") { local.counter("nats", "lag_messages") == 50 }
        #expect(local.counter("nats", "sent") == 0)
    }

    @Test func aClusterLosesNothingWhenANodeIsKilled() throws {
        let nodes = try NatsServer.cluster(dir: local.dir)
        defer { nodes.forEach { $0.kill9() } }
        let urls = nodes.map(\.url)
        local.put("luapiped.toml", localConfig(urls, extra: "stream_replicas = 3"))
        global.put("luapiped.toml", globalConfig(urls, extra: "stream_replicas = 3"))
        try local.start()
        try global.start()
        defer { stopBoth() }

        local.send(count: 300)
        global.waitUntil("the first 300 arrived") { received().count >= 300 }
        nodes[0].kill9()
        local.send(count: 300, from: 300)
        global.waitUntil("all 600 arrived") { Set(received()).count == 600 }
        #expect(received().count == 600)
        #expect(Set(received()) == Set((0..<600).map { "line \($0)" }))
    }

    @Test func aWrongPasswordIsAClearErrorAndTheRightOneWorks() throws {
        let nats = try NatsServer(dir: local.dir, extra: ["--user", "app", "--pass", "s3cret"])
        try nats.start()
        defer { nats.kill9() }
        local.put("luapiped.toml", localConfig([nats.url], extra: "user = \"app\"\npassword = \"wrong\""))
        try local.start()
        local.send(count: 10)
        local.waitUntil("the refusal is logged and nothing is acknowledged") {
            local.logged.withLock { $0 }.contains { $0.contains("nats: error: NATS: Authorization Violation") }
        }
        #expect(local.counter("nats", "sent") == 0)
        local.stop()

        global.put("luapiped.toml", globalConfig([nats.url], extra: "user = \"app\"\npassword = \"s3cret\""))
        try global.start()
        defer { stopBoth() }
        let right = ReloadHarness()
        right.put("luapiped.toml", right.configText("""
            [nats]
            type = "NatsOutput"
            message_matcher = "Logger == 'StdinInput'"
            servers = ["\(nats.url)"]
            subject = "logs.local"
            stream = "LOGS"
            user = "app"
            password = "s3cret"
            """))
        try right.start()
        defer { right.stop() }
        right.send(count: 10)
        global.waitUntil("the ten arrive") { received().count == 10 }
    }
}

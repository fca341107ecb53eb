#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import LuaPipeline

/// The topology of docs/topology.md, with real servers: a local luapiped (a tailed file,
/// StatsD, acknowledged TCP) → NATS JetStream → a global luapiped → ClickHouse (events),
/// VictoriaMetrics and carbon (metrics) and a file (logs). The global daemon is killed
/// with SIGKILL and NATS restarted mid-run; every store then reads back what was sent.
@Suite(.serialized) struct TopologyTests {
    let dir = temporaryDirectory()

    func path(_ relative: String) -> String { dir.appendingPathComponent(relative).path }

    static func localConfig(dir: String, nats: String, statsd: Int, events: Int) -> String {
        """
        [luapiped]
        base_dir = "\(dir)/local-state"
        sandbox_dir_watch = "off"
        admin_address = ""

        [app_log]
        type = "LogstreamerInput"
        log_directory = "\(dir)/logs"
        file_match = 'app\\.log'
        rescan_interval = "100ms"

        [StatsdInput]
        address = "127.0.0.1:\(statsd)"

        [StatAccumInput]
        ticker_interval = 2
        emit_in_fields = true

        [events]
        type = "TcpInput"
        address = "127.0.0.1:\(events)"
        ack = true

        [to_nats]
        type = "NatsOutput"
        message_matcher = "Logger == 'app_log' || Type == 'heka.statmetric' || Type == 'event'"
        servers = ["\(nats)"]
        subject = "luapiped.local"
        stream = "LUAPIPED"
        ack_wait = "2s"
        """
    }

    static func globalConfig(dir: String, nats: String, clickhouse: Int, victoria: Int, carbon: Int) -> String {
        """
        [luapiped]
        base_dir = "\(dir)/global-state"
        sandbox_dir_watch = "off"
        admin_address = ""

        [from_nats]
        type = "NatsInput"
        servers = ["\(nats)"]
        subject = "luapiped.local"
        stream = "LUAPIPED"
        ack_wait = "2s"

        [logs]
        type = "FileOutput"
        message_matcher = "Logger == 'app_log'"
        path = "\(dir)/received/app.log"
        encoder = "PayloadEncoder"

        [PayloadEncoder]

        [clickhouse]
        type = "HttpOutput"
        message_matcher = "Type == 'event'"
        address = "http://127.0.0.1:\(clickhouse)/?query=INSERT%20INTO%20events%20FORMAT%20JSONEachRow"
        encoder = "JsonEachRow"
        flush_count = 200
        flush_interval = 200
        compression = "gzip"

        [JsonEachRow]
        type = "SandboxEncoder"
        filename = "\(repositoryRoot.path)/lua/encoders/json_each_row.lua"
            [JsonEachRow.config]
            headers = "Uuid Timestamp Payload"

        [victoria]
        type = "HttpOutput"
        message_matcher = "Type == 'heka.statmetric'"
        address = "http://127.0.0.1:\(victoria)/write?precision=s"
        encoder = "InfluxLine"
        flush_count = 100
        flush_interval = 200

        [InfluxLine]
        type = "SandboxEncoder"
        filename = "\(repositoryRoot.path)/lua/encoders/schema_influx_line.lua"
            [InfluxLine.config]
            skip_fields = "**all_base** timestamp"
            tag_fields = "Hostname"
            timestamp_precision = "s"

        [carbon]
        type = "CarbonOutput"
        message_matcher = "Type == 'heka.statmetric'"
        address = "127.0.0.1:\(carbon)"
        """
    }

    func startDaemon(_ name: String) throws -> Spawned {
        try Spawned(CommandLineTests.binary.path, ["run", "-c", path("\(name).toml")], output: path("\(name).log"))
    }

    /// Appends log lines `range` to logs/app.log.
    func appendLines(_ range: Range<Int>) throws {
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path("logs/app.log")))
        h.seekToEndOfFile()
        h.write(Data(range.map { "log line \($0)\n" }.joined().utf8))
        try h.close()
    }

    /// Sends `count` StatsD increments of `hits`, ten per datagram.
    func sendHits(_ count: Int, port: Int) throws {
        let sender = StatsdTests.Sender(port: port)
        for start in stride(from: 0, to: count, by: 10) {
            sender.send(Array(repeating: "hits:1|c", count: min(10, count - start)).joined(separator: "\n"))
            usleep(500)
        }
    }

    @Test func nothingSentIsMissingFromAnyStoreAfterAGlobalCrashAndANatsRestart() throws {
        let nats = try NatsServer(dir: dir)
        try nats.start()
        defer { nats.kill9() }
        let clickhouse = try Stores.clickHouse(dir: dir)
        defer { clickhouse.stop() }
        let victoria = try Stores.victoriaMetrics(dir: dir)
        defer { victoria.stop() }
        let carbon = try Stores.carbon(dir: dir)
        defer { carbon.stop() }
        #expect(Stores.query(clickhouse.port, "CREATE TABLE events (Uuid String, Timestamp DateTime, Payload String) ENGINE = ReplacingMergeTree ORDER BY Uuid").status == 200)

        let statsd = try freeUdpPort(), events = try freeTcpPort()
        try FileManager.default.createDirectory(atPath: path("logs"), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: path("logs/app.log"), contents: nil)
        try Self.localConfig(dir: dir.path, nats: nats.url, statsd: statsd, events: events).write(toFile: path("local.toml"), atomically: true, encoding: .utf8)
        try Self.globalConfig(dir: dir.path, nats: nats.url, clickhouse: clickhouse.port, victoria: victoria.port, carbon: carbon.port)
            .write(toFile: path("global.toml"), atomically: true, encoding: .utf8)
        var global = try startDaemon("global")
        let local = try startDaemon("local")
        defer {
            local.signal(SIGTERM)
            local.wait(30)
            global.signal(SIGTERM)
            global.wait(30)
        }
        let eventCount = 3000
        let sender = AckedSender(address: "127.0.0.1:\(events)", payloads: (0..<eventCount).map { "event \($0)" }, window: 200)
        eventually("the local daemon listens for events") { (try? Socket.connect("127.0.0.1:\(events)")).map { close($0); return true } ?? false }
        sender.start()
        defer { sender.stop() }

        // Phase 1: everything flows.
        try appendLines(0..<1000)
        try sendHits(1000, port: statsd)
        let received = { ((try? String(contentsOfFile: self.path("received/app.log"), encoding: .utf8)) ?? "").split(separator: "\n") }
        eventually("the first log lines reached the global file") { received().count >= 500 }

        // Phase 2: the global daemon dies mid-stream and comes back.
        global.signal(SIGKILL)
        global.wait(10)
        try appendLines(1000..<2000)
        try sendHits(1000, port: statsd)
        global = try startDaemon("global")

        // Phase 3: NATS restarts (its store kept).
        eventually("lines after the crash arrive") { received().count >= 1500 }
        nats.stop()
        try appendLines(2000..<3000)
        try sendHits(1000, port: statsd)
        try nats.start()

        let lines = Set((0..<3000).map { "log line \($0)" })
        eventually("every log line is in the global file", timeout: .seconds(120)) { Set(received().map(String.init)).isSuperset(of: lines) }
        eventually("every event is acknowledged", timeout: .seconds(120)) { sender.acknowledged == eventCount }
        eventually("ClickHouse holds each event once (FINAL)", timeout: .seconds(120)) {
            Stores.count(clickhouse.port, "SELECT count() FROM events FINAL") == eventCount
        }
        #expect(Stores.count(clickhouse.port, "SELECT uniqExact(Payload) FROM events FINAL") == eventCount)
        // StatsD: every increment is counted once in each metrics store (re-deliveries
        // of a statmetric message carry its timestamp: the stores keep one sample).
        eventually("VictoriaMetrics sums to 3,000 hits", timeout: .seconds(120)) {
            _ = Stores.get(victoria.port, "/internal/force_flush")
            let export = Stores.get(victoria.port, "/api/v1/export?match%5B%5D=%7B__name__%3D%22stats.counters.hits.count_value%22%7D")
            let sum = export.split(separator: "\n").reduce(0.0) { total, line in
                let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                return total + ((o?["values"] as? [Double])?.reduce(0, +) ?? 0)
            }
            return sum == 3000
        }
        eventually("carbon sums to 3,000 hits", timeout: .seconds(120)) {
            Stores.whisperValues(path("carbon/storage/whisper/stats/counters/hits/count.wsp")).reduce(0, +) == 3000
        }
        // The file has no store-side deduplication: what a crash re-sends is at most one
        // batch.
        let all = received()
        #expect(all.count - Set(all).count <= 256)
    }
}

import Foundation
import Testing
@testable import LuaPipeline

/// HttpOutput's batches against stores: an HTTP sink that refuses, fails, hangs and answers
/// as Elasticsearch's bulk API does; real ClickHouse and VictoriaMetrics; CarbonOutput into
/// a real carbon-cache. Each store starts on a free port and stops with the test.
@Suite(.serialized) struct StoreOutputTests {
    let h = ReloadHarness()

    func run(_ output: String) throws {
        h.put("luapiped.toml", h.configText(output))
        try h.start()
    }

    /// Every line of every request body the sink recorded.
    func sinkBodies(_ dir: URL) -> [String] {
        sinkRequests(in: dir.path).flatMap { ($0["body"] as? String ?? "").split(separator: "\n").map(String.init) }
    }

    /// The HTTP sink (Tests/drivers/http_sink.py) on a free port, recording into sink/,
    /// with its behaviour files (`flags`: name and content) written first.
    func startSink(_ flags: [String: String]) throws -> (process: Process, port: Int, dir: URL) {
        let port = try freeTcpPort()
        let sinkDir = h.dir.appendingPathComponent("sink")
        try FileManager.default.createDirectory(at: sinkDir, withIntermediateDirectories: true)
        for (name, content) in flags { try content.write(to: sinkDir.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        return (try AlertDeliveryTests.startSink("http_sink.py", port: port, dir: sinkDir.path), port, sinkDir)
    }

    @Test func aRefusedBatchIsCutDownToTheRefusedMessagesAndFailuresAndHangsAreRetried() throws {
        let (sink, port, sinkDir) = try startSink(["fail_status": "500", "fail_next": "3"])
        defer { terminateAndWait(sink) }
        try run("""
            [store]
            type = "HttpOutput"
            message_matcher = "Logger == 'StdinInput'"
            address = "http://127.0.0.1:\(port)/store"
            encoder = "PayloadEncoder"
            flush_count = 50
            flush_interval = 100
            compression = "gzip"
            http_timeout = 1000
            """)
        defer { h.stop() }
        let bad: Set = [17, 90, 91]
        h.send((0..<200).map { bad.contains($0) ? "reject-me \($0)" : "line \($0)" })
        let good = Set((0..<200).filter { !bad.contains($0) }.map { "line \($0)" })
        h.waitUntil("the 197 good lines arrived and the 3 refused were skipped") {
            Set(sinkBodies(sinkDir)) == good && h.counter("store", "rejected") == 3
        }
        #expect(h.counter("store", "retries") >= 3)  // the three 500s
        #expect(h.logged.withLock { $0 }.contains { $0.contains("refused: http://127.0.0.1:\(port)/store answered 400; skipped") })

        // A store that hangs: the request times out and the batch is sent again.
        let hang = sinkDir.appendingPathComponent("hang")
        try "".write(to: hang, atomically: true, encoding: .utf8)
        let retries = h.counter("store", "retries")
        h.send((200..<250).map { "line \($0)" })
        h.waitUntil("a timeout was retried") { h.counter("store", "retries") > retries }
        try FileManager.default.removeItem(at: hang)
        h.waitUntil("the 50 sent while it hung arrived") { Set(sinkBodies(sinkDir)).isSuperset(of: (200..<250).map { "line \($0)" }) }
        h.waitUntil("the output's cursor is past everything") { h.counter("store", "lag_messages") == 0 }
    }

    @Test func elasticsearchBulkAnswersRetryTheBusyItemsAndSkipTheRefusedOnes() throws {
        let (sink, port, sinkDir) = try startSink(["busy_items": "5", "bulk_mode": ""])
        defer { terminateAndWait(sink) }
        try run("""
            [es]
            type = "HttpOutput"
            message_matcher = "Logger == 'StdinInput'"
            address = "http://127.0.0.1:\(port)/_bulk"
            encoder = "ESJsonEncoder"
            flush_count = 20
            flush_interval = 100
            bulk_response = "elasticsearch"

            [ESJsonEncoder]
            index = "logs"
            fields = ["Payload"]
            """)
        defer { h.stop() }
        h.send((0..<60).map { $0 == 7 || $0 == 33 ? "reject-me \($0)" : "line \($0)" })
        let expected = Set((0..<60).filter { $0 != 7 && $0 != 33 }.map { "{\"Payload\":\"line \($0)\"}" })
        // `sent` is counted when the sink's answer is read, after it wrote the documents.
        h.waitUntil("58 documents stored and counted, 2 refused") {
            Set(h.lines("sink/bulk.jsonl")) == expected && h.counter("es", "rejected") == 2 && h.counter("es", "sent") == 58
        }
        #expect(h.lines("sink/bulk.jsonl").count == 58)  // the busy ones once, after their retry
        #expect(h.counter("es", "retries") >= 1)
        #expect(h.counter("es", "sent") == 58)
        #expect(h.logged.withLock { $0 }.contains { $0.contains("item refused with 400: mapper_parsing_exception: failed to parse") })
    }

    @Test func clickHouseRowsArriveOnceAndBadRowsAreSkippedByTheirErrorCode() throws {
        let ch = try Stores.clickHouse(dir: h.dir)
        defer { ch.stop() }
        let insert = "http://127.0.0.1:\(ch.port)/?query=INSERT%20INTO%20nums%20FORMAT%20JSONEachRow"
        try run("""
            [clickhouse]
            type = "HttpOutput"
            message_matcher = "Logger == 'StdinInput'"
            address = "\(insert)"
            encoder = "JsonEachRow"
            flush_count = 100
            flush_interval = 100
            compression = "gzip"

            [JsonEachRow]
            type = "SandboxEncoder"
            filename = "\(repositoryRoot.path)/lua/encoders/json_each_row.lua"
                [JsonEachRow.config]
                headers = "Uuid Timestamp Payload"
                [JsonEachRow.config.columns]
                Payload = "n"
            """)
        defer { h.stop() }
        // The table does not exist yet: ClickHouse's Code 60 is its configuration, retried.
        h.send((1...100).map(String.init))
        h.waitUntil("the missing table is retried") {
            h.counter("clickhouse", "retries") >= 1 && h.logged.withLock { $0 }.contains { $0.contains("Code: 60") }
        }
        #expect(Stores.query(ch.port, "CREATE TABLE nums (Uuid String, Timestamp DateTime, n Int32) ENGINE = ReplacingMergeTree ORDER BY Uuid").status == 200)
        h.send((101...300).map { $0 % 97 == 0 ? "oops \($0)" : String($0) })  // 194 and 291 do not parse
        let good = (1...300).filter { $0 != 194 && $0 != 291 }
        h.waitUntil("every number is stored, the two bad rows skipped") {
            Stores.count(ch.port, "SELECT count() FROM nums FINAL") == good.count && h.counter("clickhouse", "rejected") == 2
        }
        #expect(Stores.count(ch.port, "SELECT sum(n) FROM nums FINAL") == good.reduce(0, +))
        #expect(h.logged.withLock { $0 }.contains { $0.contains("Code: 27") && $0.contains("skipped") })
    }

    @Test func victoriaMetricsCountsEachSampleOnceThoughSentTwice() throws {
        let vm = try Stores.victoriaMetrics(dir: h.dir)
        defer { vm.stop() }
        try run("""
            [victoria]
            type = "HttpOutput"
            message_matcher = "Logger == 'StdinInput'"
            address = "http://127.0.0.1:\(vm.port)/write?precision=s"
            encoder = "PayloadEncoder"
            flush_count = 100
            flush_interval = 100
            """)
        defer { h.stop() }
        let lines = (0..<300).map { "requests,host=web\($0 % 3) value=\($0) \(1_700_000_000 + $0)" }
        h.send(lines)
        h.send(lines)  // a resend: VictoriaMetrics' deduplication keeps one sample per timestamp
        h.waitUntil("600 lines sent") { h.counter("victoria", "sent") == 600 }
        let samples = eventually("300 samples exported") { () -> Int? in
            _ = Stores.get(vm.port, "/internal/force_flush")
            let export = Stores.get(vm.port, "/api/v1/export?match%5B%5D=%7B__name__%3D~%22requests.%2A%22%7D")
            let n = export.split(separator: "\n").reduce(0) { sum, line in
                let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                return sum + ((o?["values"] as? [Any])?.count ?? 0)
            }
            return n == 300 ? n : nil
        }
        #expect(samples == 300)
    }

    @Test func carbonOutputWritesWhisperPoints() throws {
        let carbon = try Stores.carbon(dir: h.dir)
        defer { carbon.stop() }
        try run("""
            [graphite]
            type = "CarbonOutput"
            message_matcher = "Logger == 'StdinInput'"
            address = "127.0.0.1:\(carbon.port)"
            """)
        defer { h.stop() }
        let now = Int(Date().timeIntervalSince1970)
        h.send((0..<50).map { "luapiped.test.points \($0) \(now - 100 + $0)" })
        let file = h.dir.appendingPathComponent("carbon/storage/whisper/luapiped/test/points.wsp").path
        h.waitUntil("the 50 points are in whisper") { Stores.whisperValues(file).count == 50 }
        #expect(Stores.whisperValues(file) == (0..<50).map(Double.init))
    }
}

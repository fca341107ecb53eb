#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import LuaPipeline

/// The three data classes behind a stuck output: metrics (`drop`) are skipped for it and
/// counted, the tailed file (`block`) pauses and then arrives whole, events (`disk`) are
/// acknowledged and leave memory, and once `max_queue_size` is reached acknowledgements
/// stop (the client sees it) and nothing acknowledged is lost. The other output is never
/// held back by the stuck one.
@Suite struct DeliveryClassesTests {
    @Test func mixedClassesBehindAStuckOutput() throws {
        let h = ReloadHarness()
        let sinkDir = h.dir.appendingPathComponent("sink").path
        try FileManager.default.createDirectory(atPath: sinkDir, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: h.path("logs"), withIntermediateDirectories: true)
        // The sink answers 503 (the output retries, stuck) until fail_next is set to 0.
        FileManager.default.createFile(atPath: sinkDir + "/fail_next", contents: Data("1000000000".utf8))
        let sinkPort = try freeTcpPort(), tcpPort = try freeTcpPort(), udpPort = try freeUdpPort()
        let sink = try AlertDeliveryTests.startSink("http_sink.py", port: sinkPort, dir: sinkDir)
        defer { terminateAndWait(sink) }
        h.put("luapiped.toml", h.configText("""
            [app]
            type = "LogstreamerInput"
            log_directory = "logs"
            file_match = 'app\\.log'
            rescan_interval = "50ms"

            [metrics]
            type = "UdpInput"
            address = "127.0.0.1:\(udpPort)"
            delivery = "drop"

            [events_in]
            type = "TcpInput"
            address = "127.0.0.1:\(tcpPort)"
            ack = true

            [stuck]
            type = "HttpOutput"
            address = "http://127.0.0.1:\(sinkPort)/"
            message_matcher = "Type != 'luapiped.reload'"
            encoder = "PayloadEncoder"
            [stuck.buffering]
            max_buffer_size = 65536

            [all]
            type = "FileOutput"
            path = "out/all.txt"
            message_matcher = "TRUE"
            encoder = "PayloadEncoder"
            """, global: "max_queue_size = 131072"))
        try h.start()
        defer { h.stop() }
        let lines = (0..<1000).map { "log line \($0) " + String(repeating: "x", count: 100) }
        try append(lines: lines, toFile: URL(fileURLWithPath: h.path("logs/app.log")))
        // The stuck output's budget fills: the tailed file pauses.
        h.waitUntil("the file input started") { h.counter("app", "processed") > 0 }

        // Metrics keep flowing and are skipped for the stuck output.
        let udp = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(udp) }
        var to = sockaddr_in()
        to.sin_family = sa_family_t(AF_INET)
        to.sin_port = in_port_t(UInt16(udpPort).bigEndian)
        to.sin_addr.s_addr = inet_addr("127.0.0.1")
        func sendMetric(_ i: Int) {
            let text = Array(("metric \(i) " + String(repeating: "m", count: 100)).utf8)
            _ = withUnsafePointer(to: &to) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(udp, text, text.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        var sent = 0
        h.waitUntil("metrics are dropped for the stuck output") {
            for _ in 0..<50 { sendMetric(sent); sent += 1 }
            return h.counter("stuck", "dropped") > 0
        }

        // Events are acknowledged and leave memory until the queue is full; then
        // acknowledgements stop.
        let events = 2000
        let sender = AckedSender(address: "127.0.0.1:\(tcpPort)", payloads: (0..<events).map { "event \($0) " + String(repeating: "e", count: 100) }, window: 4000)
        sender.start()
        defer { sender.stop() }
        h.waitUntil("the durable queue is full") { h.counter("events_in", "queue_full") >= 1 }
        let acknowledgedWhenFull = sender.acknowledged
        #expect(acknowledgedWhenFull > 0 && acknowledgedWhenFull < events)
        #expect(h.pipeline.router.currentStats.spilled > 0)
        // The file is still paused, and the other output is not held back by the stuck one.
        #expect(h.counter("app", "processed") < Int64(lines.count))
        h.waitUntil("the other output has every acknowledged event") {
            h.lines("out/all.txt").filter { $0.hasPrefix("event ") }.count >= acknowledgedWhenFull
        }
        #expect(sender.acknowledged < events)

        // Unstuck: everything arrives.
        FileManager.default.createFile(atPath: sinkDir + "/fail_next", contents: Data("0".utf8))
        eventually("every event acknowledged", timeout: .seconds(120)) { sender.state.withLock { $0.done } }
        func received() -> [String] {
            sinkRequests(in: sinkDir).compactMap { ($0["body"] as? String)?.trimmingCharacters(in: .newlines) }
        }
        eventually("the stuck output delivered every event and line", timeout: .seconds(180)) {
            let r = Set(received())
            return r.filter { $0.hasPrefix("event ") }.count == events && r.filter { $0.hasPrefix("log line ") }.count == lines.count
        }
        #expect(h.counter("app", "processed") == Int64(lines.count))
        #expect(h.counter("stuck", "dropped") > 0)
        let got = Set(received())
        let missing = (0..<events).filter { !got.contains("event \($0) " + String(repeating: "e", count: 100)) }
        #expect(missing.isEmpty, "missing \(missing.prefix(5)); odd: \(got.filter { $0.hasPrefix("event ") && !$0.hasSuffix("eeee") }.prefix(3))")
    }
}

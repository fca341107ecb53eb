#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import LuapipedClient
import Metrics
import Synchronization
import Testing
@testable import LuaPipeline

/// LuapipedClient against a real daemon: logs through swift-log, metrics through
/// swift-metrics, acknowledged events.
@Suite(.serialized) struct ClientTests {
    let h = ReloadHarness()

    func startDaemon(tcp: Int, statsd: Int? = nil) throws {
        h.put("luapiped.toml", h.configText("""
            [app]
            type = "TcpInput"
            address = "127.0.0.1:\(tcp)"

            [received]
            type = "FileOutput"
            path = "out/received.json"
            message_matcher = "Type == 'app.log'"
            encoder = "JsonEncoder"
            \(statsd.map { """

                [StatsdInput]
                address = "127.0.0.1:\($0)"

                [StatAccumInput]
                ticker_interval = 1
                emit_in_fields = true
                max_timer_samples = 1000000

                [stats]
                type = "FileOutput"
                path = "out/stats.json"
                message_matcher = "Type == 'heka.statmetric'"
                encoder = "JsonEncoder"
                """ } ?? "")
            """))
        try h.start()
    }

    func received(_ file: String = "out/received.json") -> [Message] {
        h.lines(file).compactMap { try? Message.fromJSON(Array($0.utf8)).message }
    }

    /// How many times the calling thread gave up the CPU to wait (a blocking read or
    /// write, a sleep, a contended lock) while `body` ran: the kernel's count of voluntary
    /// context switches of this thread. A call that never waits has a bounded time, whatever
    /// the daemon does; this measures that as a count, not as a duration. `body` must not
    /// suspend (it runs on this thread from start to end).
    func timesTheThreadWaited(_ body: () -> Void) -> Int {
        func switches() -> Int {
            let status = (try? String(contentsOfFile: "/proc/thread-self/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("voluntary_ctxt_switches:") }
            return line.flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? -1_000_000
        }
        let before = switches()
        body()
        return switches() - before
    }

    @Test func metricsNeverWaitWithTheDaemonDown() throws {
        // Nothing listens on the StatsD port: 20,000 updates all return without waiting
        // (whether the sending thread keeps up or the queue overflows, then counted).
        let sender = try StatsdSender(address: "127.0.0.1:\(try freeUdpPort())", maxQueueBytes: 16 << 10)
        defer { sender.close() }
        let factory = LuapipedMetricsFactory(sender: sender)
        let counter = Counter(label: "orders", dimensions: [("shop", "eu")], factory: factory)
        let timer = Metrics.Timer(label: "latency", factory: factory)
        let waits = timesTheThreadWaited {
            for i in 0..<10_000 {
                counter.increment()
                timer.recordMilliseconds(Int64(i))
            }
        }
        #expect(waits <= 20_000 / 200, "the calling thread waited \(waits) times in 20,000 calls")
        // Closed, it drops what it is given and says why (once its thread has tried to send
        // what was buffered, whose failure to reach nobody is the last error until then).
        sender.close()
        eventually("the sender's thread has finished") { sender.isFinished }
        let before = sender.datagrams.dropped
        counter.increment()
        #expect(sender.datagrams.dropped == before + 1)
        #expect(sender.lastError == "closed")
    }

    @Test func everyLevelMapsToASeverityAndMetadataArrivesAsTypedFields() throws {
        let port = try freeTcpPort()
        try startDaemon(tcp: port)
        defer { h.stop() }
        let shipper = LuapipedShipper(address: "127.0.0.1:\(port)")
        defer { shipper.close() }
        var logger = Logger(label: "checkout") { LuapipedLogHandler(label: $0, shipper: shipper) }
        logger.logLevel = .trace
        let levels: [Logger.Level] = [.trace, .debug, .info, .notice, .warning, .error, .critical]
        for level in levels {
            logger.log(level: level, "at \(level)", metadata: [
                "user": "alice", "attempt": .stringConvertible(3), "ratio": .stringConvertible(0.5), "paid": .stringConvertible(true),
                "cart": ["items": .stringConvertible(2), "currency": "EUR"], "tags": ["a", "b"],
            ])
        }
        h.waitUntil("seven records arrived") { received().count == 7 }
        let messages = received()
        #expect(messages.map(\.severity) == [7, 7, 6, 5, 4, 3, 2])
        #expect(messages.map(\.payload) == levels.map { "at \($0)" })
        let m = messages[2]
        #expect(m.logger == "checkout")
        #expect(m.field("user")?.value == .string(["alice"]))
        #expect(m.field("attempt")?.value == .integer([3]))
        #expect(m.field("ratio")?.value == .double([0.5]))
        #expect(m.field("paid")?.value == .bool([true]))
        #expect(m.field("cart.items")?.value == .integer([2]))
        #expect(m.field("cart.currency")?.value == .string(["EUR"]))
        #expect(m.field("tags.1")?.value == .string(["b"]))
        #expect(m.field("line")?.value != nil && m.field("function")?.value != nil && m.field("file")?.value != nil)
    }

    @Test func withTheDaemonDownLoggingNeverBlocksDropsAreCountedAndRecordsFlowAgainAfter() throws {
        let port = try freeTcpPort()
        let drops = Mutex(0)
        let shipper = LuapipedShipper(address: "127.0.0.1:\(port)", maxQueueBytes: 64 << 10, onDrop: { n, _ in drops.withLock { $0 = n } })
        defer { shipper.close() }
        let logger = Logger(label: "app") { LuapipedLogHandler(label: $0, shipper: shipper) }
        // Nothing listens: 20,000 records fill the 64 KiB queue; the calls all return, and
        // none waits (on the network, a sleep or the shipper's thread).
        let waits = timesTheThreadWaited { for i in 0..<20_000 { logger.info("record \(i)") } }
        #expect(waits <= 20_000 / 200, "the calling thread waited \(waits) times in 20,000 calls")
        #expect(shipper.dropped > 0)
        #expect(drops.withLock { $0 } == shipper.dropped)
        try startDaemon(tcp: port)
        defer { h.stop() }
        // What the queue held while the daemon was down arrives, then new records flow.
        h.waitUntil("what the queue held arrived") { received().count == 20_000 - shipper.dropped }
        logger.info("after the daemon came back")
        h.waitUntil("records flow again") { received().contains { $0.payload == "after the daemon came back" } }
    }

    @Test func statsdAggregatesEqualTheAppsOwnTotals() throws {
        let port = try freeTcpPort(), statsd = try freeUdpPort()
        try startDaemon(tcp: port, statsd: statsd)
        defer { h.stop() }
        // StatsD is UDP: what is sent before the input binds is lost.
        eventually("StatsdInput has bound its port") {
            guard let fd = try? Socket.bindUDP("127.0.0.1:\(statsd)") else { return true }
            close(fd)
            return false
        }
        // Room for every update at once: eight threads can outrun the sending thread.
        let sender = try StatsdSender(address: "127.0.0.1:\(statsd)", maxQueueBytes: 16 << 20)
        defer { sender.close() }
        let factory = LuapipedMetricsFactory(sender: sender)
        let threads = 8, perThread = 12_500  // 100,000 updates
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            let counter = Counter(label: "orders", dimensions: [("shop", "eu")], factory: factory)
            let timer = Metrics.Timer(label: "latency", factory: factory)
            let gauge = Gauge(label: "queue_depth", factory: factory)
            for i in 0..<perThread {
                switch i % 4 {
                case 0, 1: counter.increment()
                case 2: timer.recordMilliseconds(Int64(t + 1))
                default: gauge.record(Double(i))
                }
            }
        }
        sender.flush()
        let counts = threads * perThread / 2, timings = threads * perThread / 4
        let timerSum = Double((1...threads).reduce(0, +) * perThread / 4)
        func total(_ name: String) -> Double {
            received("out/stats.json").reduce(0) { sum, m in
                if case .double(let v)? = m.field(name)?.value { return sum + (v.first ?? 0) }
                return sum
            }
        }
        func lastGauge() -> FieldValue? {
            received("out/stats.json").last { $0.field("stats.gauges.queue_depth") != nil }?.field("stats.gauges.queue_depth")?.value
        }
        // Each thread's gauge update comes last: a flush can fall before it.
        h.waitUntil("the daemon's aggregates equal the app's totals") {
            total("stats.counters.orders.count;shop=eu") == Double(counts) && total("stats.timers.latency.count") == Double(timings)
                && lastGauge() == .double([Double(perThread - 1)])
        }
        #expect(total("stats.timers.latency.sum") == timerSum)
        #expect(sender.datagrams.dropped == 0, "\(sender.lastError ?? "")")
    }

    @Test func everyEmitThatReturnedIsStoredAcrossTwoKillsOfTheDaemon() async throws {
        let dir = h.dir
        let port = try freeTcpPort()
        let config = dir.appendingPathComponent("events.toml").path
        try """
            [luapiped]
            base_dir = "\(dir.path)/events-state"
            sandbox_dir_watch = "off"
            admin_address = ""

            [events]
            type = "TcpInput"
            address = "127.0.0.1:\(port)"
            ack = true

            [stored]
            type = "FileOutput"
            path = "\(dir.path)/events.txt"
            message_matcher = "Type == 'order'"
            encoder = "PayloadEncoder"

            [PayloadEncoder]
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let binary = CommandLineTests.binary.path, log = dir.appendingPathComponent("events.log").path
        var daemon = try Spawned(binary, ["run", "-c", config], output: log)
        let client = LuapipedEvents(address: "127.0.0.1:\(port)", capacity: 500, timeout: 120)
        defer { client.close() }
        let total = 50_000
        final class Results: Sendable {
            let returned = Mutex<[Int]>([])
            let failures = Mutex<[String]>([])
        }
        let results = Results()
        // The emits run on a thread of their own: this test and other suites' tests wait by
        // blocking, which can hold every thread of the cooperative pool.
        let executor = ThreadTaskExecutor(name: "emits")
        defer { executor.stop() }
        let emitting = Task(executorPreference: executor) { [client, results] in
            await withTaskGroup(of: Void.self) { group in
                for i in 0..<total {
                    group.addTask {
                        do {
                            try await client.emit(LuapipedMessage(type: "order", payload: "order \(i)"))
                            results.returned.withLock { $0.append(i) }
                        } catch {
                            results.failures.withLock { $0.append("\(error)") }
                        }
                    }
                }
            }
        }
        // Two kills, each once a further share of the emits has returned.
        for share in [total / 4, total / 2] {
            eventually("\(share) emits returned") { results.returned.withLock { $0.count } >= share }
            daemon.signal(SIGKILL)
            daemon.wait(10)
            daemon = try Spawned(binary, ["run", "-c", config], output: log)
        }
        await emitting.value
        defer {
            daemon.signal(SIGTERM)
            daemon.wait(30)
        }
        #expect(results.failures.withLock { $0 }.isEmpty, "\(results.failures.withLock { $0.prefix(3) })")
        let ok = Set(results.returned.withLock { $0 }.map { "order \($0)" })
        #expect(ok.count == total)
        let stored = { ((try? String(contentsOfFile: dir.appendingPathComponent("events.txt").path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
        eventually("every emit that returned is stored") { Set(stored()).isSuperset(of: ok) }
        #expect(stored().count - Set(stored()).count <= 2 * 256)
        #expect(client.reconnects >= 2)
    }

    @Test func anEventInTheDaemonsOwnModelArrivesAsBuilt() async throws {
        // The client and the daemon share LuapipedCore's Message: an app may build one
        // with arrays, bytes and representations, and the daemon reads back the same.
        let port = try freeTcpPort()
        h.put("luapiped.toml", h.configText("""
            [orders]
            type = "TcpInput"
            address = "127.0.0.1:\(port)"
            ack = true

            [received]
            type = "FileOutput"
            path = "out/received.json"
            message_matcher = "Type == 'order.shipped'"
            encoder = "JsonEncoder"
            """))
        try h.start()
        defer { h.stop() }
        let client = LuapipedEvents(address: "127.0.0.1:\(port)", timeout: 30)
        defer { client.close() }
        var built = LuapipedMessage(type: "order.shipped", payload: "3 parcels").message
        built.envVersion = "1"
        built.fields = [
            Field(name: "weights", value: .double([1.5, 2, 0.25]), representation: "kg"),
            Field(name: "parcels", value: .integer([11, 12, 13])),
            Field(name: "carriers", value: .string(["dhl", "ups"])),
            Field(name: "insured", value: .bool([true, false])),
            Field(name: "label", value: .bytes([[0, 1, 255]])),
        ]
        try await client.emit(built)
        h.waitUntil("the event arrived") { received().count == 1 }
        #expect(received() == [built])

        var anonymous = built
        anonymous.uuid = [UInt8](repeating: 0, count: 16)
        do {
            try await client.emit(anonymous)
            Issue.record("an event without a Uuid of its own was sent")
        } catch {
            #expect("\(error)".contains("no Uuid of its own"))
        }
    }

    @Test func emitsToAnAbsentDaemonOrOneAnsweringGarbageThrowSayingWhy() async throws {
        // Nothing listens.
        let absent = try freeTcpPort()
        let nobody = LuapipedEvents(address: "127.0.0.1:\(absent)", timeout: 1)
        defer { nobody.close() }
        do {
            try await nobody.emit(LuapipedMessage(type: "order"))
            Issue.record("an emit to an absent daemon returned")
        } catch {
            #expect("\(error)".contains("no acknowledgement within 1.0 s (last: cannot connect to 127.0.0.1:\(absent): Connection refused)"))
        }

        // A server that answers garbage (not 0x06 + Uuid).
        let listener = try Socket.listen("127.0.0.1:0")
        defer { close(listener) }
        let port = boundPort(listener)
        let served = Thread {
            while true {
                let c = accept(listener, nil, nil)
                if c < 0 { return }
                _ = Array("HTTP/1.1 400 Bad Request\r\n\r\n".utf8).withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(c)
            }
        }
        served.start()
        let garbage = LuapipedEvents(address: "127.0.0.1:\(port)", timeout: 1)
        defer { garbage.close() }
        do {
            try await garbage.emit(LuapipedMessage(type: "order"))
            Issue.record("an emit answered with garbage returned")
        } catch {
            #expect("\(error)".contains("is not an acknowledgement") || "\(error)".contains("closed the connection"))
        }
        #expect(garbage.reconnects >= 1)
        shutdown(listener, Int32(SHUT_RDWR))
    }

    @Test func aDaemonThatStopsReadingNeverHoldsTheCaller() throws {
        // A peer that accepts the connection and never reads: the socket's buffers fill,
        // the shipper's thread waits on them, and the application's calls go on returning.
        let listener = try Socket.listen("127.0.0.1:0")
        defer { close(listener) }
        let shipper = LuapipedShipper(address: "127.0.0.1:\(boundPort(listener))", maxQueueBytes: 256 << 10)
        defer { shipper.close() }
        let logger = Logger(label: "app") { LuapipedLogHandler(label: $0, shipper: shipper) }
        let payload = String(repeating: "x", count: 1000)
        let waits = timesTheThreadWaited { for i in 0..<50_000 { logger.info("record \(i) \(payload)") } }
        #expect(waits <= 50_000 / 200, "the calling thread waited \(waits) times in 50,000 calls")
        // 50 MB offered: the kernel's socket buffers take a part (how much depends on the
        // kernel, its memory and any reconnect after a write timed out), the 256 KiB queue
        // holds a part, and the rest is dropped and counted: every record is in exactly one
        // of the three, and what waits never outgrows the queue.
        let counts = shipper.counts
        #expect(counts.sent + counts.pending + counts.dropped == 50_000)
        #expect(counts.pending <= (256 << 10) / 1000)
        #expect(counts.dropped > 0)
    }
}

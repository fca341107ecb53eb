import Foundation
import Testing
@testable import LuaPipeline

/// StatsD over UDP into StatAccumInput: parsing, aggregation and its output form.
@Suite struct StatsdTests {
    let dir = temporaryDirectory()

    /// Waits until something (the input being started) has bound the UDP port: binding it
    /// here fails from then on.
    static func waitUntilBound(_ port: Int) {
        eventually("UDP port \(port) is bound", timeout: .seconds(30), interval: .milliseconds(5)) {
            guard let fd = try? Socket.bindUDP("127.0.0.1:\(port)") else { return true }
            close(fd)
            return false
        }
    }

    /// A UDP socket sending to 127.0.0.1:`port`.
    final class Sender {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var to = sockaddr_in()

        init(port: Int) {
            to.sin_family = sa_family_t(AF_INET)
            to.sin_port = in_port_t(UInt16(port).bigEndian)
            to.sin_addr.s_addr = inet_addr("127.0.0.1")
        }

        deinit { close(fd) }

        @discardableResult
        func send(_ text: String) -> Int {
            let bytes = Array(text.utf8)
            return withUnsafePointer(to: &to) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, bytes, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
    }

    /// A running daemon: a StatsdInput on a free port (`statsd`: more of its keys, then
    /// any further sections) whose statmetric messages go to stats.txt; returns once the
    /// port is bound.
    private func startStatsd(_ statsd: String) throws -> (Pipeline, Int) {
        let port = try freeUdpPort()
        let path = dir.appendingPathComponent("statsd.toml").path
        FileManager.default.createFile(atPath: path, contents: Data("""
            [luapiped]
            base_dir = "state"
            sandbox_dir_watch = "off"

            [stats]
            type = "FileOutput"
            path = "stats.txt"
            message_matcher = "Type == 'heka.statmetric'"
            encoder = "PayloadEncoder"
            [PayloadEncoder]
            append_newlines = false

            [StatsdInput]
            address = "127.0.0.1:\(port)"
            \(statsd)
            """.utf8))
        let p = try Pipeline(config: try PipelineConfig.load(path: path), log: PipelineLog(sink: { _ in }))
        try p.open()  // bound now, or an error naming the address
        p.start()
        return (p, port)
    }

    @Test func linesParseAsStatsdAndDogStatsdWrite() {
        #expect(StatsdLine("a.b:3|c|@0.5") == {
            var l = StatsdLine("a.b:3|c")!
            l.sampleRate = 0.5
            return l
        }())
        let tagged = StatsdLine("my metric/x:1.5|ms|#env:prod,az:b")!
        #expect(tagged.name == "my_metric-x" && tagged.kind == .timer && tagged.value == 1.5 && tagged.tags == ["az=b", "env=prod"])
        #expect(StatsdLine("q:-3|g")?.isDelta == true && StatsdLine("q:3|g")?.isDelta == false)
        #expect(StatsdLine("u:alice|s")?.member == "alice")
        #expect(StatsdLine("h:2|h")?.kind == .timer)
        // Tags without a name are ignored, not fatal.
        #expect(StatsdLine("x:1|c|#:")?.tags == [])
        #expect(StatsdLine("x:1|c|#:v,a:b,c")?.tags == ["a=b", "c="])
        for bad in ["", "nocolon|c", "x:|c", "x:1", "x:1|q", "x:abc|c", "x:1|c|@0", "x:1|c|@2", "x:1|c|junk", ":1|c", "x:nan|g"] {
            #expect(StatsdLine(Substring(bad)) == nil, "\(bad)")
        }
    }

    @Test func aggregatesInHekasForm() throws {
        let acc = StatAccumulator(name: "StatAccumInput", options: {
            var o = StatAccumulator.Options()
            o.tickerInterval = 10
            return o
        }())
        for line in ["hits:1|c", "hits:2|c|@0.5", "hits:1|c|#env:prod", "lat:10|ms", "lat:20|ms", "lat:30|ms", "lat:40|ms|@0.5",
                     "q:5|g", "q:+2|g", "q:-1|g", "users:a|s", "users:b|s", "users:a|s"] {
            acc.add(StatsdLine(Substring(line))!)
        }
        let m = try #require(acc.flush(now: 1_795_690_000_000_000_000, hostname: "h"))
        #expect(m.type == "heka.statmetric" && m.logger == "StatAccumInput")
        #expect(m.payload == """
            stats.counters.hits.count 5 1795690000
            stats.counters.hits.rate 0.5 1795690000
            stats.counters.hits.count;env=prod 1 1795690000
            stats.counters.hits.rate;env=prod 0.1 1795690000
            stats.timers.lat.count 5 1795690000
            stats.timers.lat.count_ps 0.5 1795690000
            stats.timers.lat.lower 10 1795690000
            stats.timers.lat.upper 40 1795690000
            stats.timers.lat.sum 100 1795690000
            stats.timers.lat.mean 25 1795690000
            stats.timers.lat.mean_90 25 1795690000
            stats.timers.lat.upper_90 40 1795690000
            stats.timers.lat.sum_90 100 1795690000
            stats.gauges.q 6 1795690000
            stats.sets.users.count 2 1795690000
            stats.statsd.numStats 15 1795690000

            """)
        // The next interval: idle counters, timers and sets at 0, the gauge kept.
        let idle = try #require(acc.flush(now: 1_795_690_010_000_000_000, hostname: "h"))
        #expect(idle.payload?.contains("stats.counters.hits.count 0 1795690010\n") == true)
        #expect(idle.payload?.contains("stats.gauges.q 6 1795690010\n") == true)
        #expect(idle.payload?.contains("stats.sets.users.count 0 1795690010\n") == true)
    }

    @Test func legacyNamespacesFieldsAndIdleDeletion() throws {
        var o = StatAccumulator.Options()
        o.legacyNamespaces = true
        o.emitInFields = true
        o.emitInPayload = false
        o.deleteIdleStats = true
        o.tickerInterval = 2
        let acc = StatAccumulator(name: "acc", options: o)
        acc.add(StatsdLine("hits:4|c")!)
        let m = try #require(acc.flush(now: 0, hostname: "h"))
        #expect(m.payload == nil)
        #expect(m.field("stats.hits")?.value == .double([2]))
        #expect(m.field("stats_counts.hits")?.value == .double([4]))
        #expect(m.fields.first == Field(name: "timestamp", value: .integer([0])), "Heka's first field: the time in seconds")
        #expect(acc.flush(now: 0, hostname: "h") == nil)  // idle: deleted, nothing to emit
    }

    @Test func statmetricInfluxEncodesStatAccumFieldsAsHekas() throws {
        var o = StatAccumulator.Options()
        o.emitInFields = true
        o.tickerInterval = 10
        let acc = StatAccumulator(name: "acc", options: o)
        acc.add(StatsdLine("hits:30|c")!)
        let m = try #require(acc.flush(now: 1_408_404_848_000_000_000, hostname: "h"))
        let lua = repositoryRoot.appendingPathComponent("lua")
        let code = try String(contentsOf: lua.appendingPathComponent("encoders/statmetric_influx.lua"), encoding: .utf8)
        let h = try ScriptHarness(code, kind: .encoder, name: "statmetric_influx")
        h.process(m)
        guard case .payload(let type, let name, let bytes)? = h.injected.first else { Issue.record("nothing encoded"); return }
        #expect(type == "json" && name == "influx_stats")
        let series = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [[String: Any]])
        #expect(series.map { $0["name"] as? String } == ["stats.counters.hits.count", "stats.counters.hits.rate", "stats.statsd.numStats"])
        let count = try #require(series.first { $0["name"] as? String == "stats.counters.hits.count" })
        #expect((count["columns"] as? [String]) == ["time", "value"])
        #expect((count["points"] as? [[Double]]) == [[1_408_404_848_000, 30]])

        guard case .ok(-1, _) = h.process(Message(timestamp: 0, type: "heka.statmetric")) else {
            Issue.record("a message without the timestamp field is refused"); return
        }
    }

    @Test func aFloodIsBounded() throws {
        var o = StatAccumulator.Options()
        o.maxStats = 10
        o.maxTimerSamples = 5
        let acc = StatAccumulator(name: "acc", options: o)
        var dropped = 0, samples = 0
        for i in 0..<100 {
            let d = acc.add(StatsdLine(Substring("c\(i):1|c"))!)
            if d.stat { dropped += 1 }
        }
        for _ in 0..<3 {
            _ = acc.add(StatsdLine("t:1|ms")!)  // a new stat: dropped too (the table is full)
        }
        #expect(dropped == 90)
        let small = StatAccumulator(name: "acc", options: o)
        for _ in 0..<8 { if small.add(StatsdLine("t:1|ms")!).sample { samples += 1 } }
        #expect(samples == 3)
        // Set members are bounded the same way.
        var members = 0
        for i in 0..<8 { if small.add(StatsdLine(Substring("u:m\(i)|s"))!).sample { members += 1 } }
        #expect(members == 3)
        #expect(small.flush(now: 0, hostname: "h")?.payload?.contains("stats.timers.t.count 8 0\n") == true)
    }

    @Test func hundredThousandMetricsOverUdpSumToWhatWasSent() throws {
        let (p, port) = try startStatsd("""
            receive_buffer_bytes = 4194304

            [StatAccumInput]
            ticker_interval = "200ms"
            """)
        let input = try #require(p.counters.first { $0.name == "StatsdInput" })

        // What is sent, and what the aggregates must add up to.
        var count = 0.0, tagged = 0.0, timerCount = 0.0, timerSum = 0.0, gauge = 0.0, members = 0, malformed = 0
        var upper = -Double.infinity, lower = Double.infinity
        var lines: [String] = []
        let rates = [1.0, 0.5, 0.25, 0.1]
        for i in 0..<100_000 {
            switch i % 4 {
            case 0:
                let v = Double(i % 7 + 1), r = rates[(i / 4) % 4]
                if i % 3 == 0 {
                    lines.append("app.requests:\(Int(v))|c|@\(r)|#env:prod")
                    tagged += v / r
                } else {
                    lines.append("app.requests:\(Int(v))|c|@\(r)")
                    count += v / r
                }
            case 1:
                let v = Double(i % 1000) / 4, r = i % 8 == 1 ? 0.5 : 1
                lines.append(r == 1 ? "app.latency:\(v)|ms" : "app.latency:\(v)|ms|@0.5")
                timerCount += 1 / r
                timerSum += v
                upper = max(upper, v)
                lower = min(lower, v)
            case 2:
                if i % 10 == 2 {
                    lines.append("app.queue:+3|g")
                    gauge += 3
                } else if i % 10 == 6 {
                    lines.append("app.queue:-2|g")
                    gauge -= 2
                } else {
                    lines.append("app.queue:\(i % 50)|g")
                    gauge = Double(i % 50)
                }
            default:
                lines.append("app.users:u\(i)|s")
                members += 1
            }
            if i % 997 == 0 {
                lines.append("this is not a metric")
                malformed += 1
            }
        }
        let sender = Sender(port: port)
        var sent = 0
        for start in stride(from: 0, to: lines.count, by: 40) {
            let packet = lines[start..<min(start + 40, lines.count)].joined(separator: "\n")
            #expect(sender.send(packet) == packet.utf8.count)
            sent += min(40, lines.count - start)
            // Paced by what the input has read: never more than ~4,000 lines in flight.
            eventually("the input caught up to 4,000 lines behind \(sent)", timeout: .seconds(30), interval: .microseconds(500)) {
                sent - Int(input["records"]) <= 4000
            }
        }
        eventually("the input read every line", timeout: .seconds(30), interval: .milliseconds(5)) {
            Int(input["records"]) >= lines.count
        }
        p.stop()
        #expect(input["kernel_drops"] == 0, "the kernel dropped datagrams: pacing failed")
        #expect(input["records"] == Int64(lines.count))
        #expect(input["malformed"] == Int64(malformed))

        // Every interval's aggregates, summed.
        let text = try String(contentsOf: dir.appendingPathComponent("stats.txt"), encoding: .utf8)
        var sums: [String: Double] = [:], lasts: [String: Double] = [:], maxes: [String: Double] = [:], mins: [String: Double] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 3, let v = Double(parts[1]) else { continue }
            let k = String(parts[0])
            sums[k, default: 0] += v
            lasts[k] = v
            maxes[k] = max(maxes[k] ?? -.infinity, v)
            mins[k] = min(mins[k] ?? .infinity, v)
        }
        func near(_ a: Double?, _ b: Double) -> Bool { a.map { abs($0 - b) <= 1e-6 * max(1, abs(b)) } ?? false }
        #expect(near(sums["stats.counters.app.requests.count"], count))
        #expect(near(sums["stats.counters.app.requests.count;env=prod"], tagged))
        #expect(near(sums["stats.timers.app.latency.count"], timerCount))
        #expect(near(sums["stats.timers.app.latency.sum"], timerSum))
        #expect(maxes["stats.timers.app.latency.upper"] == upper)
        #expect(mins["stats.timers.app.latency.lower"] == lower)
        #expect(lasts["stats.gauges.app.queue"] == gauge)
        #expect(sums["stats.sets.app.users.count"] == Double(members))
        #expect((sums["stats.statsd.numStats"] ?? 0) > 0)
    }

    /// Datagrams waiting in the kernel's receive queue of UDP port `port` (/proc/net/udp).
    static func receiveQueue(_ port: Int) throws -> Int? {
        let suffix = String(format: ":%04X", port)
        for line in try String(contentsOfFile: "/proc/net/udp", encoding: .utf8).split(separator: "\n").dropFirst() {
            let f = line.split(separator: " ")
            guard f.count > 4, f[1].hasSuffix(suffix) else { continue }
            return Int(f[4].split(separator: ":")[1], radix: 16)
        }
        return nil
    }

    @Test func burstsAreEitherAggregatedOrCountedAsKernelDrops() throws {
        // A receive buffer far too small for a burst: what the kernel drops is counted.
        let (p, port) = try startStatsd("""
            receive_buffer_bytes = 4096

            [StatAccumInput]
            ticker_interval = "200ms"
            """)
        let input = try #require(p.counters.first { $0.name == "StatsdInput" })
        let sender = Sender(port: port)
        let sent = 50_000
        for _ in 0..<(sent / 500) {
            for _ in 0..<500 { sender.send("burst.hits:1|c") }
            guard try eventually("the input emptied its socket", interval: .milliseconds(1), { try Self.receiveQueue(port) == 0 }) else { break }
        }
        // The kernel reports its drop count with the next datagram it queues: one more, into
        // an empty queue, carries the total.
        sender.send("last.hits:1|c")
        eventually("every datagram is read or counted as dropped") {
            Int(input["records"]) - 1 + Int(input["kernel_drops"]) == sent
        }
        p.stop()
        let text = try String(contentsOf: dir.appendingPathComponent("stats.txt"), encoding: .utf8)
        let aggregated = text.split(separator: "\n").filter { $0.hasPrefix("stats.counters.burst.hits.count ") }
            .compactMap { Double($0.split(separator: " ")[1]) }.reduce(0, +)
        #expect(Int(aggregated) + Int(input["kernel_drops"]) == sent)
    }

    @Test func oversizeDatagramsAreCutAndCounted() throws {
        let (p, port) = try startStatsd("max_msg_size = 32")
        let sender = Sender(port: port)
        for packet in ["a:1|c\nb:1|c\nc:1|c\nd:1|c\ne:1|c\nf:1|c", "g:1|c"] { sender.send(packet) }
        let input = try #require(p.counters.first { $0.name == "StatsdInput" })
        eventually("the input read 6 lines", timeout: .seconds(30), interval: .milliseconds(5)) { input["records"] >= 6 }
        p.stop()
        #expect(input["truncated"] == 1)
        #expect(input["records"] == 6)  // a..e (the cut 'f' line is dropped), then g
        let text = try String(contentsOf: dir.appendingPathComponent("stats.txt"), encoding: .utf8)
        #expect(text.contains("stats.counters.e.count 1 ") && !text.contains("stats.counters.f.") && text.contains("stats.counters.g.count 1 "))
    }
}

#if canImport(Glibc)
import Glibc
#endif

#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Testing
@testable import LuaPipeline

/// Events over acknowledged TCP and over HTTP survive kill -9: clients that resend what was
/// not acknowledged (TCP) or answered (HTTP), a counting filter with `preserve_data` and a
/// FileOutput; the daemon is killed twice mid-stream. Every acknowledged event is in the
/// file, duplicates stay within a batch per reader per crash (plus, for HTTP, the request
/// in flight: its body has no Uuid), and the filter's count is exact.
@Suite(.serialized) struct DurableDeliveryTests {
    let dir = temporaryDirectory()

    static func config(port: Int, httpPort: Int, sync: String) -> String {
        """
        [luapiped]
        base_dir = "state"
        checkpoint_interval = "200ms"
        shutdown_timeout = "30s"
        queue_sync = "\(sync)"

        [events]
        type = "TcpInput"
        address = "127.0.0.1:\(port)"
        ack = true

        [web]
        type = "HttpListenInput"
        address = "127.0.0.1:\(httpPort)"
        splitter = "TokenSplitter"

        [TokenSplitter]

        [count]
        type = "SandboxFilter"
        filename = "count.lua"
        message_matcher = "Type == 'event'"
        preserve_data = true
        ticker_interval = 1

        [events_out]
        type = "FileOutput"
        path = "out/events.txt"
        message_matcher = "Type == 'event' || Type == 'heka.httpdata.request'"
        encoder = "PayloadEncoder"

        [count_out]
        type = "FileOutput"
        path = "out/count.txt"
        message_matcher = "Type == 'heka.sandbox.count'"
        encoder = "PayloadEncoder"

        [PayloadEncoder]
        append_newlines = true
        """
    }

    /// The same counting filter as the tailed-file crash test.
    static let counter = CrashRecoveryTests.counter(version: 1)

    func path(_ relative: String) -> String { dir.appendingPathComponent(relative).path }

    func lines(_ relative: String) -> [Substring] {
        ((try? String(contentsOfFile: path(relative), encoding: .utf8)) ?? "").split(separator: "\n")
    }

    func waitForListener(_ port: Int, _ daemon: CrashRecoveryTests.Daemon) {
        if let fd = eventually("the daemon listens on \(port)", detail: { daemon.output.text }, { try? Socket.connect("127.0.0.1:\(port)") }) { close(fd) }
    }

    func killTwiceMidStream(sync: String) throws {
        let port = try freeTcpPort(), httpPort = try freeTcpPort()
        FileManager.default.createFile(atPath: path("luapiped.toml"), contents: Data(Self.config(port: port, httpPort: httpPort, sync: sync).utf8))
        FileManager.default.createFile(atPath: path("count.lua"), contents: Data(Self.counter.utf8))
        let total = 100_000
        var daemon = try CrashRecoveryTests.Daemon(in: dir)
        defer { terminateAndWait(daemon.process) }
        waitForListener(port, daemon)
        let sender = AckedSender(address: "127.0.0.1:\(port)", payloads: (0..<total).map { "event \($0)" })
        sender.start()
        defer { sender.stop() }
        let httpTotal = 20_000, perRequest = 100
        // Paced by the TCP client, so that both are mid-stream at each crash.
        let web = HttpSender(port: httpPort, requests: (0..<httpTotal / perRequest).map { r in
            (r * perRequest..<(r + 1) * perRequest).map { "http \($0)\n" }.joined()
        }, pace: { r in sender.acknowledged >= r * total / (httpTotal / perRequest) || sender.state.withLock { $0.done } })
        web.start()
        defer { web.stop() }
        for (n, threshold) in [total / 3, 2 * total / 3].enumerated() {
            let requests = (n + 1) * httpTotal / perRequest / 3
            eventually("\(threshold) events acknowledged and \(requests) requests answered", timeout: .seconds(300), detail: { daemon.output.text }) {
                sender.acknowledged > threshold && web.answered > requests
            }
            #expect(web.answered < httpTotal / perRequest, "the HTTP client is still sending at the crash")
            #expect(kill(daemon.process.processIdentifier, SIGKILL) == 0)
            #expect(waitForExit(daemon.process) == SIGKILL)
            FileManager.default.createFile(atPath: path("daemon-\(n).log"), contents: Data(daemon.output.text.utf8))
            daemon = try CrashRecoveryTests.Daemon(in: dir)
            waitForListener(port, daemon)
        }
        eventually("every event acknowledged", timeout: .seconds(300), detail: { "\(sender.acknowledged)\n\(daemon.output.text)" }) {
            sender.state.withLock { $0.done }
        }
        #expect(sender.state.withLock { $0.failure } == nil)
        eventually("every HTTP request answered 200", timeout: .seconds(300), detail: { daemon.output.text }) { web.answered == httpTotal / perRequest }
        #expect(sender.state.withLock { $0.connections } >= 3)
        let want = String(total)
        eventually("the count reached \(want)", timeout: .seconds(120), detail: { "\(lines("out/count.txt").last ?? "none")\n\(daemon.output.text)" }) {
            lines("out/count.txt").last.flatMap { Int($0) }.map { $0 >= total } ?? false
        }
        // One more report after it: the count stays exact (no event counted twice).
        let reports = lines("out/count.txt").count
        eventually("the count was reported again") { lines("out/count.txt").count > reports + 1 }
        #expect(lines("out/count.txt").last.map(String.init) == want, "logs in \(dir.path)")

        eventually("every event written", timeout: .seconds(120)) { Set(lines("out/events.txt")).count >= total + httpTotal }
        let written = lines("out/events.txt")
        let unique = Set(written)
        // Every acknowledged event, and every line of every request answered 200.
        #expect(unique == Set((0..<total).map { Substring("event \($0)") } + (0..<httpTotal).map { Substring("http \($0)") }))
        // At most the batch in flight per reader per crash is delivered again, and the HTTP
        // request in flight at each crash may be stored twice.
        #expect(written.count - unique.count <= 2 * 256 + 2 * perRequest, "\(written.count - unique.count) duplicates")
        #expect(terminateAndWait(daemon.process) == 0)
    }

    @Test func acknowledgedEventsSurviveKill9WithWriteSync() throws {
        try killTwiceMidStream(sync: "write")
    }

    @Test func acknowledgedEventsSurviveKill9WithFsync() throws {
        try killTwiceMidStream(sync: "fsync")
    }
}

/// Posts bodies in order, each until it is answered 200 (a refused connection or a 503 is
/// retried), on its own thread.
final class HttpSender: @unchecked Sendable {  // `count` is the only shared data
    let port: Int
    let requests: [String]
    private let count = Mutex(0)
    private let stopFlag = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    /// Whether request i may go now.
    let pace: @Sendable (Int) -> Bool

    init(port: Int, requests: [String], pace: @escaping @Sendable (Int) -> Bool = { _ in true }) {
        self.port = port
        self.requests = requests
        self.pace = pace
    }

    var answered: Int { count.withLock { $0 } }

    func start() {
        Thread.detachNewThread { [self] in
            for (i, body) in requests.enumerated() {
                while !stopFlag.load(ordering: .relaxed) && !pace(i) { usleep(5_000) }
                while !stopFlag.load(ordering: .relaxed) && HttpTestClient.request(port: port, body: Array(body.utf8))?.status != 200 {
                    usleep(20_000)
                }
                if stopFlag.load(ordering: .relaxed) { break }
                count.withLock { $0 += 1 }
            }
            finished.signal()
        }
    }

    func stop() {
        stopFlag.store(true, ordering: .relaxed)
        _ = finished.wait(timeout: .now() + 60)
    }
}

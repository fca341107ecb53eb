#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Testing
@testable import LuaPipeline

/// CarbonOutput sends the Payload's plaintext lines to carbon over TCP (reconnecting when
/// the daemon goes away) or UDP; here a fake carbon on a free port receives them.
@Suite struct CarbonOutputTests {
    /// A TCP listener that accepts connections one after another and keeps what arrives.
    final class FakeCarbon: @unchecked Sendable {  // `received` is the only shared data
        let fd: Int32
        let received = Mutex("")
        private let stop = Atomic<Bool>(false)
        private let done = DispatchSemaphore(value: 0)
        /// Set to close the current connection (carbon restarting).
        let dropConnection = Atomic<Bool>(false)

        init() throws {
            fd = try Socket.listen("127.0.0.1:0")
            Thread.detachNewThread { [self] in
                while !stop.load(ordering: .relaxed) {
                    guard Socket.readable(fd, ms: 50) else { continue }
                    let c = accept(fd, nil, nil)
                    guard c >= 0 else { continue }
                    var buf = [UInt8](repeating: 0, count: 65536)
                    while !stop.load(ordering: .relaxed) && !dropConnection.load(ordering: .relaxed) {
                        guard Socket.readable(c, ms: 50) else { continue }
                        let n = recv(c, &buf, buf.count, 0)
                        if n <= 0 { break }
                        received.withLock { $0 += String(decoding: buf[0..<n], as: UTF8.self) }
                    }
                    dropConnection.store(false, ordering: .relaxed)
                    close(c)
                }
                done.signal()
            }
        }

        var port: Int { boundPort(fd) }
        var lines: [String] { received.withLock { $0 }.split(separator: "\n").map(String.init) }

        func finish() {
            stop.store(true, ordering: .relaxed)
            _ = done.wait(timeout: .now() + 10)
            close(fd)
        }
    }

    func start(_ h: ReloadHarness, port: Int, proto: String) throws {
        try h.start("""
            [carbon]
            type = "CarbonOutput"
            address = "127.0.0.1:\(port)"
            protocol = "\(proto)"
            message_matcher = "Type == 'StdinInput'"
            tcp_keep_alive = true
            """)
    }

    @Test func linesReachCarbonOverTcpAndAgainAfterItRestarts() throws {
        let carbon = try FakeCarbon()
        defer { carbon.finish() }
        let h = ReloadHarness()
        try start(h, port: carbon.port, proto: "tcp")
        let first = (0..<500).map { "stats.counters.app.c\($0 % 7) \($0) 1700000000" }
        h.send(first)
        h.waitUntil("carbon received every line") { carbon.lines == first }
        carbon.dropConnection.store(true, ordering: .relaxed)
        // Lines written into the dropped connection may be lost (carbon's plaintext
        // protocol has no acknowledgement); later ones arrive on a new connection.
        h.keepSending(until: "lines arrive again after carbon came back") { carbon.lines.contains("tick") }
        h.finish()
        #expect(h.counter("carbon", "written") >= Int64(first.count))
    }

    @Test func linesReachCarbonOverUdpInWholeLineDatagrams() throws {
        let fd = try Socket.bindUDP("127.0.0.1:0")
        defer { close(fd) }
        let h = ReloadHarness()
        try start(h, port: boundPort(fd), proto: "udp")
        let lines = (0..<200).map { "stats.gauges.app.g\($0) \($0).5 1700000000" }
        h.send(lines)
        var got: [String] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        h.waitUntil("every line arrived") {
            while Socket.readable(fd, ms: 10) {
                let n = recv(fd, &buf, buf.count, 0)
                guard n > 0 else { break }
                let text = String(decoding: buf[0..<n], as: UTF8.self)
                #expect(text.hasSuffix("\n"))  // a datagram holds whole lines
                got += text.split(separator: "\n").map(String.init)
            }
            return got.count >= lines.count
        }
        #expect(got == lines)
        h.finish()
    }
}

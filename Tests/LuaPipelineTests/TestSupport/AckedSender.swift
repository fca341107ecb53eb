#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
@testable import LuaPipeline

/// A client of a TcpInput with `ack = true`, as a careful application would be: it sends
/// framed messages with a window of unacknowledged ones, and after a lost connection it
/// reconnects and sends again everything not acknowledged. Runs on its own thread.
final class AckedSender: @unchecked Sendable {  // `state` is the only shared data
    struct State {
        var acknowledged = 0
        var connections = 0
        var done = false
        var failure: String?
    }

    let address: String
    let messages: [[UInt8]]
    let uuids: [Data]
    let window: Int
    let state = Mutex(State())
    private let stopFlag = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    /// `payloads[i]` becomes message i (Type "event").
    init(address: String, payloads: [String], window: Int = 2000) {
        self.address = address
        self.window = window
        var m: [[UInt8]] = [], u: [Data] = []
        var gen = UUIDSource.random.makeGenerator()
        for p in payloads {
            let msg = Message(uuid: gen.next(), timestamp: 1_700_000_000_000_000_000, type: "event", logger: "sender", payload: p)
            let view = MessageView(msg)
            m.append(StreamFraming.frame(withExtendedLifetime(view) { Array(view.bytes) }))
            u.append(withExtendedLifetime(view) { Data(view.bytes[view.range(of: .uuid)!]) })
        }
        messages = m
        uuids = u
    }

    var acknowledged: Int { state.withLock { $0.acknowledged } }

    func start() {
        Thread.detachNewThread { [self] in
            run()
            finished.signal()
        }
    }

    /// Stops and waits for the thread (bounded).
    func stop() {
        stopFlag.store(true, ordering: .relaxed)
        _ = finished.wait(timeout: .now() + 30)
    }

    private func run() {
        var index: [Data: Int] = [:]
        for (i, u) in uuids.enumerated() { index[u] = i }
        var acked = [Bool](repeating: false, count: messages.count)
        var unacked: [Int] = []  // in send order, pruned lazily
        var next = 0
        var ackedCount = 0
        let deadline = Date().addingTimeInterval(600)
        while !stopFlag.load(ordering: .relaxed) && ackedCount < messages.count {
            guard Date() < deadline else {
                state.withLock { $0.failure = "gave up after 600 s with \(ackedCount) acknowledged" }
                return
            }
            guard let fd = try? Socket.connect(address) else {
                usleep(20_000)
                continue
            }
            state.withLock { $0.connections += 1 }
            var ok = true
            // Everything not acknowledged goes again, in order.
            unacked.removeAll { acked[$0] }
            var resend: [UInt8] = []
            for i in unacked { resend += messages[i] }
            if !resend.isEmpty { ok = Socket.writeAll(fd, resend) }
            var buffer: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while ok && !stopFlag.load(ordering: .relaxed) && ackedCount < messages.count {
                if next < messages.count && unacked.count < window {
                    var out: [UInt8] = []
                    let end = min(next + 200, messages.count)
                    for i in next..<end {
                        out += messages[i]
                        unacked.append(i)
                    }
                    next = end
                    if !Socket.writeAll(fd, out) { ok = false; break }
                }
                guard Socket.readable(fd, ms: 20) else { continue }
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { ok = false; break }
                buffer += chunk[0..<n]
                var k = 0
                while buffer.count - k >= 17 {
                    guard buffer[k] == 0x06 else {
                        state.withLock { $0.failure = "not an acknowledgement: byte \(buffer[k])" }
                        close(fd)
                        return
                    }
                    if let i = index[Data(buffer[(k + 1)..<(k + 17)])], !acked[i] {
                        acked[i] = true
                        ackedCount += 1
                    }
                    k += 17
                }
                buffer.removeFirst(k)
                state.withLock { $0.acknowledged = ackedCount }
                if unacked.count >= window { unacked.removeAll { acked[$0] } }
            }
            close(fd)
        }
        state.withLock { $0.done = ackedCount == messages.count }
    }
}

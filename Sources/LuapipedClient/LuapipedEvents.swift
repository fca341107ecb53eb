import FoundationEssentials
import Glibc
import Synchronization

/// Events to the local luapiped, acknowledged: ``emit(_:)`` returns once the daemon's
/// TcpInput (`ack = true`) has the message in its durable queue. Messages not acknowledged
/// when the connection drops are sent again, with the same Uuid, after it reconnects (the
/// daemon recognises them). At most `capacity` messages wait for their acknowledgement;
/// `emit` waits for room rather than growing. One background thread does all the I/O.
public final class LuapipedEvents: @unchecked Sendable {  // all shared state is in `state`
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public let address: String
    public let capacity: Int
    /// How long an emit waits for its acknowledgement before it throws.
    public let timeout: Double

    private struct Entry {
        let key: [UInt8]
        let frame: [UInt8]
        var sent = false
        let continuation: CheckedContinuation<Void, any Error>
        let deadline: Double
    }

    private struct State {
        var outbox: [[UInt8]: Entry] = [:]
        var order: [[UInt8]] = []
        var roomWaiters: [CheckedContinuation<Void, Never>] = []
        var closed = false
        var lastError = "not connected yet"
        var reconnects = 0
    }

    private let state = Mutex(State())

    /// - Parameters:
    ///   - address: the daemon's TcpInput with `ack = true`, host:port.
    ///   - capacity: messages awaiting acknowledgement at most.
    ///   - timeout: seconds an emit waits for its acknowledgement before throwing.
    public init(address: String = "127.0.0.1:5565", capacity: Int = 1000, timeout: Double = 30) {
        self.address = address
        self.capacity = max(1, capacity)
        self.timeout = timeout
        ClientThread.start { [self] in run() }
    }

    /// Times the connection was lost or could not be made.
    public var reconnects: Int { state.withLock { $0.reconnects } }

    /// Sends `message` and returns once the daemon acknowledged it. Throws when the client
    /// was closed, the task was cancelled, or no acknowledgement came within `timeout`
    /// (then the message may still be stored: the daemon may have it).
    public func emit(_ message: LuapipedMessage) async throws {
        try await emit(message.message)
    }

    /// Sends a message built in the daemon's own model (any field types, representations,
    /// arrays of values). Its Uuid is how the daemon recognises a resend, so it must be 16
    /// bytes and unique: a message whose Uuid is not is refused before it is sent.
    public func emit(_ message: Message) async throws {
        guard message.uuid.count == 16, message.uuid.contains(where: { $0 != 0 }) else {
            throw Failure(description: "the message has no Uuid of its own (16 bytes, not all zero): the daemon could not tell it from a resend")
        }
        try await waitForRoom()
        let key = message.uuid
        let frame = StreamFraming.frame(message.encoded())
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let refused: String? = state.withLock { s in
                    if s.closed { return "the client is closed" }
                    if Task.isCancelled { return "cancelled" }
                    s.outbox[key] = Entry(key: key, frame: frame, continuation: c, deadline: Self.now() + timeout)
                    s.order.append(key)
                    return nil
                }
                if let refused { c.resume(throwing: refused == "cancelled" ? CancellationError() as any Error : Failure(description: refused)) }
            }
        } onCancel: {
            finish(key, with: CancellationError())
        }
    }

    /// Stops the thread; emits still waiting throw.
    public func close() {
        let (waiting, rooms) = state.withLock { s -> ([Entry], [CheckedContinuation<Void, Never>]) in
            s.closed = true
            defer {
                s.outbox.removeAll()
                s.order.removeAll()
                s.roomWaiters.removeAll()
            }
            return (Array(s.outbox.values), s.roomWaiters)
        }
        for e in waiting { e.continuation.resume(throwing: Failure(description: "the client was closed before the daemon acknowledged")) }
        for r in rooms { r.resume() }
    }

    deinit { close() }

    private static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    private func waitForRoom() async throws {
        while true {
            if Task.isCancelled { throw CancellationError() }
            let ready = state.withLock { $0.closed || $0.outbox.count < capacity }
            if ready { return }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.closed || s.outbox.count < capacity { return true }
                    s.roomWaiters.append(c)
                    return false
                }
                if now { c.resume() }
            }
        }
    }

    /// Removes `key`'s entry and resumes its emit (nil: acknowledged).
    private func finish(_ key: [UInt8], with error: (any Error)?) {
        let (entry, room) = state.withLock { s -> (Entry?, CheckedContinuation<Void, Never>?) in
            guard let e = s.outbox.removeValue(forKey: key) else { return (nil, nil) }
            return (e, s.roomWaiters.isEmpty ? nil : s.roomWaiters.removeFirst())
        }
        if let entry {
            if let error { entry.continuation.resume(throwing: error) } else { entry.continuation.resume() }
        }
        room?.resume()
    }

    private func run() {
        var fd: Int32 = -1
        var delay = 0.05
        var pending: [UInt8] = []
        while !state.withLock({ $0.closed }) {
            expire()
            if fd < 0 {
                do throws(DaemonSocket.Failure) {
                    fd = try DaemonSocket.connect(address, type: Int32(SOCK_STREAM.rawValue))
                    delay = 0.05
                    pending.removeAll()
                    // Everything unacknowledged goes again, with its Uuid.
                    state.withLock { s in for k in s.order where s.outbox[k] != nil { s.outbox[k]!.sent = false } }
                } catch {
                    state.withLock {
                        $0.lastError = error.description
                        $0.reconnects += 1
                    }
                    ClientThread.sleep(delay)
                    delay = min(delay * 2, 2)
                    continue
                }
            }
            let frames = state.withLock { s -> [UInt8] in
                s.order.removeAll { s.outbox[$0] == nil }
                var out: [UInt8] = []
                for k in s.order where s.outbox[k]?.sent == false {
                    out += s.outbox[k]!.frame
                    s.outbox[k]!.sent = true
                }
                return out
            }
            if !frames.isEmpty && !DaemonSocket.writeAll(fd, frames) {
                drop(&fd, "sending to \(address) failed: \(DaemonSocket.errnoText())")
                continue
            }
            guard DaemonSocket.wait(fd, POLLIN, 0.02) else { continue }
            var buf = [UInt8](repeating: 0, count: 17 * 256)
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) {
                drop(&fd, n == 0 ? "the daemon at \(address) closed the connection" : "reading from \(address) failed: \(DaemonSocket.errnoText())")
                continue
            }
            guard n > 0 else { continue }
            pending += buf[0..<n]
            var i = 0
            while pending.count - i >= 17 {
                guard pending[i] == 0x06 else {
                    // Not luapiped's acknowledgement (0x06 + Uuid): a wrong port or a broken daemon.
                    drop(&fd, "the peer at \(address) answered something that is not an acknowledgement (is it a TcpInput with ack = true?)")
                    ClientThread.sleep(delay)
                    delay = min(delay * 2, 2)
                    break
                }
                finish(Array(pending[(i + 1)..<(i + 17)]), with: nil)
                i += 17
            }
            if fd >= 0 { pending.removeFirst(i) }
        }
        if fd >= 0 { Glibc.close(fd) }
    }

    private func drop(_ fd: inout Int32, _ why: String) {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
        state.withLock {
            $0.lastError = why
            $0.reconnects += 1
        }
    }

    /// Emits past their deadline throw, saying what the connection last went through.
    private func expire() {
        let now = Self.now()
        let (late, why) = state.withLock { s in (s.outbox.values.filter { $0.deadline < now }.map(\.key), s.lastError) }
        for k in late { finish(k, with: Failure(description: "no acknowledgement within \(timeout) s (last: \(why))")) }
    }
}

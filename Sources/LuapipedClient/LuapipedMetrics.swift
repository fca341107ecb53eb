import CoreMetrics
import Dispatch
import FoundationEssentials
import Glibc
import Synchronization

/// Sends StatsD lines over UDP to the daemon's StatsdInput, batched into datagrams of up
/// to `maxDatagram` bytes. ``line(_:)`` never blocks: full datagrams go to a queue of at
/// most `maxQueueBytes`, which a background thread sends (waiting for room in the socket
/// while the daemon catches up); the part-filled one leaves every `flushInterval`. A
/// datagram that does not fit in the queue is dropped and counted.
public final class StatsdSender: @unchecked Sendable {  // `state` is the shared state
    public let address: String
    public let maxDatagram: Int
    public let maxQueueBytes: Int
    private let fd: Int32
    private struct State {
        var current: [UInt8] = []
        var queue: [[UInt8]] = []
        var queued = 0
        var sent = 0
        var dropped = 0
        var closed = false
        /// The background thread sent its last datagrams and closed the socket.
        var finished = false
        var lastError: String?
    }
    private let state = Mutex(State())
    private let ready = DispatchSemaphore(value: 0)

    public init(address: String = "127.0.0.1:8125", maxDatagram: Int = 1432, flushInterval: Double = 0.1,
                maxQueueBytes: Int = 4 << 20) throws {
        self.address = address
        self.maxDatagram = maxDatagram
        self.maxQueueBytes = maxQueueBytes
        do throws(DaemonSocket.Failure) {
            fd = try DaemonSocket.connect(address, type: Int32(SOCK_DGRAM.rawValue))
        } catch {
            throw LuapipedEvents.Failure(description: error.description)
        }
        // The thread holds the sender until close(): it owns the socket and closes it.
        ClientThread.start { [self] in
            var closed = false
            while !closed {
                _ = ready.wait(timeout: .now() + flushInterval)
                let (batch, current, last) = state.withLock { s -> ([[UInt8]], [UInt8], Bool) in
                    defer {
                        s.queue.removeAll(keepingCapacity: true)
                        s.queued = 0
                        s.current.removeAll(keepingCapacity: true)
                    }
                    return (s.queue, s.current, s.closed)
                }
                for d in batch + (current.isEmpty ? [] : [current]) { sendDatagram(d, giveUp: last) }
                closed = last
            }
            Glibc.close(fd)
            state.withLock { $0.finished = true }
        }
    }

    /// Sends what is buffered, then ends the background thread and closes the socket;
    /// lines added afterwards are dropped and counted.
    public func close() {
        state.withLock { $0.closed = true }
        ready.signal()
    }

    /// Whether, after ``close()``, the background thread has sent what was buffered (or
    /// counted it dropped) and closed the socket: nothing the sender does changes its
    /// counters or ``lastError`` afterwards, but a line added after the close.
    public var isFinished: Bool { state.withLock { $0.finished } }

    /// Datagrams sent, and dropped (the queue was full, or the socket refused them).
    public var datagrams: (sent: Int, dropped: Int) { state.withLock { ($0.sent, $0.dropped) } }

    /// Adds one StatsD line (without its newline).
    public func line(_ text: String) {
        let bytes = Array(text.utf8)
        let queued = state.withLock { s -> Bool in
            var queued = false
            if s.closed {
                s.dropped += 1
                s.lastError = "closed"
                return false
            }
            if !s.current.isEmpty && s.current.count + 1 + bytes.count > maxDatagram {
                if s.queued + s.current.count <= maxQueueBytes {
                    s.queue.append(s.current)
                    s.queued += s.current.count
                    queued = true
                } else {
                    s.dropped += 1
                    s.lastError = "queue full (\(maxQueueBytes) bytes)"
                }
                s.current.removeAll(keepingCapacity: true)
            }
            if !s.current.isEmpty { s.current.append(0x0A) }
            s.current += bytes
            return queued
        }
        if queued { ready.signal() }
    }

    /// Sends what is buffered now (the background thread does, at once).
    public func flush() {
        state.withLock { s in
            if !s.current.isEmpty {
                s.queue.append(s.current)
                s.queued += s.current.count
                s.current.removeAll(keepingCapacity: true)
            }
        }
        ready.signal()
    }

    /// Why the last datagram was dropped.
    public var lastError: String? { state.withLock { $0.lastError } }

    /// Whether nothing waits to be sent.
    public var isIdle: Bool { state.withLock { $0.queue.isEmpty && $0.current.isEmpty } }

    /// Sends one datagram, waiting (on this background thread) while the socket is full;
    /// once closing (`giveUp`), tries once.
    private func sendDatagram(_ bytes: [UInt8], giveUp: Bool = false) {
        var n = -1
        for _ in 0..<(giveUp ? 1 : 1000) {
            n = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
            // ECONNREFUSED reports an earlier datagram that found no listener: this one was
            // not sent, try it again.
            if n >= 0 || (errno != EAGAIN && errno != ENOBUFS && errno != EINTR && errno != ECONNREFUSED) { break }
            if !DaemonSocket.wait(fd, POLLOUT, 0.01) { ClientThread.sleep(0.001) }
        }
        let why = n < 0 ? "sending to \(address) failed: \(DaemonSocket.errnoText())" : nil
        state.withLock {
            if let why {
                $0.dropped += 1
                $0.lastError = why
            } else {
                $0.sent += 1
            }
        }
    }
}

/// A swift-metrics backend writing StatsD to the local luapiped: counters as `|c`, gauges
/// and meters as `|g`, recorders (aggregate) and timers as `|ms` (milliseconds), the
/// dimensions as DogStatsD tags (`|#k:v`). With `sampleRate` below 1, counters and timers
/// send that share of their updates with `|@rate`, which StatsdInput scales back.
public final class LuapipedMetricsFactory: MetricsFactory, @unchecked Sendable {  // immutable after init
    public let sender: StatsdSender
    public let prefix: String
    public let sampleRate: Double

    public init(sender: StatsdSender, prefix: String = "", sampleRate: Double = 1) {
        self.sender = sender
        self.prefix = prefix
        self.sampleRate = min(1, max(0.0001, sampleRate))
    }

    func name(_ label: String) -> String {
        let cleaned = String(label.map { ":|@#\n ".contains($0) ? "_" : $0 })
        return prefix.isEmpty ? cleaned : "\(prefix).\(cleaned)"
    }

    static func tags(_ dimensions: [(String, String)]) -> String {
        dimensions.isEmpty ? "" : "|#" + dimensions.map { "\($0.0):\($0.1)" }.joined(separator: ",")
    }

    /// What every handler shares: its name and tags, and how a line leaves.
    class Base: @unchecked Sendable {  // immutable
        let factory: LuapipedMetricsFactory
        let name: String
        let tags: String

        init(_ factory: LuapipedMetricsFactory, _ label: String, _ dimensions: [(String, String)]) {
            self.factory = factory
            self.name = factory.name(label)
            self.tags = LuapipedMetricsFactory.tags(dimensions)
        }

        func emit(_ value: String, _ type: String, sampled: Bool) {
            let rate = factory.sampleRate
            if sampled && rate < 1 {
                guard Double.random(in: 0..<1) < rate else { return }
                factory.sender.line("\(name):\(value)|\(type)|@\(rate)\(tags)")
            } else {
                factory.sender.line("\(name):\(value)|\(type)\(tags)")
            }
        }

        static func number(_ d: Double) -> String {
            d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        }
    }

    final class Counter: Base, CounterHandler, FloatingPointCounterHandler, @unchecked Sendable {
        func increment(by amount: Int64) { emit(String(amount), "c", sampled: true) }
        func increment(by amount: Double) { emit(Self.number(amount), "c", sampled: true) }
        func reset() {}
    }

    /// A recorder: a gauge (`aggregate: false`) or a timer-like distribution.
    final class Recorder: Base, RecorderHandler, @unchecked Sendable {
        let gauge: Bool
        init(_ f: LuapipedMetricsFactory, _ label: String, _ d: [(String, String)], gauge: Bool) {
            self.gauge = gauge
            super.init(f, label, d)
        }
        func record(_ value: Int64) { record(Double(value)) }
        func record(_ value: Double) { emit(Self.number(value), gauge ? "g" : "ms", sampled: !gauge) }
    }

    final class Timer: Base, TimerHandler, @unchecked Sendable {
        func recordNanoseconds(_ duration: Int64) { emit(Self.number(Double(duration) / 1e6), "ms", sampled: true) }
    }

    final class Meter: Base, MeterHandler, @unchecked Sendable {
        func set(_ value: Int64) { set(Double(value)) }
        func set(_ value: Double) { emit(Self.number(value), "g", sampled: false) }
        func increment(by amount: Double) { emit("+" + Self.number(amount), "g", sampled: false) }
        func decrement(by amount: Double) { emit("-" + Self.number(amount), "g", sampled: false) }
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { Counter(self, label, dimensions) }
    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        Counter(self, label, dimensions)
    }
    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        Recorder(self, label, dimensions, gauge: !aggregate)
    }
    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { Timer(self, label, dimensions) }
    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler { Meter(self, label, dimensions) }

    public func destroyCounter(_ handler: any CounterHandler) {}
    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    public func destroyRecorder(_ handler: any RecorderHandler) {}
    public func destroyTimer(_ handler: any TimerHandler) {}
    public func destroyMeter(_ handler: any MeterHandler) {}
}

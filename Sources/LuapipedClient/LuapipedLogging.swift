import FoundationEssentials
import Glibc
import Logging
import Synchronization

/// Ships framed messages to the daemon's TcpInput (no acknowledgements: logs) from a
/// bounded in-memory queue. ``send(_:)`` never blocks: a record that does not fit in
/// `maxQueueBytes` is dropped, counted and reported through `onDrop`. One background
/// thread connects (reconnecting with backoff) and writes.
public final class LuapipedShipper: @unchecked Sendable {  // shared state is in `state`
    public let address: String
    public let maxQueueBytes: Int
    private let onDrop: (@Sendable (_ dropped: Int, _ why: String) -> Void)?

    /// The queue is one buffer of frames: `send` appends a frame's bytes, the thread swaps
    /// the whole buffer for its own emptied one. Nothing is allocated under the lock in the
    /// steady state, and no memory allocated by the caller is freed by the thread (a free
    /// across threads takes the allocator's lock of the caller's arena: the caller would
    /// wait on it).
    private struct State {
        var queue: [UInt8] = []
        var frames = 0
        var bytes = 0
        var dropped = 0
        var sent = 0
        var taken = 0  // frames the thread took from the queue and has not written yet
        var closed = false
        var lastError = "not connected yet"
        var connected = false
    }

    private let state = Mutex(State())

    public init(address: String = "127.0.0.1:5565", maxQueueBytes: Int = 4 << 20,
                onDrop: (@Sendable (_ dropped: Int, _ why: String) -> Void)? = nil) {
        self.address = address
        self.maxQueueBytes = maxQueueBytes
        self.onDrop = onDrop
        ClientThread.start { [self] in run() }
    }

    /// Records dropped since the start (the queue was full: the daemon slow or down).
    public var dropped: Int { state.withLock { $0.dropped } }
    /// Records written to the daemon's connection.
    public var sent: Int { state.withLock { $0.sent } }
    /// Records queued and not written yet (at most `maxQueueBytes` of them).
    public var pending: Int { state.withLock { $0.frames + $0.taken } }
    /// The three counts read at one instant: every record given to ``send(_:)`` is in
    /// exactly one of them.
    public var counts: (sent: Int, pending: Int, dropped: Int) {
        state.withLock { ($0.sent, $0.frames + $0.taken, $0.dropped) }
    }

    /// Queues a message; returns at once.
    public func send(_ message: LuapipedMessage) {
        let frame = message.framed()
        let drop = state.withLock { s -> (Int, String)? in
            if s.closed || s.bytes + frame.count > maxQueueBytes {
                s.dropped += 1
                return (s.dropped, s.closed ? "closed" : "queue full (\(s.lastError))")
            }
            s.queue.append(contentsOf: frame)
            s.frames += 1
            s.bytes += frame.count
            return nil
        }
        if let drop { onDrop?(drop.0, drop.1) }
    }

    public func close() { state.withLock { $0.closed = true } }

    deinit { close() }

    private func run() {
        var fd: Int32 = -1
        var delay = 0.05
        // The frames taken and not yet written (kept across a failed connect or write),
        // and the emptied buffer handed back to the queue at the next swap.
        var batch: [UInt8] = [], frames = 0
        var spare: [UInt8] = []
        while true {
            let closed = state.withLock { s -> Bool in
                if s.closed { return true }
                if s.frames > 0 {
                    swap(&spare, &s.queue)
                    frames += s.frames
                    s.taken += s.frames
                    s.frames = 0
                }
                return false
            }
            if closed { break }
            if !spare.isEmpty {
                if batch.isEmpty { swap(&batch, &spare) } else { batch += spare }
                spare.removeAll(keepingCapacity: true)
            }
            if batch.isEmpty {
                ClientThread.sleep(0.01)
                continue
            }
            if fd < 0 {
                do throws(DaemonSocket.Failure) {
                    fd = try DaemonSocket.connect(address, type: Int32(SOCK_STREAM.rawValue))
                    delay = 0.05
                } catch {
                    state.withLock { $0.lastError = error.description }
                    // Still counted against the queue: what waits here is part of it.
                    let until = delay
                    delay = min(delay * 2, 2)
                    ClientThread.sleep(until)
                    continue
                }
            }
            if DaemonSocket.writeAll(fd, batch) {
                let count = frames, bytes = batch.count
                state.withLock {
                    $0.sent += count
                    $0.taken -= count
                    $0.bytes -= bytes
                }
                batch.removeAll(keepingCapacity: true)
                frames = 0
            } else {
                state.withLock { $0.lastError = "writing to \(address) failed: \(DaemonSocket.errnoText())" }
                Glibc.close(fd)
                fd = -1
            }
        }
        if fd >= 0 { Glibc.close(fd) }
    }
}

/// A swift-log handler sending each record to luapiped: Severity from the level, Logger
/// from the label, the metadata as typed Fields (nested dictionaries and arrays flattened
/// to dotted names), and the source file, function and line as fields. Never blocks the
/// caller (``LuapipedShipper``).
public struct LuapipedLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public let label: String
    public let shipper: LuapipedShipper
    /// The Type of the messages.
    public var type: String

    public init(label: String, shipper: LuapipedShipper, type: String = "app.log") {
        self.label = label
        self.shipper = shipper
        self.type = type
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Heka's (syslog's) severity of a swift-log level.
    public static func severity(_ level: Logger.Level) -> Int32 {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    public func log(event: LogEvent) {
        let level = event.level
        var all = metadata
        if let explicit = event.metadata { all.merge(explicit) { $1 } }
        var fields: [(String, LuapipedValue)] = []
        for (k, v) in all.sorted(by: { $0.key < $1.key }) { Self.flatten(k, v, into: &fields) }
        fields += [("level", .string(level.rawValue)), ("source", .string(event.source)), ("file", .string(event.file)),
                   ("function", .string(event.function)), ("line", .integer(Int64(event.line)))]
        shipper.send(LuapipedMessage(type: type, payload: event.message.description, logger: label, severity: Self.severity(level), fields: fields))
    }

    /// Strings stay strings; a `.stringConvertible` integer, double, float or boolean is
    /// sent with that type (`logger.info("x", metadata: ["n": .stringConvertible(5)])`).
    static func flatten(_ name: String, _ value: Logger.Metadata.Value, into out: inout [(String, LuapipedValue)]) {
        switch value {
        case .string(let s): out.append((name, .string(s)))
        case .stringConvertible(let c):
            switch c {
            case let i as any BinaryInteger: out.append((name, .integer(Int64(truncatingIfNeeded: i))))
            case let d as Double: out.append((name, .double(d)))
            case let f as Float: out.append((name, .double(Double(f))))
            case let b as Bool: out.append((name, .bool(b)))
            default: out.append((name, .string(c.description)))
            }
        case .dictionary(let d):
            for (k, v) in d.sorted(by: { $0.key < $1.key }) { flatten("\(name).\(k)", v, into: &out) }
        case .array(let a):
            for (i, v) in a.enumerated() { flatten("\(name).\(i)", v, into: &out) }
        }
    }
}

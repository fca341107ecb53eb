import FoundationEssentials
import Synchronization

/// TcpOutput: sends framed messages to another luapiped's TcpInput and keeps each one
/// until the receiver acknowledges it (``AckFrame``); the router cursor advances only over
/// acknowledged messages. A lost connection is re-established with backoff and every
/// unacknowledged message is sent again (the receiver recognises duplicates by Uuid).
/// With `wait_for_ack = false` a message counts as delivered once written.
final class TcpOutputRunner: @unchecked Sendable {  // runs on its own thread; other threads only set the abandon/retiring atomics
    let name: String
    let reader: RouterReader
    let encoder: any MessageEncoder
    let framing: Bool
    let address: String
    let waitForAck: Bool
    let counters: PluginCounters
    let log: PipelineLog
    let abandon = Atomic<Bool>(false)
    let retiring = Atomic<Bool>(false)
    static let maxInflight = 10_000

    private struct Inflight {
        let seq: UInt64
        let uuid: RecentUuids.UUIDKey?
        let frame: [UInt8]
        var acked: Bool
    }

    private var inflight: [Inflight] = []
    private var head = 0
    private var index: [RecentUuids.UUIDKey: Int] = [:]
    private var fd: Int32 = -1
    private var ackBuffer: [UInt8] = []
    private var backoff = 0.05
    private var nextConnect = Date.distantPast

    init(name: String, reader: RouterReader, encoder: any MessageEncoder, framing: Bool, address: String, waitForAck: Bool,
         counters: PluginCounters, log: PipelineLog) {
        self.name = name
        self.reader = reader
        self.encoder = encoder
        self.framing = framing
        self.address = address
        self.waitForAck = waitForAck
        self.counters = counters
        self.log = log
    }

    private static func key(_ view: MessageView) -> RecentUuids.UUIDKey? {
        guard let r = view.range(of: .uuid) else { return nil }
        return RecentUuids.UUIDKey(UnsafeRawBufferPointer(rebasing: view.bytes[r]))
    }

    private func disconnect(_ why: String) {
        if fd >= 0 {
            close(fd)
            fd = -1
            counters.add(.disconnects)
            log.error(name, "\(why); reconnecting")
        }
        ackBuffer.removeAll()
    }

    private func connectIfNeeded() {
        guard fd < 0, Date() >= nextConnect else { return }
        do {
            fd = try Socket.connect(address)
            backoff = 0.05
            counters.add(.connects)
            // Everything not acknowledged goes again, in order.
            for i in head..<inflight.count where !inflight[i].acked {
                if !Socket.writeAll(fd, inflight[i].frame) {
                    disconnect("write to \(address) failed")
                    return
                }
                if !waitForAck { inflight[i].acked = true }
                counters.add(.resent)
            }
        } catch {
            nextConnect = Date().addingTimeInterval(backoff)
            backoff = min(backoff * 2, 5)
        }
    }

    private func readAcks() {
        while fd >= 0 && Socket.readable(fd, ms: 0) {
            var buf = [UInt8](repeating: 0, count: 1 << 14)
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                disconnect("\(address) closed the connection")
                return
            }
            ackBuffer += buf[0..<n]
            var i = 0
            while i + AckFrame.size <= ackBuffer.count {
                guard ackBuffer[i] == AckFrame.marker else {
                    disconnect("garbage instead of an acknowledgement")
                    return
                }
                let k = ackBuffer.withUnsafeBytes { RecentUuids.UUIDKey($0, at: i + 1) }
                if let at = index[k] {
                    inflight[at].acked = true
                    index[k] = nil
                }
                i += AckFrame.size
            }
            ackBuffer.removeFirst(i)
        }
    }

    /// Pops acknowledged messages off the front and advances the router cursor.
    private func settle() {
        var last: UInt64?
        var n: Int64 = 0
        while head < inflight.count && inflight[head].acked {
            last = inflight[head].seq
            head += 1
            n += 1
        }
        if let last {
            counters.add(.acknowledged, n)
            reader.acknowledge(through: last)
        }
        if head > 4096 && head * 2 > inflight.count {
            inflight.removeFirst(head)
            head = 0
            index = [:]
            for (i, f) in inflight.enumerated() where !f.acked { if let u = f.uuid { index[u] = i } }
        }
    }

    /// Waits until the receiver sends acknowledgements (the socket is readable), at most
    /// `ms`; without a connection, the pause before the next connection attempt.
    private func waitForAcks(ms: Int32) {
        if fd >= 0 {
            _ = Socket.readable(fd, ms: ms)
        } else {
            Threads.sleep(Double(ms) / 1000)  // reconnect pacing
        }
    }

    func run() {
        var closed = false
        while true {
            connectIfNeeded()
            readAcks()
            settle()
            let pending = inflight.count - head
            if retiring.load(ordering: .relaxed) { closed = true }
            if closed {
                if pending == 0 || abandon.load(ordering: .relaxed) { break }
                waitForAcks(ms: 10)
                continue
            }
            if pending >= Self.maxInflight || (fd < 0 && pending > 0) {
                waitForAcks(ms: 5)
                continue
            }
            guard let batch = reader.next(maxCount: 256, timeout: 0.05) else {
                closed = true
                continue
            }
            if batch.isEmpty { if pending == 0 { reader.acknowledgeAll() }; continue }
            for m in batch {
                counters.add(.processed)
                var frame: [UInt8]?
                do {
                    if let bytes = try encoder.encode(m.view) { frame = framing ? StreamFraming.frame(bytes) : bytes }
                } catch {
                    counters.add(.encodeFailures)
                    log.error(name, "encoding message \(m.seq): \(error)")
                }
                guard let frame else {
                    inflight.append(Inflight(seq: m.seq, uuid: nil, frame: [], acked: true))
                    continue
                }
                let uuid = Self.key(m.view)
                let acked = !waitForAck || uuid == nil
                inflight.append(Inflight(seq: m.seq, uuid: uuid, frame: frame, acked: false))
                if !acked, let uuid { index[uuid] = inflight.count - 1 }
                if fd >= 0 {
                    if Socket.writeAll(fd, frame) {
                        counters.add(.sent)
                        if acked { inflight[inflight.count - 1].acked = true }
                    } else {
                        disconnect("write to \(address) failed")
                    }
                }
            }
        }
        if fd >= 0 { close(fd) }
        let left = inflight.count - head
        if left > 0 { log.error(name, "stopping with \(left) messages not acknowledged by \(address)") }
    }
}

#if canImport(Glibc)
import Glibc
#endif

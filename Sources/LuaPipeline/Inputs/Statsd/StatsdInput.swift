import FoundationEssentials
import Synchronization

/// Receives StatsD metrics over UDP (Heka's StatsdInput): one or more newline-separated
/// metric lines per datagram (``StatsdLine``), handed to a
/// ``StatAccumulator``. A datagram over `max_msg_size` is cut there (its last, partial line
/// dropped) and counted as `truncated`; malformed lines are counted (`malformed`) and
/// dropped. Without a StatAccumInput section of its `stat_accum_name`, it accumulates
/// and emits on its own with StatAccumInput's defaults.
final class StatsdInput: PipelineInput, @unchecked Sendable {  // runs on its own thread; other threads only call stop(), a DoneFlag
    let name: String
    let address: String
    let maxMessageSize: Int
    let receiveBufferBytes: Int
    let accumulator: StatAccumulator
    /// Emits the accumulator's messages itself (no StatAccumInput runs it).
    let ownsAccumulator: Bool
    let router: Router
    let counters: PluginCounters
    let log: PipelineLog
    let hostname: String
    private let stopRequested = Atomic<Bool>(false)

    init(name: String, address: String, maxMessageSize: Int, receiveBufferBytes: Int, accumulator: StatAccumulator,
         ownsAccumulator: Bool, router: Router, counters: PluginCounters, log: PipelineLog, hostname: String) {
        self.name = name
        self.address = address
        self.maxMessageSize = max(1, maxMessageSize)
        self.receiveBufferBytes = receiveBufferBytes
        self.accumulator = accumulator
        self.ownsAccumulator = ownsAccumulator
        self.router = router
        self.counters = counters
        self.log = log
        self.hostname = hostname
    }

    private lazy var socket = BoundSocket { [address] () throws(Socket.Failure) in try Socket.bindUDP(address) }
    var listenAddress: String? { address }
    func open() throws(Socket.Failure) { try socket.open() }

    func stop() { stopRequested.store(true, ordering: .relaxed) }

    /// Parses one datagram's lines into the accumulator.
    func handle(_ bytes: UnsafeRawBufferPointer) {
        for line in String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            if line.allSatisfy({ $0 == " " || $0 == "\r" }) { continue }
            counters.add(.records)
            if let m = StatsdLine(line.hasSuffix("\r") ? line.dropLast() : line) {
                let dropped = accumulator.add(m)
                if dropped.stat { counters.add(.statsDropped) }
                if dropped.sample { counters.add(.samplesDropped) }
            } else {
                counters.add(.malformed)
                log.debug(name, "malformed metric: \(line.prefix(200))")
            }
        }
    }

    private func emit() { accumulator.emit(into: router, counters: counters, hostname: hostname) }

    func run() {
        accumulator.beginFeeding()
        defer { accumulator.endFeeding() }
        let fd: Int32
        do {
            fd = try socket.take()
        } catch {
            log.error(name, "\(error)")
            counters.add(.listenFailures)
            return
        }
        defer { close(fd) }
        var receiver = UdpReceiver(fd: fd, bufferBytes: receiveBufferBytes, name: name, counters: counters, log: log)
        var buf = [UInt8](repeating: 0, count: maxMessageSize)
        var nextFlush = Date().addingTimeInterval(accumulator.options.tickerInterval)
        while !stopRequested.load(ordering: .relaxed) {
            if ownsAccumulator && Date() >= nextFlush {
                emit()
                nextFlush = Date().addingTimeInterval(accumulator.options.tickerInterval)
            }
            guard Socket.readable(fd, ms: 50) else { continue }
            // Drain what is queued before looking at the clock again.
            while true {
                guard let n = receiver.receive(into: &buf, flags: Int32(MSG_DONTWAIT)) else { break }
                buf.withUnsafeBytes { raw in
                    if n > raw.count {
                        counters.add(.truncated)
                        log.error(name, "a \(n)-byte datagram is over max_msg_size \(raw.count): its last line is dropped")
                        let end = raw.lastIndex(of: 0x0A) ?? 0
                        handle(UnsafeRawBufferPointer(rebasing: raw[0..<end]))
                    } else {
                        handle(UnsafeRawBufferPointer(rebasing: raw[0..<n]))
                    }
                }
                if stopRequested.load(ordering: .relaxed) { break }
            }
        }
        // What is still queued in the socket is read before the last flush.
        while true {
            guard let n = receiver.receive(into: &buf, flags: Int32(MSG_DONTWAIT)) else { break }
            buf.withUnsafeBytes { raw in handle(UnsafeRawBufferPointer(rebasing: raw[0..<min(n, raw.count)])) }
        }
        if ownsAccumulator { emit() }
    }
}

/// Heka's StatAccumInput: emits its ``StatAccumulator``'s aggregates every
/// `ticker_interval`, and once more when stopping (after its StatsdInputs finished).
final class StatAccumInput: PipelineInput, @unchecked Sendable {  // runs on its own thread; other threads only call stop(), a DoneFlag
    let name: String
    let accumulator: StatAccumulator
    let router: Router
    let counters: PluginCounters
    let hostname: String
    private let stopRequested = DoneFlag()

    init(name: String, accumulator: StatAccumulator, router: Router, counters: PluginCounters, hostname: String) {
        self.name = name
        self.accumulator = accumulator
        self.router = router
        self.counters = counters
        self.hostname = hostname
    }

    func stop() { stopRequested.set() }

    private func emit() { accumulator.emit(into: router, counters: counters, hostname: hostname) }

    func run() {
        var next = Date().addingTimeInterval(accumulator.options.tickerInterval)
        while !stopRequested.wait(until: next) {
            emit()
            next = Date().addingTimeInterval(accumulator.options.tickerInterval)
        }
        accumulator.waitForFeeders(until: Date().addingTimeInterval(5))
        emit()
    }
}

#if canImport(Glibc)
import Glibc
#endif

import FoundationEssentials
import Synchronization

/// The message router: an append-only log of messages plus one cursor per reader.
///
/// ```
///  inputs / decoders ──append──▶ ┌──────────────── log ────────────────┐
///  filters (inject) ───append──▶ │ seq 17  18  19  20  21  22  23  …   │
///                                └──▲────────▲──────────────▲─────────┘
///                          reader A (ack)  reader B (ack)  reader C (ack)
///                         each with a matcher, a lag budget and a full_action
/// ```
///
/// Every message is stored once and shared by reference ( ``MessageView`` ): fan-out costs
/// no copies and nothing is re-encoded. A reader pulls batches of the messages its matcher
/// accepts and acknowledges them once done (an output: once written); the log forgets a
/// message when every reader has acknowledged past it. A reader's lag is the bytes between
/// its acknowledged position and the head; past its budget its ``FullAction`` applies:
/// `block` holds appenders (inputs) back, `drop` skips its oldest messages and counts
/// them, `shutdown` asks the daemon to stop. A reader within its budget is never held back
/// by another, and a filter's own injections never block (they are bounded per call by
/// `max_process_inject`/`max_timer_inject`), so a filter cannot wedge on itself — the
/// pack-pool deadlock Heka could hit.
///
/// Each message has a delivery class (``Delivery``): a reader past its budget first skips
/// its oldest `drop` messages, then lets `disk` messages leave memory (they are in the
/// ``DurableQueue`` and are read back from it), and only then applies its full_action,
/// whose `block` holds back `block`-class inputs alone (see `Router+Durable.swift`).
///
/// Thread safety: every method may be called from any thread; one lock guards the log.
public final class Router: @unchecked Sendable {  // every mutable field is guarded by `condition`
    struct Entry {
        /// nil once a `disk` message left memory (read back from the durable log).
        var view: MessageView?
        /// ``view`` without a retain: valid while the entry holds it (under the lock).
        var unretainedView: Unmanaged<MessageView>? { view.map { Unmanaged.passUnretained($0) } }
        let seq: UInt64
        /// Bytes appended before this entry (so lag is a subtraction), and those of the
        /// `disk` and `drop` classes among them.
        let bytesBefore: UInt64
        let diskBytesBefore: UInt64
        let dropBytesBefore: UInt64
        /// A `disk` message's position in the durable log; for the others, the log's end
        /// when they were appended (so a reader's durable cursor is a lookup).
        let durable: UInt64
        // Small fields last, packed into one word (the log holds many entries).
        private let originID: Int32
        private let loopCount: UInt16
        let delivery: Delivery
        /// The view's `typeKey` (exact or a hash, heka_type_key.h): a reader whose matcher
        /// requires one Type tells entries apart without reading their views (which
        /// another thread wrote).
        let typeKey: UInt8

        init(view: MessageView, seq: UInt64, bytesBefore: UInt64, diskBytesBefore: UInt64, dropBytesBefore: UInt64,
             origin: Int?, loops: Int, delivery: Delivery, durable: UInt64) {
            self.view = view
            self.typeKey = view.typeKey
            self.seq = seq
            self.bytesBefore = bytesBefore
            self.diskBytesBefore = diskBytesBefore
            self.dropBytesBefore = dropBytesBefore
            self.durable = durable
            self.originID = origin.map { Int32(truncatingIfNeeded: $0) } ?? -1
            self.loopCount = UInt16(clamping: loops)
            self.delivery = delivery
        }

        /// The reader that injected it (it is not delivered back to it).
        var origin: Int? { originID < 0 ? nil : Int(originID) }
        var loops: Int { Int(loopCount) }
    }

    /// Counters of the whole log.
    public struct Stats: Sendable, Equatable {
        public var appended: UInt64 = 0
        /// Messages refused because they looped more than `maxMessageLoops` times.
        public var loopDrops: UInt64 = 0
        /// Messages and bytes currently held.
        public var held: Int = 0
        public var heldBytes: UInt64 = 0
        /// The most bytes held at once since the start.
        public var peakHeldBytes: UInt64 = 0
        /// `disk` messages that left memory for a reader's budget.
        public var spilled: UInt64 = 0
    }

    /// What happened to an appended message.
    public enum AppendResult: Equatable, Sendable {
        case appended(seq: UInt64)
        /// Dropped: it had already looped through filters `maxMessageLoops` times.
        case loopLimit
        /// The router is closed.
        case closed
    }

    let condition = Condition()
    var entries: [Entry] = []
    /// Index in `entries` of the oldest live entry.
    var head = 0
    var nextSeq: UInt64 = 0
    var totalBytes: UInt64 = 0
    var totalDiskBytes: UInt64 = 0
    var totalDropBytes: UInt64 = 0
    /// `disk` messages below this sequence number have left memory.
    var spillSeq: UInt64 = 0
    /// The durable log of `disk` messages (opened by the first `disk` input, or at start
    /// when it holds records), and the position after the last one appended here.
    var durable: DurableQueue?
    var durableEnd: UInt64 = 0
    /// Durable positions of the checkpoint restored at start, by reader.
    var restoredDurable: [String: UInt64] = [:]
    var readers: [Int: RouterReader] = [:]
    var nextReaderID = 0
    /// Readers whose matcher is judging messages outside the lock without holding them
    /// (``RouterReader/next(maxCount:timeout:)``): reader id to the pin's number. A view
    /// the log lets go of meanwhile waits in `deferredReleases`, tagged with the newest
    /// pin's number, until every pin taken up to then has ended.
    var matchPins: [Int: UInt64] = [:]
    var pinCount: UInt64 = 0
    var deferredReleases: [(pin: UInt64, view: MessageView)] = []
    var closed = false
    var stats = Stats()
    /// Threads waiting on `condition`: wake-ups are skipped when nobody waits (a busy
    /// reader finds new messages on its next pull without a context switch).
    var waitingReaders = 0
    var waitingAppenders = 0
    /// Threads waiting for acknowledgements (a stop or a reload draining).
    var waitingDrainers = 0
    /// Appends since waiting readers were last woken, and when the last append was:
    /// during a burst readers are woken every `wakeBatch` messages (and poll every
    /// millisecond for the tail), after a pause at once, so an idle reader sees a new
    /// message within about a millisecond without a context switch per message.
    var unsignaled = 0
    var lastAppendNanos: UInt64 = 0
    static let wakeBatch = 64
    /// Readers waiting on the quiet condition (see ``RouterReader/next(maxCount:timeout:)``):
    /// readers of a Type no recent message had, with nothing delivered and not
    /// acknowledged. They are not woken every `wakeBatch` messages nor poll: an append of a
    /// message one of them admits wakes them at once, and until then their cursors pass
    /// the others as they are appended (see ``passQuietLocked(seq:key:)``). Every other
    /// wake-up (`broadcast`) reaches them too.
    var quietWaiting: [RouterReader] = []
    /// A quiet reader's cursor moved: what only it held can be let go.
    var quietPassed = 0
    /// Per Type key, 1 + the sequence number of the last message with it (0: none yet).
    var keyLastSeq = [UInt64](repeating: 0, count: 256)
    /// A key is quiet when none of the last `quietAfter` messages had it.
    static let quietAfter: UInt64 = 4096
    public let maxMessageLoops: Int
    private var shutdownSignalled = false
    /// The newest checkpoint cut (``takeCut()``), and its generation readable without the lock.
    var currentCut = Cut(generation: 0, seq: 0)
    let cutGeneration = Atomic<UInt64>(0)
    /// Called once, outside the lock, when a `shutdown` reader exceeds its budget.
    public var onShutdownRequest: (@Sendable (String) -> Void)?
    /// Called outside the lock with a reader's name when messages start being dropped for
    /// it because it is not running (once per episode: until it has caught up again).
    public var onDroppingForSuspended: (@Sendable (String) -> Void)?

    /// - Parameter maxMessageLoops: how many times a message may pass through filters
    ///   (Heka's `max_message_loops`, default 4).
    public init(maxMessageLoops: Int = 4) {
        self.maxMessageLoops = maxMessageLoops
    }

    /// Adds a reader that starts at the head (it sees messages appended from now on).
    public func addReader(name: String, buffering: Buffering = Buffering(),
                          matcher: ReaderMatch? = nil) -> RouterReader {
        condition.lock()
        defer { condition.unlock() }
        let r = RouterReader(router: self, id: nextReaderID, name: name, buffering: buffering, matcher: matcher, start: nextSeq)
        r.durableFrom = durable?.startPosition(for: name, restored: restoredDurable[name]) ?? 0
        readers[nextReaderID] = r
        nextReaderID += 1
        return r
    }

    /// Removes a reader; what only it still needed is forgotten.
    public func removeReader(_ reader: RouterReader) {
        condition.lock()
        readers[reader.id] = nil
        trimLocked()
        condition.broadcast()
        condition.unlock()
    }

    /// Appends a message.
    ///
    /// Blocks while a `block` reader is over its budget, unless `origin` is set (a
    /// filter's injection). A `drop` reader over budget loses its oldest messages instead.
    /// - Parameters:
    ///   - origin: the reader (filter) that injected it; it is not delivered back to it.
    ///   - loops: how many filters the message already went through (an injection made
    ///     while processing a message with `loops` n has n + 1).
    public func append(_ view: MessageView, from origin: RouterReader? = nil, loops: Int = 0, delivery: Delivery = .block) -> AppendResult {
        let size = UInt64(view.bytes.count)
        condition.lock()
        if loops > maxMessageLoops {
            stats.loopDrops += 1
            condition.unlock()
            return .loopLimit
        }
        let notices = waitForRoomLocked(size, origin: origin, delivery: delivery)
        if closed {
            condition.unlock()
            return .closed
        }
        let seq = appendLocked(view, size: size, origin: origin?.id, loops: loops, delivery: delivery)
        wakeReadersLocked()
        condition.unlock()
        notices.deliver(to: self)
        return .appended(seq: seq)
    }

    /// Appends the messages of one record in one step, so a checkpoint's cut never falls
    /// between them. Returns the sequence number of the last one (nil: closed, nothing
    /// appended).
    public func append(record views: [MessageView], delivery: Delivery = .block) -> UInt64? {
        let size = views.reduce(UInt64(0)) { $0 + UInt64($1.bytes.count) }
        condition.lock()
        let notices = waitForRoomLocked(size, origin: nil, delivery: delivery)
        if closed {
            condition.unlock()
            return nil
        }
        var last: UInt64 = 0
        for v in views { last = appendLocked(v, size: UInt64(v.bytes.count), origin: nil, loops: 0, delivery: delivery) }
        wakeReadersLocked()
        condition.unlock()
        notices.deliver(to: self)
        return last
    }

    /// What an append learned under the lock and reports after it.
    struct Notices {
        var shutdownReason: String?
        var droppingFor: [String] = []

        func deliver(to router: Router) {
            if let shutdownReason { router.onShutdownRequest?(shutdownReason) }
            for name in droppingFor { router.onDroppingForSuspended?(name) }
        }
    }

    /// Makes room for `size` bytes of `delivery`'s class for every reader over its budget:
    /// its oldest `drop` messages are skipped, then `disk` messages leave memory; if that is
    /// not enough, a suspended reader drops its oldest, and otherwise its full_action
    /// applies (`block` waits only for a `block`-class message that is not an injection).
    func waitForRoomLocked(_ size: UInt64, origin: RouterReader?, delivery: Delivery) -> Notices {
        var notices = Notices()
        while !closed {
            var mustWait = false
            for r in readers.values where r.id != origin?.id {
                guard overBudgetLocked(r, adding: size) else { continue }
                makeRoomLocked(r, toFit: size)
                guard overBudgetLocked(r, adding: size) else { continue }
                if r.suspended {
                    // Not running: it never holds back the inputs or the other readers.
                    if dropOldestLocked(r, toFit: size) > 0 && !r.droppingReported {
                        r.droppingReported = true
                        notices.droppingFor.append(r.name)
                    }
                    continue
                }
                switch r.buffering.fullAction {
                case .block:
                    if origin == nil && delivery == .block { mustWait = true }
                case .drop:
                    dropOldestLocked(r, toFit: size)
                case .shutdown:
                    if !shutdownSignalled {
                        shutdownSignalled = true
                        notices.shutdownReason = "reader \(r.name) exceeded its max_buffer_size of \(r.buffering.maxBufferSize) bytes"
                    }
                }
            }
            if !mustWait { break }
            waitingAppenders += 1
            _ = condition.wait(until: Date(timeIntervalSinceNow: 0.1))
            waitingAppenders -= 1
        }
        return notices
    }

    func appendLocked(_ view: MessageView, size: UInt64, origin: Int?, loops: Int, delivery: Delivery, position: UInt64? = nil) -> UInt64 {
        let seq = nextSeq
        entries.append(Entry(view: view, seq: seq, bytesBefore: totalBytes, diskBytesBefore: totalDiskBytes, dropBytesBefore: totalDropBytes,
                             origin: origin, loops: loops, delivery: delivery, durable: position ?? durableEnd))
        nextSeq += 1
        totalBytes += size
        stats.peakHeldBytes = max(stats.peakHeldBytes, totalBytes - entries[head].bytesBefore)
        switch delivery {
        case .disk: totalDiskBytes += size
        case .drop: totalDropBytes += size
        case .block: break
        }
        stats.appended += 1
        unsignaled += 1
        keyLastSeq[Int(view.typeKey)] = seq + 1
        if !quietWaiting.isEmpty { passQuietLocked(seq: seq, key: view.typeKey) }
        return seq
    }

    /// A message appended while readers wait quiet: a reader that admits its key is woken
    /// and its cursor stays before it; the others' cursors pass it (they would pass it
    /// over unread), so a sleeping reader holds back neither the log nor the inputs.
    func passQuietLocked(seq: UInt64, key: UInt8) {
        var wake = false
        for r in quietWaiting {
            if r.typeKey?.admits(key) ?? true {
                r.quietHeld = true
                wake = true
            } else if !r.quietHeld && r.readSeq == seq {
                r.readSeq = seq + 1
                r.ackSeq = seq + 1
                quietPassed += 1
            }
        }
        if wake { condition.broadcastQuiet() }
    }

    func wakeReadersLocked() {
        if quietPassed >= 256 {  // amortised: the other readers' acknowledgements trim too
            quietPassed = 0
            trimLocked()
        }
        let now = Router.monotonicNanos()
        if waitingReaders > 0 && (unsignaled >= Router.wakeBatch || now &- lastAppendNanos > 1_000_000) {
            condition.broadcastMain()
            unsignaled = 0
        }
        lastAppendNanos = now
    }

    /// Wakes every waiting reader and appender; readers then drain what is left and get
    /// `nil`.
    public func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// Every message below this sequence number has been acknowledged by every reader (a
    /// file input journals only offsets whose messages are that far).
    public var acknowledgedBelow: UInt64 {
        condition.lock()
        defer { condition.unlock() }
        return acknowledgedBelowLocked
    }

    private var acknowledgedBelowLocked: UInt64 { head < entries.count ? entries[head].seq : nextSeq }

    /// Waits until every message below `seq` is acknowledged by every reader, or
    /// `deadline` passed; returns whether it was. Woken by acknowledgements.
    @discardableResult
    public func waitUntilAcknowledged(below seq: UInt64, deadline: Date) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        waitingDrainers += 1
        defer { waitingDrainers -= 1 }
        while acknowledgedBelowLocked < seq {
            if !condition.wait(until: deadline) { return acknowledgedBelowLocked >= seq }
        }
        return true
    }

    /// Waits until every running reader acknowledged everything appended so far and
    /// since, or `deadline` passed; returns whether they did. A suspended reader (not
    /// running) is not waited for.
    @discardableResult
    public func waitUntilDrained(deadline: Date) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        waitingDrainers += 1
        defer { waitingDrainers -= 1 }
        func drained() -> Bool { readers.values.allSatisfy { $0.suspended || $0.ackSeq >= nextSeq } }
        while !drained() {
            if !condition.wait(until: deadline) { return drained() }
        }
        return true
    }

    public var currentStats: Stats {
        condition.lock()
        defer { condition.unlock() }
        var s = stats
        s.held = entries.count - head
        s.heldBytes = totalBytes - (head < entries.count ? entries[head].bytesBefore : totalBytes)
        return s
    }

    static func monotonicNanosPrecise() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Whether no recent message had a key of `k` (see ``quietAfter``).
    func isQuietLocked(_ k: TypeKey) -> Bool {
        func recent(_ key: UInt8) -> Bool {
            let last = keyLastSeq[Int(key)]
            return last != 0 && nextSeq - last < Router.quietAfter
        }
        return !recent(k.hash) && !(k.exact.map(recent) ?? false)
    }

    /// How long a reader with nothing to read sleeps: a millisecond while appends are
    /// flowing (their wake-ups are batched), else until `deadline`.
    func waitLimitLocked(_ deadline: Date?) -> Date? {
        if Router.monotonicNanos() &- lastAppendNanos < 10_000_000 {
            let soon = Date(timeIntervalSinceNow: 0.001)
            return deadline.map { min($0, soon) } ?? soon
        }
        return deadline
    }

    // MARK: - Under the lock

    /// Index in `entries` of `seq` (may be `entries.count` for the head).
    /// A sequence number below the oldest kept (a removed reader's, whose messages were
    /// forgotten: a filter's last step after a reload replaced it) maps to the oldest.
    func indexLocked(_ seq: UInt64) -> Int {
        guard head < entries.count else { return entries.count }
        let oldest = entries[head].seq
        return seq <= oldest ? head : head + Int(seq - oldest)
    }

    /// Bytes appended before `seq`.
    func bytesBefore(_ seq: UInt64) -> UInt64 {
        let i = indexLocked(seq)
        return i < entries.count ? entries[i].bytesBefore : totalBytes
    }

    /// Returns how many messages it would have taken were dropped.
    @discardableResult
    func dropOldestLocked(_ r: RouterReader, toFit size: UInt64) -> Int {
        var i = indexLocked(r.ackSeq)
        var n = 0
        while i < entries.count, memoryLagLocked(r, from: entries[i].seq) + size > UInt64(r.buffering.maxBufferSize) {
            let e = entries[i]
            if e.seq >= r.readSeq && r.accepts(e) {
                r.countDropped()
                n += 1
            }
            i += 1
        }
        let newAck = i < entries.count ? entries[i].seq : nextSeq
        r.ackSeq = newAck
        r.readSeq = max(r.readSeq, newAck)
        trimLocked()
        if waitingDrainers > 0 { condition.broadcast() }
        return n
    }

    /// Marks reader `id` as judging messages outside the lock that it does not hold: until
    /// ``unpinLocked(_:)``, no view the log lets go of is released.
    func pinLocked(_ id: Int) {
        pinCount += 1
        matchPins[id] = pinCount
    }

    /// Ends reader `id`'s pin, releasing what no pin still covers.
    func unpinLocked(_ id: Int) {
        matchPins[id] = nil
        guard !deferredReleases.isEmpty else { return }
        let oldest = matchPins.values.min() ?? .max
        let done = deferredReleases.prefix { $0.pin < oldest }.count
        deferredReleases.removeFirst(done)
    }

    /// Lets go of entry `i`'s view: at once, or, while a matcher may still be looking at
    /// it (a pin is held), once that pin has ended. Every view the log drops goes through
    /// here, so none escapes a pin.
    func letGoLocked(_ i: Int) {
        if !matchPins.isEmpty, let view = entries[i].view { deferredReleases.append((pinCount, view)) }
        entries[i].view = nil
    }

    /// Forgets entries every reader has acknowledged.
    func trimLocked() {
        let minAck = readers.values.map(\.ackSeq).min() ?? nextSeq
        // A message all readers are done with is let go at once (its memory goes back to
        // the thread that made it), not when the log's storage is next compacted.
        while head < entries.count && entries[head].seq < minAck {
            letGoLocked(head)
            head += 1
        }
        if head == entries.count {
            entries.removeAll(keepingCapacity: entries.count < 65536)
            head = 0
        } else if head > 4096 && head * 2 > entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

import FoundationEssentials
import Glibc

/// One message delivered to a reader.
public struct RoutedMessage: @unchecked Sendable {  // its view is immutable and the rest are values
    public let view: MessageView
    public let seq: UInt64
    /// Filters this message went through; what a filter injects while processing it has
    /// `loops + 1`.
    public let loops: Int
}

/// A filter's or output's cursor into the ``Router``'s log.
///
/// Pull with ``next(maxCount:timeout:)``, then ``acknowledge(through:)`` what is done (an
/// output: after a successful write): the lag budget counts from the acknowledged
/// position. A reader is used by one thread at a time.
public final class RouterReader: @unchecked Sendable {  // cursor state is guarded by the router's lock; a reader is used by one thread at a time
    public struct Counters: Sendable, Equatable {
        /// Messages handed out.
        public var delivered: UInt64 = 0
        /// Messages this reader lost to its `drop` full_action.
        public var dropped: UInt64 = 0
        /// Times it waited for messages (in ``next(maxCount:timeout:)``).
        public var waits: UInt64 = 0
    }

    // Strong: a reader in use keeps its router alive (removeReader breaks the cycle).
    let router: Router
    let id: Int
    public let name: String
    public let buffering: Buffering
    // Guarded by the router's lock:
    // Its ReaderMatch, kept as two fields: `next` tests the keys of every entry it passes
    // and must not copy the closure's context to do so.
    var matcher: (@Sendable (MessageView) -> Bool)?
    /// The keys of the Type `matcher` requires (``ReaderMatch/typeKey``), if it requires
    /// one: entries of other Types are passed over without reading their views.
    var typeKey: TypeKey?
    var readSeq: UInt64
    var ackSeq: UInt64
    /// Waiting quiet, a message it admits was appended: its cursor stays (see
    /// ``Router/passQuietLocked(seq:key:)``).
    var quietHeld = false
    /// The last message handed out, if any.
    var lastDelivered: UInt64?
    var counters = Counters()
    /// Not running (terminated and waiting for its restart, or stuck in a call): past its
    /// budget its oldest messages are dropped for it, whatever its full_action, so it holds
    /// back no input and no other reader.
    var suspended = false
    /// Whether dropping for it was already reported in this episode (until it catches up).
    var droppingReported = false
    /// `drop`-class messages below this sequence number are skipped (its budget was full).
    var dropSeq: UInt64 = 0
    /// `disk` messages before this durable position are not for it (they were delivered
    /// before a restart that replays the log from an older reader's cursor).
    var durableFrom: UInt64 = 0
    /// Durable messages read back from disk for entries that left memory, by position.
    var readBack: [UInt64: MessageView] = [:]
    /// Durable positions whose record could not be read back (damaged on disk).
    var unreadable: Set<UInt64> = []
    /// The plugin's counters: drops show at once in its `dropped` gauge, even while the
    /// plugin itself is stuck.
    var monitor: PluginCounters?

    /// Counts a message dropped for this reader (under the router's lock).
    func countDropped() {
        counters.dropped += 1
        monitor?.set(.dropped, Int64(counters.dropped))
    }

    init(router: Router, id: Int, name: String, buffering: Buffering, matcher: ReaderMatch?, start: UInt64) {
        self.router = router
        self.id = id
        self.name = name
        self.buffering = buffering
        self.matcher = matcher?.accepts
        self.typeKey = matcher?.typeKey
        self.readSeq = start
        self.ackSeq = start
    }

    /// Whether this reader takes the entry (its matcher, and never its own injections).
    func accepts(_ e: Router.Entry) -> Bool {
        guard withUnsafePointer(to: e, { isFor($0) && hasType($0) }) else { return false }
        guard let view = e.view ?? readBack[e.durable] else { return true }
        return matcher?(view) ?? true
    }

    // The tests below read an entry where it is (in the log): passed by value, each entry
    // a reader looked at was copied, its view retained and released.

    /// Whether the matcher gets to see the entry: not one of this reader's own injections,
    /// and not passed over (``skips(_:)``).
    @inline(__always)
    func isFor(_ e: UnsafePointer<Router.Entry>) -> Bool { e.pointee.origin != id && !skips(e) }

    /// Whether the entry can have the Type the matcher requires (always, when it requires
    /// none); false means the matcher would say no.
    @inline(__always)
    func hasType(_ e: UnsafePointer<Router.Entry>) -> Bool { typeKey?.admits(e.pointee.typeKey) ?? true }

    /// Whether the entry is taken without running the matcher: its key is the exact one of
    /// the Type that alone decides.
    @inline(__always)
    func typeDecides(_ e: UnsafePointer<Router.Entry>) -> Bool {
        guard let k = typeKey, k.decides, let exact = k.exact else { return false }
        return e.pointee.typeKey == exact
    }

    /// Whether the entry is passed over whatever the matcher says: a `drop` message skipped
    /// for the budget, a replayed `disk` message this reader had already acknowledged.
    @inline(__always)
    func skips(_ e: UnsafePointer<Router.Entry>) -> Bool {
        switch e.pointee.delivery {
        case .block: false
        case .drop: e.pointee.seq < dropSeq
        case .disk: e.pointee.durable < durableFrom || (!unreadable.isEmpty && unreadable.contains(e.pointee.durable))
        }
    }

    /// A message the matcher has yet to judge, not retained (see ``Router/pinLocked(_:)``).
    struct Candidate {
        let view: Unmanaged<MessageView>
        let seq: UInt64
        let loops: Int
    }

    /// Reused by ``next(maxCount:timeout:)`` (a reader is used by one thread at a time).
    private var candidates: [Candidate] = []

    /// Up to `maxCount` messages the matcher accepts, waiting up to `timeout` seconds
    /// (forever when nil) for the first one. Returns `[]` on timeout and `nil` once the
    /// router is closed and nothing is left for this reader.
    ///
    /// Messages the matcher rejects are passed over (and count as read).
    public func next(maxCount: Int = 256, timeout: Double? = nil) -> [RoutedMessage]? {
        let deadline = timeout.map { Date(timeIntervalSinceNow: $0) }
        let c = router.condition
        c.lock()
        defer { c.unlock() }
        var accepted: [RoutedMessage] = []
        while true {
            let matcher = self.matcher  // setMatcher may replace it while this waits
            var out: [RoutedMessage] = []
            var missing: UInt64?
            // In place: an entry is not copied (nor its view retained) unless it is taken.
            router.entries.withUnsafeBufferPointer { entries in
                var i = router.indexLocked(readSeq)
                while i < entries.count && accepted.count + out.count + candidates.count < maxCount {
                    let e = entries.baseAddress! + i
                    if e.pointee.view == nil && !skips(e) && hasType(e) && readBack[e.pointee.durable] == nil {
                        missing = e.pointee.durable  // left memory: read back from disk first
                        break
                    }
                    // Unretained while the lock is held (the log or readBack holds it): the
                    // batch retains what it takes, once.
                    if isFor(e), hasType(e),
                       let view = e.pointee.unretainedView ?? readBack[e.pointee.durable].map(Unmanaged.passUnretained) {
                        // Taken unread when its Type decides, unless an entry before it
                        // waits for the matcher (the batch keeps the log's order).
                        if matcher == nil || (candidates.isEmpty && typeDecides(e)) {
                            // one allocation for the batch, not one per doubling
                            if out.isEmpty { out.reserveCapacity(min(maxCount - accepted.count, entries.count - i)) }
                            out.append(RoutedMessage(view: view.takeUnretainedValue(), seq: e.pointee.seq, loops: e.pointee.loops))
                        } else {
                            candidates.append(Candidate(view: view, seq: e.pointee.seq, loops: e.pointee.loops))
                        }
                    }
                    readSeq = e.pointee.seq + 1
                    i += 1
                }
            }
            if let missing, out.isEmpty, candidates.isEmpty, accepted.isEmpty {
                c.unlock()
                readBack(from: missing)
                c.lock()
                continue
            }
            if !candidates.isEmpty, let matcher {
                // The matcher runs outside the lock: the inputs append, and the other
                // readers take their messages, meanwhile. The candidates are not retained
                // (two readers retaining and releasing every message costs more than the
                // matching): the pin keeps the router from releasing any view until then,
                // and only what the matcher takes is retained, under the lock again.
                router.pinLocked(id)
                c.unlock()
                var taken = 0
                for k in candidates.indices where candidates[k].view._withUnsafeGuaranteedRef({ matcher($0) }) {
                    candidates[taken] = candidates[k]
                    taken += 1
                }
                c.lock()
                out.reserveCapacity(taken)
                for k in 0..<taken {
                    out.append(RoutedMessage(view: candidates[k].view.takeUnretainedValue(), seq: candidates[k].seq, loops: candidates[k].loops))
                }
                candidates.removeAll(keepingCapacity: true)
                router.unpinLocked(id)
            }
            if accepted.isEmpty { swap(&accepted, &out) } else { accepted += out }  // most batches: no copy
            // Short of a whole batch (messages passed over) and the log has more: look
            // further. An entry to read back from disk first ends the batch, unless the
            // batch is empty (the next pass reads it back).
            if accepted.count < maxCount && router.indexLocked(readSeq) < router.entries.count && (missing == nil || accepted.isEmpty) {
                continue
            }
            if !accepted.isEmpty {
                counters.delivered += UInt64(accepted.count)
                lastDelivered = accepted.last!.seq
                return accepted
            }
            // Nothing for us: when all we were given is acknowledged, the passed-over
            // messages are done too, or a reader whose matcher takes nothing would hold
            // the log (and block the inputs) forever.
            if ackSeq < readSeq && (lastDelivered.map { ackSeq > $0 } ?? true) {
                ackSeq = readSeq
                router.trimLocked()
                if router.waitingAppenders > 0 || router.waitingDrainers > 0 { c.broadcast() }
            }
            droppingReported = false  // caught up: a new episode is reported again
            if router.closed { return nil }
            counters.waits += 1
            if let k = typeKey, lastDelivered.map({ ackSeq > $0 }) ?? true, router.isQuietLocked(k) {
                // No recent message had its Type: it sleeps until one does (the append
                // wakes it), not at every batch of other Types' messages.
                if !waitQuiet(k, deadline) { return [] }
                continue
            }
            router.waitingReaders += 1
            defer { router.waitingReaders -= 1 }
            if let limit = router.waitLimitLocked(deadline) {
                if !c.wait(until: limit), let deadline, Date() >= deadline { return [] }
            } else {
                c.wait()
            }
        }
    }

    /// Waits on the router's quiet condition (under the lock), its cursor passing the
    /// messages it does not admit as they are appended; false when `deadline` passed.
    private func waitQuiet(_ k: TypeKey, _ deadline: Date?) -> Bool {
        let c = router.condition
        quietHeld = false
        router.quietWaiting.append(self)
        defer { router.quietWaiting.removeAll { $0 === self } }
        guard let deadline else {
            c.waitQuiet()
            return true
        }
        return c.waitQuiet(until: deadline) || Date() < deadline
    }

    /// Marks everything up to and including `seq` (and any passed-over message before it)
    /// as done; frees log space and wakes blocked appenders.
    public func acknowledge(through seq: UInt64) {
        let c = router.condition
        c.lock()
        ackSeq = max(ackSeq, min(seq + 1, readSeq))
        router.trimLocked()
        if router.waitingAppenders > 0 || router.waitingDrainers > 0 { c.broadcast() }
        let queue = router.durable
        c.unlock()
        // The durable cursors follow every acknowledged batch.
        queue?.saveCursors()
    }

    /// Hands out again what was read after `seq` (a batch cut short by a restart).
    public func rewind(after seq: UInt64) {
        let c = router.condition
        c.lock()
        readSeq = max(ackSeq, min(readSeq, seq + 1))
        c.unlock()
    }

    /// Hands out again everything read but not acknowledged: a new runner taking over
    /// this cursor (an output swapped on reload) starts where the old one's work ended.
    public func rewindToAcknowledged() {
        let c = router.condition
        c.lock()
        readSeq = ackSeq
        c.unlock()
    }

    /// Replaces the matcher (a plugin's section changed on reload); messages not yet read
    /// are judged by the new one. `nil` takes every message.
    public func setMatcher(_ m: ReaderMatch?) {
        let c = router.condition
        c.lock()
        matcher = m?.accepts
        typeKey = m?.typeKey
        c.broadcast()  // a reader waiting under its old keys looks again
        c.unlock()
    }

    /// Acknowledges everything read so far (including passed-over messages).
    public func acknowledgeAll() {
        let c = router.condition
        c.lock()
        ackSeq = max(ackSeq, readSeq)
        router.trimLocked()
        if router.waitingAppenders > 0 || router.waitingDrainers > 0 { c.broadcast() }
        c.unlock()
    }

    /// Whether messages were appended that it has not read yet (its matcher not applied).
    public var hasWaiting: Bool {
        router.condition.lock()
        defer { router.condition.unlock() }
        return readSeq < router.nextSeq
    }

    /// Marks this reader as not running (see ``suspended``) or running again.
    public func setSuspended(_ on: Bool) {
        let c = router.condition
        c.lock()
        suspended = on
        // Appenders blocked on it go on (they drop for it now).
        if on && (router.waitingAppenders > 0 || router.waitingDrainers > 0) { c.broadcast() }
        c.unlock()
    }

    public var currentCounters: Counters {
        router.condition.lock()
        defer { router.condition.unlock() }
        return counters
    }

    /// Bytes appended after this reader's acknowledged position.
    public var lagBytes: UInt64 { lag.bytes }

    /// Messages and bytes appended after this reader's acknowledged position.
    public var lag: (messages: UInt64, bytes: UInt64) {
        router.condition.lock()
        defer { router.condition.unlock() }
        return (router.nextSeq &- ackSeq, router.totalBytes - router.bytesBefore(ackSeq))
    }
}

import Foundation
import Synchronization
import Testing
@testable import LuaPipeline
@testable import LuapipedCore
import CHekaWire

/// The router's log: fan-out, matchers, budgets and their full_actions.
@Suite struct RouterTests {
    static func message(_ n: Int, type: String = "t", size: Int = 0) -> MessageView {
        MessageView(Message(uuid: Array(repeating: UInt8(n & 0xFF), count: 16), timestamp: Int64(n), type: type,
                            payload: String(repeating: "x", count: size)))
    }

    /// One `next` running on another thread: its messages' timestamps (nil: the router
    /// closed), and `done`, signalled when it returned.
    final class PendingNext: Sendable {
        let got = Mutex<[Int64]?>(nil)
        let done = DispatchSemaphore(value: 0)
    }

    static func nextOnAnotherThread(_ r: RouterReader, timeout: Double) -> PendingNext {
        let pending = PendingNext()
        Thread.detachNewThread {
            let batch = r.next(timeout: timeout)
            pending.got.withLock { $0 = batch?.map(\.view.timestamp) }
            pending.done.signal()
        }
        return pending
    }

    /// Reads everything available, acknowledging each batch.
    static func drain(_ r: RouterReader) -> [Int64] {
        var out: [Int64] = []
        while let batch = r.next(timeout: 0), !batch.isEmpty {
            out += batch.map(\.view.timestamp)
            r.acknowledge(through: batch.last!.seq)
        }
        return out
    }

    /// The log holds one entry per message in flight: it stays seven words.
    @Test func anEntryStaysSmall() {
        #expect(MemoryLayout<Router.Entry>.stride <= 56)
    }

    @Test func everyReaderGetsEveryMessageInOrder() {
        let router = Router()
        let a = router.addReader(name: "a"), b = router.addReader(name: "b")
        for i in 0..<100 { _ = router.append(Self.message(i)) }
        #expect(Self.drain(a) == (0..<100).map(Int64.init))
        #expect(Self.drain(b) == (0..<100).map(Int64.init))
        #expect(router.currentStats.held == 0)  // acknowledged by all: forgotten
    }

    /// A message every reader acknowledged is let go at once (its memory goes back to the
    /// thread that made it), not when the log's storage is next compacted.
    @Test func aMessageAllReadersAcknowledgedIsReleased() {
        final class Watch: @unchecked Sendable { weak var view: MessageView? }  // read on this thread only
        let router = Router()
        let a = router.addReader(name: "a"), b = router.addReader(name: "b")
        let first = Watch(), last = Watch()
        for i in 0..<10 {
            let m = Self.message(i)
            if i == 0 { first.view = m }
            if i == 9 { last.view = m }
            _ = router.append(m)
        }
        guard let seq = a.next(maxCount: 1, timeout: 0)?.first?.seq else {
            Issue.record("reader a got nothing")
            return
        }
        a.acknowledge(through: seq)
        #expect(first.view != nil)  // b has not read it yet
        #expect(Self.drain(b).count == 10)
        #expect(first.view == nil)
        #expect(last.view != nil)  // a has not acknowledged it
        #expect(Self.drain(a).count == 9)
        #expect(last.view == nil)
    }

    /// The bench reports the most bytes the router held at once beside the peak RSS.
    @Test func thePeakOfHeldBytesOutlivesTheDrain() {
        let router = Router()
        let a = router.addReader(name: "a")
        for i in 0..<10 { _ = router.append(Self.message(i, size: 100)) }
        let ten = router.currentStats.heldBytes
        #expect(ten > 1000)
        #expect(router.currentStats.peakHeldBytes == ten)
        _ = Self.drain(a)
        for i in 0..<3 { _ = router.append(Self.message(i, size: 100)) }
        #expect(router.currentStats.heldBytes < ten)
        #expect(router.currentStats.peakHeldBytes == ten)
    }

    @Test func matchersSelectAndInjectionsDoNotComeBack() throws {
        let router = Router()
        let m = try MessageMatcher("Type == 'keep'")
        let picky = router.addReader(name: "picky", matcher: ReaderMatch { m.matches($0) })
        let filter = router.addReader(name: "filter")
        _ = router.append(Self.message(1, type: "keep"))
        _ = router.append(Self.message(2, type: "skip"))
        _ = router.append(Self.message(3, type: "keep"), from: filter, loops: 1)
        #expect(Self.drain(picky) == [1, 3])
        #expect(Self.drain(filter) == [1, 2])
    }

    /// A matcher runs outside the router's lock: one stuck in its evaluation (a slow
    /// regular expression) holds back neither the input appending nor another reader.
    @Test func aStuckMatcherHoldsBackNoInputAndNoOtherReader() {
        let router = Router()
        let entered = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let first = Atomic<Bool>(true)
        let slow = router.addReader(name: "slow", matcher: ReaderMatch { _ in
            if first.exchange(false, ordering: .relaxed) {
                entered.signal()
                _ = release.wait(timeout: .now() + 60)
            }
            return true
        })
        let other = router.addReader(name: "other")
        _ = router.append(Self.message(0))
        let slowGot = Mutex<[Int64]>([])
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            slowGot.withLock { $0 = Self.drain(slow) }
            done.signal()
        }
        #expect(entered.wait(timeout: .now() + 60) == .success)  // the slow reader is inside its matcher now
        // Appended and read on a third thread, so a failure ends in the bounded wait below.
        let otherGot = Mutex<[Int64]>([])
        let appended = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            for i in 1..<50 { _ = router.append(Self.message(i)) }
            otherGot.withLock { $0 = Self.drain(other) }
            appended.signal()
        }
        let inTime = appended.wait(timeout: .now() + 60) == .success
        #expect(inTime, "the input and the other reader waited for the stuck matcher")
        release.signal()
        if !inTime { _ = appended.wait(timeout: .now() + 60) }
        #expect(otherGot.withLock { $0 } == (0..<50).map(Int64.init))
        #expect(done.wait(timeout: .now() + 60) == .success)
        let rest = Self.drain(slow)
        #expect(slowGot.withLock { $0 } + rest == (0..<50).map(Int64.init))
    }

    /// A matcher judges messages its reader does not hold (retaining every message on two
    /// threads costs more than the matching): while it runs, nothing the log lets go of is
    /// released, even when the reader is removed and every other reader is done with it;
    /// afterwards it is.
    @Test func aMessageUnderAMatcherOutlivesItsRelease() {
        final class Watch: @unchecked Sendable { weak var view: MessageView? }  // set before the threads start
        let router = Router()
        let entered = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let seen = Mutex<[Int64]>([])
        let judging = router.addReader(name: "judging", matcher: ReaderMatch { view in
            if seen.withLock({ $0.isEmpty }) {
                entered.signal()
                _ = release.wait(timeout: .now() + 60)
            }
            seen.withLock { $0.append(view.timestamp) }  // the view is still whole
            return view.timestamp % 2 == 0
        })
        let other = router.addReader(name: "other")
        let watch = Watch()
        do {
            let m = Self.message(7)
            watch.view = m
            _ = router.append(m)
            _ = router.append(Self.message(8))
        }
        let pending = Self.nextOnAnotherThread(judging, timeout: 0)
        #expect(entered.wait(timeout: .now() + 60) == .success)
        router.removeReader(judging)
        #expect(Self.drain(other) == [7, 8])
        #expect(watch.view != nil, "released while a matcher was judging it")
        release.signal()
        #expect(pending.done.wait(timeout: .now() + 60) == .success)
        #expect(seen.withLock { $0 } == [7, 8])
        #expect(pending.got.withLock { $0 } == [8])
        #expect(watch.view == nil, "kept after the matcher was done with it")
    }

    /// A selective matcher still gets whole batches: passed-over messages do not count
    /// toward maxCount.
    @Test func aSelectiveReaderGetsWholeBatches() throws {
        let router = Router()
        let m = try MessageMatcher("Type == 'keep'")
        let picky = router.addReader(name: "picky", matcher: ReaderMatch { m.matches($0) })
        for i in 0..<1000 { _ = router.append(Self.message(i, type: i % 10 == 0 ? "keep" : "skip")) }
        let batch = try #require(picky.next(maxCount: 50, timeout: 0))
        #expect(batch.map(\.view.timestamp) == stride(from: 0, to: 500, by: 10).map(Int64.init))
        picky.acknowledge(through: batch.last!.seq)
        #expect(Self.drain(picky) == stride(from: 500, to: 1000, by: 10).map(Int64.init))
    }

    /// A Type whose hash key is that of `type` (keys only tell Types apart when they differ).
    static func hashTwin(of type: String) throws -> String {
        func hash(_ t: String) -> UInt8 { Array(t.utf8).withUnsafeBytes { heka_type_hash($0.baseAddress, $0.count) } }
        return try #require((0..<10_000).lazy.map { "t\($0)" }.first { hash($0) == hash(type) && $0 != type })
    }

    /// A matcher that requires one Type lets its reader pass other messages over by the
    /// key in the router's entry; what the reader takes is exactly what the matcher
    /// accepts, whatever the Types (absent, empty, prefixes, other cases, a hash twin, one
    /// whose messages were made before any matcher named it) and the rest of the
    /// expression.
    @Test func aTypeKeyPassesOverOnlyWhatTheMatcherRejects() throws {
        let twin = try Self.hashTwin(of: "a")
        func message(_ n: Int, _ type: String?) -> MessageView {
            MessageView(Message(uuid: Array(repeating: UInt8(n & 0xFF), count: 16), timestamp: Int64(n), type: type,
                                severity: Int32(n % 8)))
        }
        // Made before "router.late" is watched: they carry its hash key, not its exact one.
        let early = (0..<8).map { message(1000 + $0, "router.late") }
        let types: [String?] = ["a", "b", "ab", "A", "", nil, "nginx.access", "nginx.accesS", twin, "a", "router.late"]
        let expressions: [(String, requiresType: Bool)] = [
            ("Type == 'a'", true), ("Type == 'a' && Severity < 5", true), ("Severity < 5 && Type == 'nginx.access'", true),
            ("Type == ''", true), ("Type != 'a'", false), ("Type == 'a' || Type == 'b'", false), ("TRUE", false),
            ("Type =~ /^a/", false), ("Type == 'router.late'", true), ("Type == 'router.late' && Severity < 5", true),
        ]
        for (expression, requiresType) in expressions {
            let m = try MessageMatcher(expression)
            #expect((m.typeKey != nil) == requiresType, "\(expression)")
            let router = Router()
            let reader = router.addReader(name: "r", matcher: ReaderMatch(m))
            var expected: [Int64] = []
            for round in 0..<3 {
                for (i, type) in types.enumerated() {
                    let n = round * types.count + i
                    let v = message(n, type)
                    if m.matches(v) { expected.append(Int64(n)) }
                    _ = router.append(v)
                    // the early messages interleaved with the new ones
                    let e = early[(n + round) % early.count]
                    if m.matches(e) { expected.append(e.timestamp) }
                    _ = router.append(e)
                }
            }
            #expect(Self.drain(reader) == expected, "\(expression)")
            #expect(!expected.isEmpty, "\(expression)")
        }
    }

    /// A reader whose matcher is `Type == 'x'` alone takes the messages made since x was
    /// watched (they carry its exact key) without running the matcher; the matcher judges
    /// only what the key cannot tell (messages made before, hash twins), and the batch
    /// keeps the log's order whichever way each message was taken.
    @Test func aTypeAloneTakesItsMessagesUnread() throws {
        let type = "router.alone"
        let before = Self.message(2, type: type)  // made before the Type is watched
        let m = try MessageMatcher("Type == '\(type)'")
        let key = try #require(m.typeKey)
        #expect(key.decides && key.exact != nil)
        #expect(before.typeKey == key.hash)
        #expect(try #require(MessageMatcher("Type == '\(type)' && Severity < 5").typeKey).decides == false)
        let judged = Mutex<[Int64]>([])
        let router = Router()
        let reader = router.addReader(name: "r", matcher: ReaderMatch({ v in
            judged.withLock { $0.append(v.timestamp) }
            return m.matches(v)
        }, typeKey: key))
        let after = Self.message(1, type: type)
        #expect(after.typeKey == key.exact)
        for v in [after, before, Self.message(3, type: type), Self.message(4, type: try Self.hashTwin(of: type)),
                  Self.message(5, type: "other"), Self.message(6, type: type)] {
            _ = router.append(v)
        }
        #expect(Self.drain(reader) == [1, 2, 3, 6])
        var seen = judged.withLock { $0 }
        #expect(!seen.contains(1) && !seen.contains(5) && seen.contains(2) && seen.contains(4), "\(seen)")
        _ = router.append(Self.message(7, type: type))
        _ = router.append(Self.message(8, type: type))
        #expect(Self.drain(reader) == [7, 8])
        seen = judged.withLock { $0 }
        #expect(!seen.contains(7) && !seen.contains(8), "\(seen)")
    }

    /// A reader of a Type no recent message had waits on the quiet condition: thousands of
    /// other messages (each batch of which wakes the ordinary waiters) leave it asleep
    /// without holding them back, and the first message of its Type wakes it at once.
    @Test func aReaderOfAQuietTypeSleepsThroughOtherTypes() throws {
        let router = Router()
        let m = try MessageMatcher("Type == 'router.quiet'")
        let key = try #require(m.typeKey)
        let reader = router.addReader(name: "quiet", matcher: ReaderMatch(m))
        let busy = router.addReader(name: "busy")
        let pending = Self.nextOnAnotherThread(reader, timeout: 60)
        eventually("the reader waits on the quiet condition") { router.condition.withLock { router.quietWaiting.count == 1 } }
        for i in 0..<10_000 { _ = router.append(Self.message(i, type: "other")) }
        #expect(Self.drain(busy).count == 10_000)
        // Asleep, it passed them: it holds none back (nor would it block the inputs).
        #expect(reader.lag.messages == 0)
        _ = router.append(Self.message(10_000, type: "router.quiet"))
        #expect(pending.done.wait(timeout: .now() + 60) == .success)
        #expect(pending.got.withLock { $0 } == [10_000])
        // Woken once by its message (a spurious wake-up of pthreads aside), never by the
        // 10,000 others: an ordinary waiter is woken every 64 of them.
        #expect(reader.currentCounters.waits <= 3, "\(reader.currentCounters.waits)")
        // Its Type is recent now: it waits as any reader again.
        #expect(!router.condition.withLock { router.isQuietLocked(key) })
    }

    @Test func loopsAreBounded() {
        let router = Router(maxMessageLoops: 2)
        let r = router.addReader(name: "r")
        #expect(router.append(Self.message(1), from: r, loops: 2) == .appended(seq: 0))
        #expect(router.append(Self.message(2), from: r, loops: 3) == .loopLimit)
        #expect(router.currentStats.loopDrops == 1)
    }

    @Test func aDropReaderLosesItsOldestAndHoldsNobodyBack() {
        let router = Router()
        let size = Self.message(999, size: 100).bytes.count  // every message from 128 on has this size
        let stuck = router.addReader(name: "stuck", buffering: Buffering(maxBufferSize: size * 10, fullAction: .drop))
        let fast = router.addReader(name: "fast")
        var fastGot: [Int64] = []
        for i in 0..<1000 {
            #expect(router.append(Self.message(i, size: 100)) == .appended(seq: UInt64(i)))
            fastGot += Self.drain(fast)
        }
        #expect(fastGot == (0..<1000).map(Int64.init))
        #expect(stuck.lagBytes <= UInt64(size * 10))
        let survivors = Self.drain(stuck)
        #expect(survivors == (990..<1000).map(Int64.init))
        #expect(stuck.currentCounters.dropped == 990)
        #expect(router.currentStats.held == 0)
    }

    @Test func aBlockReaderHoldsInputsBackAndLosesNothing() async {
        let router = Router()
        let size = Self.message(0, size: 200).bytes.count
        let slow = router.addReader(name: "slow", buffering: Buffering(maxBufferSize: size * 5, fullAction: .block))
        let maxLag = Mutex<UInt64>(0)
        let producer = Thread {
            for i in 0..<500 { _ = router.append(Self.message(i, size: 200)) }
            router.close()
        }
        producer.start()
        var got: [Int64] = []
        while let batch = slow.next(maxCount: 3) {
            maxLag.withLock { $0 = max($0, slow.lagBytes) }
            got += batch.map(\.view.timestamp)
            slow.acknowledge(through: batch.last!.seq)
        }
        #expect(got == (0..<500).map(Int64.init))
        #expect(maxLag.withLock { $0 } <= UInt64(size * 5))
    }

    @Test func injectionsNeverBlockOnABlockedReader() {
        let router = Router()
        let size = Self.message(0, size: 100).bytes.count
        let filter = router.addReader(name: "filter", buffering: Buffering(maxBufferSize: size, fullAction: .block))
        let other = router.addReader(name: "other", buffering: Buffering(maxBufferSize: size, fullAction: .block))
        _ = router.append(Self.message(0, size: 100))
        // Both readers are now at their budget; the filter still injects without waiting.
        for i in 1...5 { #expect(router.append(Self.message(i, size: 100), from: filter, loops: 1) == .appended(seq: UInt64(i))) }
        #expect(Self.drain(other).count == 6)
        #expect(Self.drain(filter) == [0])
    }

    @Test func aReaderWhoseMatcherTakesNothingDoesNotHoldTheLog() {
        let router = Router()
        let size = Self.message(0).bytes.count
        let none = router.addReader(name: "none", buffering: Buffering(maxBufferSize: size * 2, fullAction: .block),
                                    matcher: ReaderMatch { _ in false })
        let consumer = Thread {
            while let batch = none.next() { #expect(!batch.isEmpty) }
        }
        consumer.start()
        for i in 0..<200 { _ = router.append(Self.message(i)) }  // would block forever if passed-over messages held the budget
        router.close()
        #expect(router.currentStats.appended == 200)
    }

    @Test func shutdownReaderAsksOnce() {
        let router = Router()
        let asked = Mutex<[String]>([])
        router.onShutdownRequest = { reason in asked.withLock { $0.append(reason) } }
        let size = Self.message(0).bytes.count
        _ = router.addReader(name: "critical", buffering: Buffering(maxBufferSize: size * 2, fullAction: .shutdown))
        for i in 0..<10 { _ = router.append(Self.message(i)) }
        #expect(asked.withLock { $0 } == ["reader critical exceeded its max_buffer_size of \(size * 2) bytes"])
        #expect(router.currentStats.appended == 10)  // nothing is lost while the daemon stops
    }

    @Test func closeWakesWaitingReaders() {
        let router = Router()
        let r = router.addReader(name: "r")
        let t = Thread {
            #expect(r.next() == nil ? true : false)
        }
        t.start()
        // Closing before the reader waits would not test the wake-up: wait until it waits.
        eventually("the reader waits for messages") {
            router.condition.lock()
            defer { router.condition.unlock() }
            return router.waitingReaders == 1
        }
        router.close()
        eventually("close() woke the reader") { t.isFinished }
    }
}

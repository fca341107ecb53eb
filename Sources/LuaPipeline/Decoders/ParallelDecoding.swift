import FoundationEssentials
import Glibc
import Synchronization

/// Records read together (one chunk of a file), copied out of the splitter so they can be
/// decoded on several threads and then appended in order.
final class RecordBatch {
    private(set) var bytes: [UInt8] = []
    private(set) var ranges: [Range<Int>] = []
    /// Where each record starts in its file.
    private(set) var starts: [Int64] = []

    var count: Int { ranges.count }

    func add(_ record: UnsafeRawBufferPointer, at: Int64) {
        let lo = bytes.count
        bytes.append(contentsOf: record)
        ranges.append(lo..<bytes.count)
        starts.append(at)
    }

    func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        ranges.removeAll(keepingCapacity: true)
        starts.removeAll(keepingCapacity: true)
    }
}

/// What one record decoded to: its messages (the common single one without an array) or
/// why it was rejected.
struct DecodedRecord {
    var first: MessageView?
    var more: [MessageView] = []
    var failure: String?
}

/// `decoder_workers = N`: the N-1 threads that decode an input's records beside the
/// input's own thread, batch by batch. Each thread always runs the same decoder instance
/// (instance i on thread i, instance 0 on the input's thread), so every Lua state keeps
/// one thread; the input appends the results in record order, so every stream keeps its
/// order. The threads start with the first batch and end with ``stop()``.
///
/// The threads share a batch's records (``Slices``) rather than split it in fixed parts:
/// a thread woken late (a halted virtual processor can take half a millisecond to run
/// it) takes what is left, or nothing, and the input's thread never waits for a thread
/// that has not started; it waits only for the records the others are decoding.
final class DecodeCrew: @unchecked Sendable {  // every field below is guarded by `condition`
    let size: Int
    private let name: String
    private let condition = Condition()
    private var work: ((Int) -> Void)?
    private var round = 0
    /// Crew threads inside this round's `work`.
    private var active = 0
    private var started = false
    private var stopping = false

    init(name: String, size: Int) {
        self.name = name
        self.size = size
    }

    /// Hands `work` to the crew's threads (`work(k)` on thread k, from 1) and returns at
    /// once: the caller goes on (it reads the next batch, appends the last one) while they
    /// decode, and joins them with ``finish(_:)``.
    func begin(_ work: @escaping (Int) -> Void) {
        condition.lock()
        precondition(!stopping, "a batch handed to a stopped decode crew")
        precondition(self.work == nil, "a batch begun before the last one finished")
        if !started {
            started = true
            for i in 1..<size {
                Threads.start { [self] in
                    ThreadName.set("decode\(i)-\(name)")  // the kernel keeps 15 bytes: the number first
                    loop(i)
                }
            }
        }
        self.work = work
        round += 1
        condition.broadcast()
        condition.unlock()
    }

    /// Runs `lead` on the calling thread (it takes what the crew left of the work
    /// begun), then waits until every crew thread that took part in it returned.
    func finish(_ lead: () -> Void) {
        lead()
        condition.lock()
        work = nil  // a thread waking from now on has nothing to join
        while active > 0 { condition.wait() }
        condition.unlock()
    }

    private func loop(_ i: Int) {
        var seen = 0
        condition.lock()
        while true {
            while (round == seen || work == nil) && !stopping { condition.wait() }
            if stopping { break }
            seen = round
            let w = work!
            active += 1
            condition.unlock()
            w(i)
            condition.lock()
            active -= 1
            if active == 0 { condition.broadcast() }
        }
        condition.unlock()
    }

    /// Ends the threads (between batches).
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }
}

/// A batch's records handed out a few at a time to whichever crew thread asks first.
final class Slices: Sendable {
    private let next = Atomic<Int>(0)
    private let end = Atomic<Int>(0)
    /// Records per claim: small enough that the last claims end together, large enough
    /// that the shared counter is rarely contended.
    static let size = 8

    /// Hands out `range` from its start.
    func reset(_ range: Range<Int>) {
        end.store(range.upperBound, ordering: .relaxed)
        next.store(range.lowerBound, ordering: .relaxed)
    }

    /// The next records to decode, nil when all were handed out.
    func claim() -> Range<Int>? {
        let hi = end.load(ordering: .relaxed)
        let lo = next.wrappingAdd(Self.size, ordering: .relaxed).oldValue
        return lo < hi ? lo..<min(lo + Self.size, hi) : nil
    }
}

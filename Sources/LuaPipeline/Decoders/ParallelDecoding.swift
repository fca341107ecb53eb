import FoundationEssentials
import Glibc

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
final class DecodeCrew: @unchecked Sendable {  // every field below is guarded by `condition`
    let size: Int
    private let name: String
    private let condition = Condition()
    private var work: ((Int) -> Void)?
    private var round = 0
    private var busy = 0
    private var started = false
    private var stopping = false

    init(name: String, size: Int) {
        self.name = name
        self.size = size
    }

    /// Runs `body(0)` on the calling thread and `body(1)` … `body(size-1)` on the crew's
    /// threads; returns when all of them returned.
    func run(_ body: (Int) -> Void) {
        withoutActuallyEscaping(body) { shared in
            condition.lock()
            precondition(!stopping, "a batch handed to a stopped decode crew")
            if !started {
                started = true
                for i in 1..<size {
                    Threads.start { [self] in
                        ThreadName.set("decode\(i)-\(name)")  // the kernel keeps 15 bytes: the number first
                        loop(i)
                    }
                }
            }
            work = shared
            round += 1
            busy = size - 1
            condition.broadcast()
            condition.unlock()
            shared(0)
            condition.lock()
            while busy > 0 { condition.wait() }
            work = nil
            condition.unlock()
        }
    }

    private func loop(_ i: Int) {
        var seen = 0
        condition.lock()
        while true {
            while round == seen && !stopping { condition.wait() }
            if stopping { break }
            seen = round
            let w = work!
            condition.unlock()
            w(i)
            condition.lock()
            busy -= 1
            if busy == 0 { condition.broadcast() }
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

import FoundationEssentials
import Glibc
import Synchronization

/// A checkpoint's cut of the router's log: every message appended before it has a
/// sequence number below `seq`, every message appended after it has `seq` or more.
/// Inputs note where their streams stood at the cut; filters save their state once they
/// have read everything below it and nothing above (see `Pipeline/Checkpointer.swift`).
public struct Cut: Sendable, Equatable {
    /// Counts the cuts taken by this router (0: none yet).
    public let generation: UInt64
    public let seq: UInt64
    /// The durable log's position at the cut: `disk` messages below it are before the cut.
    public var durable: UInt64 = 0
}

extension Router {
    /// Takes a cut at the head, under the append lock: no append straddles it, and a
    /// record's messages (``append(record:)``) fall on one side.
    func takeCut() -> Cut {
        condition.lock()
        defer { condition.unlock() }
        currentCut = Cut(generation: currentCut.generation + 1, seq: nextSeq, durable: durableEnd)
        cutGeneration.store(currentCut.generation, ordering: .releasing)
        return currentCut
    }

    /// The newest cut when it is newer than `generation`; one atomic load when not (the
    /// inputs ask before every record).
    @inline(__always)
    func cut(newerThan generation: UInt64) -> Cut? {
        guard cutGeneration.load(ordering: .acquiring) > generation else { return nil }
        condition.lock()
        defer { condition.unlock() }
        return currentCut
    }

    /// The readers that have not acknowledged every message below `seq` (what a
    /// checkpoint waits for).
    func readers(notAcknowledgedBelow seq: UInt64) -> [String] {
        condition.lock()
        defer { condition.unlock() }
        return readers.values.filter { $0.ackSeq < min(seq, nextSeq) }.map(\.name).sorted()
    }
}

extension RouterReader {
    /// The sequence number of the next message this reader will look at (its matcher not
    /// applied yet): everything below it was read or passed over.
    var readPosition: UInt64 {
        router.condition.lock()
        defer { router.condition.unlock() }
        return readSeq
    }
}

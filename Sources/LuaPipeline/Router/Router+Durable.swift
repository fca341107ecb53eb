import FoundationEssentials
import Glibc

/// Delivery classes and the durable log in the router.
///
/// A reader's budget (`max_buffer_size`) counts the bytes it holds in memory: from its
/// acknowledged position, less the `drop` messages it skips and the `disk` messages that
/// left memory. Past the budget, in this order: its oldest `drop` messages are skipped
/// (counted as dropped), then `disk` messages leave memory (every reader reads them back
/// from the ``DurableQueue`` when it gets there), then its full_action applies.
extension Router {
    /// Bytes of entries from `seq` to the head that `r` holds in memory.
    func memoryLagLocked(_ r: RouterReader, from seq: UInt64) -> UInt64 {
        let i = indexLocked(seq)
        func at(_ k: Int, _ path: KeyPath<Entry, UInt64>, _ total: UInt64) -> UInt64 { k < entries.count ? entries[k][keyPath: path] : total }
        var lag = totalBytes - at(i, \.bytesBefore, totalBytes)
        if spillSeq > seq {
            lag -= at(indexLocked(spillSeq), \.diskBytesBefore, totalDiskBytes) - at(i, \.diskBytesBefore, totalDiskBytes)
        }
        if r.dropSeq > seq {
            lag -= at(indexLocked(r.dropSeq), \.dropBytesBefore, totalDropBytes) - at(i, \.dropBytesBefore, totalDropBytes)
        }
        return lag
    }

    func overBudgetLocked(_ r: RouterReader, adding size: UInt64) -> Bool {
        let lag = memoryLagLocked(r, from: r.ackSeq)
        return lag > 0 && lag + size > UInt64(r.buffering.maxBufferSize)
    }

    /// Skips `r`'s oldest `drop` messages, then lets `disk` messages leave memory, until
    /// `size` more bytes fit in its budget or neither helps any more.
    func makeRoomLocked(_ r: RouterReader, toFit size: UInt64) {
        let budget = UInt64(r.buffering.maxBufferSize)
        if totalDropBytes > 0 {
            var i = indexLocked(max(r.dropSeq, r.ackSeq))
            while i < entries.count && memoryLagLocked(r, from: r.ackSeq) + size > budget {
                let e = entries[i]
                if e.delivery == .drop && e.seq >= r.readSeq && r.accepts(e) { r.countDropped() }
                r.dropSeq = e.seq + 1
                i += 1
            }
        }
        guard durable != nil, totalDiskBytes > 0 else { return }
        var i = indexLocked(spillSeq)
        while i < entries.count && memoryLagLocked(r, from: r.ackSeq) + size > budget {
            if entries[i].delivery == .disk && entries[i].view != nil {
                letGoLocked(i)
                stats.spilled += 1
            }
            spillSeq = entries[i].seq + 1
            i += 1
        }
    }

    /// Appends `views` of a `disk` input at their durable `positions` (`end`: after the
    /// last), waking waiting readers at once. Never waits for a budget: past one, the
    /// messages leave memory instead.
    func appendDurable(_ views: [MessageView], positions: [UInt64], end: UInt64) -> UInt64? {
        condition.lock()
        var size: UInt64 = 0
        for v in views { size += UInt64(v.bytes.count) }
        let notices = waitForRoomLocked(size, origin: nil, delivery: .disk)
        if closed {
            condition.unlock()
            return nil
        }
        var last: UInt64 = 0
        for (v, p) in zip(views, positions) {
            last = appendLocked(v, size: UInt64(v.bytes.count), origin: nil, loops: 0, delivery: .disk, position: p)
        }
        durableEnd = end
        if waitingReaders > 0 {
            condition.broadcastMain()  // quiet readers were woken by the appends they admit
            unsignaled = 0
        }
        lastAppendNanos = Router.monotonicNanos()
        condition.unlock()
        notices.deliver(to: self)
        return last
    }

    /// The durable queue under `base_dir/queue`, opened (and attached) on first use.
    func openDurable(_ global: GlobalConfig, log: PipelineLog) throws(DurableLogError) -> DurableQueue {
        if let q = condition.withLock({ durable }) { return q }
        try? FileSystem.createDirectories(global.baseDir)
        let q = try DurableQueue(directory: Path.join(global.baseDir, "queue"), maxSize: UInt64(max(global.maxQueueSize, 1 << 16)),
                                 sync: global.queueSync, syncInterval: global.checkpointInterval > 0 ? global.checkpointInterval : 5, log: log)
        attach(q)
        return q
    }

    /// Attaches the durable log: readers already there start at their saved positions.
    func attach(_ queue: DurableQueue) {
        queue.attachedRouter = self
        condition.lock()
        durable = queue
        durableEnd = queue.log.start
        for r in readers.values { r.durableFrom = queue.startPosition(for: r.name, restored: restoredDurable[r.name]) }
        condition.unlock()
    }

    /// Each reader's durable cursor: where its `disk` messages start again after a crash.
    func durableCursorsLocked() -> [String: UInt64] {
        var out: [String: UInt64] = [:]
        for r in readers.values {
            let i = indexLocked(r.ackSeq)
            let p = max(r.durableFrom, i < entries.count ? entries[i].durable : durableEnd)
            out[r.name] = min(out[r.name] ?? p, p)
        }
        return out
    }

    var durableCursors: [String: UInt64] {
        condition.lock()
        defer { condition.unlock() }
        return durableCursorsLocked()
    }

    /// A cut at the head without counting as a checkpoint's (the final checkpoint's).
    var headCut: Cut {
        condition.lock()
        defer { condition.unlock() }
        return Cut(generation: currentCut.generation, seq: nextSeq, durable: durableEnd)
    }

    /// Where the reader `name` started in the durable log.
    func durableFrom(of name: String) -> UInt64? {
        condition.lock()
        defer { condition.unlock() }
        return readers.values.first { $0.name == name }?.durableFrom
    }

    /// The durable position a filter's state at `cut` has read up to.
    func durablePosition(at cut: Cut, reader name: String) -> UInt64 {
        condition.lock()
        defer { condition.unlock() }
        let from = readers.values.first { $0.name == name }?.durableFrom ?? 0
        return max(from, cut.durable)
    }
}

extension RouterReader {
    /// Reads back from disk the messages from durable position `position` on (up to a
    /// batch), replacing what was read back before. A record that cannot be read any more
    /// (damaged on disk) is skipped and counted as dropped.
    func readBack(from position: UInt64) {
        guard let queue = router.condition.withLock({ router.durable }) else { return }
        let got = queue.log.records(from: position, maxRecords: 256)
        var loaded: [UInt64: MessageView] = [:]
        for (p, bytes) in zip(got.positions, got.messages) {
            if let v = try? MessageView(encoded: bytes) { loaded[p] = v }
        }
        router.condition.lock()
        readBack = loaded
        if loaded[position] == nil {
            unreadable.insert(position)
            countDropped()
        }
        router.condition.unlock()
        if loaded[position] == nil {
            queue.reportUnreadable(position, reader: name)
        }
    }
}

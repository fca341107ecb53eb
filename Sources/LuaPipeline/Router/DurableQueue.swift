import FoundationEssentials
import Glibc
import Synchronization

/// The `disk` delivery class: the ``DurableLog`` under `base_dir/queue/`, the readers'
/// cursors beside it, and what ties them to the ``Router``.
///
/// - An input of the class hands a record's messages to ``append(_:)``: they are written
///   (one write(2)), then appended to the router under the same lock, so the log's order
///   is the router's. The input acknowledges once ``waitDurable(_:)`` returns: at once
///   with `queue_sync = "write"` (survives kill -9), after a group-commit fdatasync with
///   `"fsync"` (survives power loss).
/// - Each reader's cursor (``Router/durableCursors``) is written after every acknowledged
///   batch and synced every `checkpoint_interval`; a filter taking part in checkpoints
///   keeps its last committed checkpoint's position instead, so its state and its replay
///   match. A segment is deleted once every cursor is past it.
/// - At start the log is replayed from the oldest cursor; each reader skips what its own
///   cursor had passed (``RouterReader/durableFrom``). Appends wait until the replay is
///   done, so new messages come after the old ones.
/// - Past `max_queue_size` on disk, appends wait (inputs stop reading and acknowledging),
///   counted and logged with the readers holding the oldest segment.
final class DurableQueue: @unchecked Sendable {  // mutable state is guarded by `condition`; cursor files by `cursorLock`
    struct Stats: Sendable, Equatable {
        var appended: UInt64 = 0
        var replayed: UInt64 = 0
        /// Times an append found the queue full and waited.
        var fullWaits: UInt64 = 0
        /// Writes that failed (the messages were not acknowledged).
        var writeFailures: UInt64 = 0
        /// Records that could not be read back (damaged on disk).
        var unreadable: UInt64 = 0
    }

    let log: DurableLog
    let cursorPath: String
    let maxSize: UInt64
    let sync: DurableLog.Sync
    let syncInterval: Double
    private let messages: PipelineLog
    /// Cursors as the file had them at open; `replayAll`: the file was missing or damaged
    /// while the log holds records, so readers it does not name start at the oldest.
    private let loaded: [String: UInt64]
    private let replayAll: Bool
    /// The log's end at open: readers new to it start here; the replay ends here.
    let openEnd: UInt64
    /// Readers positioned by their checkpoints (filters with `preserve_data`).
    private let pinned = Mutex<[String: UInt64]>([:])

    private let condition = Condition()
    private var replayed = false
    private var closed = false
    private var syncedUpTo: UInt64
    private var syncing = false
    private var full = false
    private var stats = Stats()
    private let cursorLock = Mutex<(saved: [String: UInt64], lastSync: UInt64)>(([:], 0))
    /// Written after every acknowledged batch (guarded by `cursorLock`).
    private let live: LiveCursorFile

    /// Opens the queue in `directory` (recovering the log) and reads the cursor file.
    init(directory: String, maxSize: UInt64, sync: DurableLog.Sync, syncInterval: Double, log messages: PipelineLog) throws(DurableLogError) {
        self.maxSize = maxSize
        self.sync = sync
        self.syncInterval = syncInterval
        self.messages = messages
        let segment = Int(min(max(maxSize / 16, 1 << 16), 64 << 20))
        log = try DurableLog(directory: directory, segmentLimit: segment, sync: .write)
        cursorPath = Path.join(directory, "cursors")
        if log.badRecords > 0 || log.truncatedBytes > 0 {
            messages.error("queue", "\(directory): \(log.badRecords) damaged records skipped, \(log.truncatedBytes) bytes of a torn write cut off")
        }
        live = LiveCursorFile(path: cursorPath + ".live")
        openEnd = log.end
        // The live file is newer when it is whole; the synced one survives a power cut.
        // Cursors past the log's end (its unsynced tail lost with the power) are clamped:
        // the positions after it are written again.
        if let positions = LiveCursorFile.load(live.path) {
            loaded = positions.mapValues { [openEnd] in min($0, openEnd) }
            replayAll = false
        } else {
            let c = DurableCursors.load(path: cursorPath, readers: [], keepingAll: true)
            if let problem = c.problem { messages.error("queue", problem) }
            loaded = c.positions.mapValues { [openEnd] in min($0, openEnd) }
            replayAll = (c.problem != nil || (c.positions.isEmpty && !FileSystem.exists(cursorPath))) && log.start < openEnd
        }
        syncedUpTo = openEnd
        replayed = log.start == openEnd  // nothing to replay
    }

    var currentStats: Stats { condition.withLock { stats } }

    /// Where a reader starts in the log: its checkpoint's position (`restored`), else its
    /// saved cursor, else the oldest record when the cursors are lost, else the end (a
    /// reader new to the queue sees the messages from now on). Never waits on a lock held
    /// by the router.
    func startPosition(for name: String, restored: UInt64?) -> UInt64 {
        if let restored { return max(restored, log.start) }
        if let p = loaded[name] { return max(p, log.start) }
        return replayAll ? log.start : openEnd
    }

    /// Positions `name` by its checkpoints from now on (starting at `position`).
    func pin(_ name: String, at position: UInt64) {
        pinned.withLock { $0[name] = position }
    }

    /// A checkpoint was committed: its filters' positions.
    func committed(_ positions: [String: UInt64]) {
        pinned.withLock { p in for (k, v) in positions where p[k] != nil { p[k] = max(p[k]!, v) } }
        saveCursors()
    }

    /// Replays the log into `router` from the oldest reader's cursor to the end at open,
    /// then lets appends in. Runs on its own thread once every reader is there.
    func replay(into router: Router) {
        defer {
            condition.lock()
            replayed = true
            condition.broadcast()
            condition.unlock()
        }
        let starts = router.condition.withLock { router.readers.values.map(\.durableFrom) }
        var pos = max(starts.min() ?? openEnd, log.start)
        if pos < openEnd { messages.info("queue", "replaying \(openEnd - pos) bytes of the durable log for readers behind") }
        while pos < openEnd && !condition.withLock({ closed }) {
            let got = log.records(from: pos, maxRecords: 256)
            guard got.next > pos else { break }
            var views: [MessageView] = [], positions: [UInt64] = []
            for (p, bytes) in zip(got.positions, got.messages) where p < openEnd {
                guard let v = try? MessageView(encoded: bytes) else { continue }
                views.append(v)
                positions.append(p)
            }
            if router.appendDurable(views, positions: positions, end: min(got.next, openEnd)) == nil && !views.isEmpty { break }
            condition.withLock { stats.replayed += UInt64(views.count) }
            pos = got.next
        }
    }

    /// Writes `views` to the log and appends them to the router. Returns the position
    /// after them (for ``waitDurable(_:)``) and the router's sequence number of the last;
    /// nil when nothing was written (stopping, or the write failed: not acknowledged).
    func append(_ views: [MessageView], to router: Router, from input: String, counters: PluginCounters? = nil) -> (end: UInt64, seq: UInt64)? {
        guard !views.isEmpty else { return nil }
        var bytes = 0
        for v in views { bytes += v.bytes.count + 16 }
        condition.lock()
        defer { condition.unlock() }
        while !closed && (!replayed || log.size + UInt64(bytes) > maxSize) {
            if replayed && !full {
                full = true
                stats.fullWaits += 1
                counters?.add(.queueFull)
                let holding = oldestHolders(router)
                messages.error("queue", "the durable queue is full (max_queue_size \(maxSize) bytes): \(input) stops reading and acknowledging until readers catch up"
                               + (holding.isEmpty ? "" : "; held by \(holding.joined(separator: ", "))"))
            }
            _ = condition.wait(until: Date(timeIntervalSinceNow: 0.1))
        }
        if closed { return nil }
        if full {
            full = false
            messages.info("queue", "the durable queue has room again: acknowledging")
        }
        let written: (positions: [UInt64], end: UInt64)
        do throws(DurableLogError) {
            written = try log.append(records: views.map { v in withExtendedLifetime(v) { Array(v.bytes) } })
        } catch {
            stats.writeFailures += 1
            messages.error("queue", "cannot write to the durable log: \(error); \(views.count) messages from \(input) not acknowledged")
            return nil
        }
        guard let seq = router.appendDurable(views, positions: written.positions, end: written.end) else { return nil }
        stats.appended += UInt64(views.count)
        return (written.end, seq)
    }

    /// Whether `bytes` more fit under `max_queue_size` now (an HTTP request answers 503
    /// instead of waiting).
    func hasRoom(for bytes: Int) -> Bool {
        condition.withLock { !closed && log.size + UInt64(bytes) <= maxSize }
    }

    /// Returns once everything below `end` is as durable as `queue_sync` asks (group
    /// commit: one fdatasync covers every append before it).
    func waitDurable(_ end: UInt64) -> Bool {
        guard sync == .fsync else { return true }
        condition.lock()
        defer { condition.unlock() }
        while syncedUpTo < end {
            if syncing {
                condition.wait()
                continue
            }
            syncing = true
            let from = syncedUpTo, target = log.end
            condition.unlock()
            let ok = log.flush(from: from)
            condition.lock()
            syncing = false
            if ok { syncedUpTo = max(syncedUpTo, target) }
            condition.broadcast()
            if !ok {
                messages.error("queue", "fdatasync of the durable log failed: \(errnoText())")
                return false
            }
        }
        return true
    }

    /// Writes the cursors when they moved (a reader acknowledged, a commit), syncing the
    /// file every `checkpoint_interval` (`force`: the timer, the stop: also when none
    /// moved), and deletes the segments every reader is past.
    func saveCursors(force: Bool = false) {
        guard let router = attachedRouter else { return }
        cursorLock.withLock { state in
            var now = router.durableCursors
            for (k, v) in pinned.withLock({ $0 }) where now[k] != nil { now[k] = v }
            let clock = Router.monotonicNanos()
            let syncDue = clock &- state.lastSync >= UInt64(syncInterval * 1e9)
            guard now != state.saved || (force && syncDue) else { return }
            guard live.write(now) else {
                messages.error("queue", "cannot save the readers' positions in \(live.path): \(errnoText()) (a crash would deliver more again)")
                return
            }
            if state.saved.isEmpty {
                let gone = Set(loaded.keys).subtracting(now.keys).sorted()
                if !gone.isEmpty { messages.info("queue", "cursors of readers no longer configured dropped: \(gone.joined(separator: ", "))") }
            }
            state.saved = now
            if syncDue {
                do throws(DurableLogError) {
                    try DurableCursors.save(now, path: cursorPath, sync: true)
                    state.lastSync = clock
                } catch {
                    messages.error("queue", "cannot save the readers' positions: \(error) (a power cut would deliver more again)")
                }
            }
            // Room for appends waiting on a full queue.
            if log.release(below: now.values.min() ?? log.end) > 0 { condition.withLock { condition.broadcast() } }
        }
    }

    weak var attachedRouter: Router?

    /// The readers whose cursors are in the oldest segment (what a full queue waits for).
    private func oldestHolders(_ router: Router) -> [String] {
        let starts = log.segmentStarts
        guard starts.count > 1 else { return [] }
        return router.durableCursors.filter { $0.value < starts[1] }.map(\.key).sorted()
    }

    /// A record that could not be read back for a reader.
    func reportUnreadable(_ position: UInt64, reader: String) {
        condition.withLock { stats.unreadable += 1 }
        messages.error("queue", "the record at position \(position) of the durable log cannot be read back for \(reader): counted as dropped")
    }

    /// Calls `body` with the Uuid of each message kept in the last `bytes` of the log
    /// (acknowledging inputs rebuild their recent Uuids from it after a crash).
    func forEachUuid(lastBytes bytes: UInt64 = 32 << 20, _ body: (UnsafeRawBufferPointer) -> Void) {
        let starts = log.segmentStarts
        var pos = starts.last { $0 + bytes <= openEnd } ?? starts.first ?? 0
        while pos < openEnd {
            let got = log.records(from: pos, maxRecords: 4096, maxBytes: 8 << 20)
            guard got.next > pos else { break }
            for m in got.messages {
                guard let v = try? MessageView(encoded: m), let r = v.range(of: .uuid) else { continue }
                withExtendedLifetime(v) { body(UnsafeRawBufferPointer(rebasing: v.bytes[r])) }
            }
            pos = got.next
        }
    }

    /// Saves the cursors every `checkpoint_interval` (synced) until ``close()``: readers
    /// that acknowledge nothing (their matcher takes no `disk` message) move too.
    func runCursorTimer() {
        condition.lock()
        while !closed {
            _ = condition.wait(until: Date(timeIntervalSinceNow: syncInterval))
            if closed { break }
            condition.unlock()
            saveCursors(force: true)
            condition.lock()
        }
        condition.unlock()
    }

    /// Stops waiting appends (they return nil: not acknowledged) and saves the cursors.
    func close() {
        condition.withLock {
            closed = true
            condition.broadcast()
        }
        saveCursors(force: true)
    }
}

/// A log stream's chunks submitted to its input's ``RecordHandler`` and not yet appended
/// to the router, and the chunks the journal must remember: each with the journal entry
/// for its first record's start, taken when it was read (by the time the entry is needed
/// the file may have been truncated, and the bytes are no longer in memory).
struct ChunkBacklog {
    typealias Chunk = (start: Int64, entry: LogstreamJournal?)

    /// Submitted and not yet appended, oldest first.
    private(set) var pending: [Chunk] = []
    /// The last chunk whose records added messages to the router.
    private(set) var lastAppended: Chunk?
    /// The first chunk whose append failed (stopping, or the durable queue could not write
    /// it). For the rest of the run the stream's position is its entry, whatever file the
    /// stream reads by then, and no later checkpoint is recorded: it is read again at the
    /// next start instead of being lost (and what was read after it, again too).
    private(set) var failed: Chunk?

    mutating func submitted(_ chunk: Chunk) { pending.append(chunk) }

    /// The oldest pending chunk's append ended: `ok`, or it failed; `added`, whether it
    /// added any message (a chunk of undecodable records adds none).
    mutating func appended(ok: Bool, added: Bool) {
        let chunk = pending.removeFirst()
        if !ok {
            if failed == nil { failed = chunk }
        } else if added {
            lastAppended = chunk
        }
    }

    /// Where the next record not yet appended starts (`resume` when none is pending) in
    /// the file open now; with a chunk that failed, its start (see ``failed``: the
    /// stream's position is then that chunk's entry).
    func nextStart(else resume: Int64) -> Int64 { failed?.start ?? pending.first?.start ?? resume }

    /// The entry kept for a position at `at`, if it is one of these chunks' starts.
    func entry(at: Int64, inode: UInt64) -> LogstreamJournal? {
        for c in [failed, pending.first, lastAppended] {
            if let c, c.start == at, let e = c.entry, e.inode == inode { return e }
        }
        return nil
    }
}

import FoundationEssentials

/// One tailed log file, followed across rotation.
///
/// - Rename rotation (`mv access.log access.log.1`, new `access.log`): the open
///   descriptor is read to its end (wherever the file now lives, whatever its new name),
///   its last partial line is delivered, then the new file is read from its start.
/// - Copy-truncate: the live file shrinks below the read offset; the copy is found by the
///   fingerprint of the bytes before that offset and read to its end first, then the
///   live file from its start.
/// - A partial last line waits for its newline (the splitter holds it; it counts as
///   unread in the journal).
final class LogStream {
    let key: String
    /// The stream's files in reading order (oldest first); the last is the live one.
    private(set) var sequence: [String]
    var path: String { sequence.last! }
    private var splitter: any Splitter
    private var fd: Int32 = -1
    private var inode: UInt64 = 0
    /// Next byte to read from `fd`.
    private var offset: Int64 = 0
    /// The last bytes read (fingerprint of a copy-truncated file's old content).
    private var recent: [UInt8] = []
    /// Journal entries not yet known to be acknowledged, oldest first, with the sequence
    /// number of the last message appended before them (`nil`: nothing appended yet).
    private var checkpoints: [(seq: UInt64?, entry: LogstreamJournal)] = []
    private var lastSafe: LogstreamJournal?
    /// The newest checkpoint cut noted, and where the stream stood at it.
    private(set) var cutGeneration: UInt64 = 0
    private(set) var cutPosition: LogstreamJournal?
    /// The sequence number of the last message made from this stream's records, and the
    /// offset where that record started.
    private var lastSeq: UInt64?
    private var lastAppendStart: Int64 = 0
    let log: PipelineLog
    let inputName: String

    /// - Parameter cutGeneration: the router's newest cut when the stream starts: it notes
    ///   only cuts taken after (its input's older records are not its own).
    init(key: String, sequence: [String], splitter: any Splitter, log: PipelineLog, inputName: String, cutGeneration: UInt64) {
        self.cutGeneration = cutGeneration
        self.key = key
        self.sequence = sequence
        self.splitter = splitter
        self.log = log
        self.inputName = inputName
    }

    deinit { if fd >= 0 { close(fd) } }

    /// The files found by the latest scan, in reading order.
    func update(sequence: [String]) {
        if !sequence.isEmpty { self.sequence = sequence }
    }

    static func inodeOf(_ path: String) -> (inode: UInt64, size: Int64)? {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return (UInt64(st.st_ino), Int64(st.st_size))
    }

    private func openFile(_ p: String, at: Int64, records: RecordHandler? = nil) -> Bool {
        let f = open(p, O_RDONLY | O_CLOEXEC)
        guard f >= 0 else { return false }
        // A cut noted now, while the position is still in the file being left.
        if let records, fd >= 0 {
            records.flush()
            noteCut(records.router, next: resumeOffset)
        }
        var st = stat()
        fstat(f, &st)
        if fd >= 0 { close(fd) }
        fd = f
        inode = UInt64(st.st_ino)
        offset = at
        recent = []
        if at > 0 {
            let start = max(0, at - Int64(LogstreamJournal.window))
            var buf = [UInt8](repeating: 0, count: Int(at - start))
            let n = buf.withUnsafeMutableBytes { pread(f, $0.baseAddress, $0.count, off_t(start)) }
            recent = n == buf.count ? buf : []
        }
        return true
    }

    /// Finds where to resume: the journal's file and offset when they still match, the
    /// renamed or copied file holding the journal's position, or the start (the end with
    /// `initialTail` when there is no journal).
    func start(journal: LogstreamJournal?, initialTail: Bool, directory: String) {
        guard let j = journal else {
            if initialTail {
                _ = openFile(path, at: Self.inodeOf(path)?.size ?? 0)
            } else {
                _ = openFile(sequence.first!, at: 0)  // the oldest file of the sequence first
            }
            return
        }
        // The journal's file may be any of the sequence now.
        for p in sequence {
            if let (ino, size) = Self.inodeOf(p), ino == j.inode, size >= j.offset, Self.matches(p, offset: j.offset, hash: j.hash),
               openFile(p, at: j.offset) {
                return
            }
        }
        if let (ino, size) = Self.inodeOf(path), ino == j.inode, size >= j.offset, openFile(path, at: j.offset),
           LogstreamJournal.fingerprint(fd: fd, offset: j.offset) == j.hash {
            return
        }
        // Rotated while we were down: read the rest of the old file first.
        if let old = findFile(in: directory, where: { p, ino, size in
            (ino == j.inode || size >= j.offset) && p != path && Self.matches(p, offset: j.offset, hash: j.hash)
        }), openFile(old, at: j.offset) {
            log.info(inputName, "\(key): resuming in \(old), rotated while stopped")
            return
        }
        log.info(inputName, "\(key): journal does not match any file; reading \(path) from the start")
        _ = openFile(path, at: 0)
    }

    private static func matches(_ p: String, offset: Int64, hash: String) -> Bool {
        let f = open(p, O_RDONLY | O_CLOEXEC)
        guard f >= 0 else { return false }
        defer { close(f) }
        return LogstreamJournal.fingerprint(fd: f, offset: offset) == hash
    }

    private func findFile(in directory: String, where ok: (String, UInt64, Int64) -> Bool) -> String? {
        let names = FileSystem.contentsOfDirectory(directory) ?? []
        for n in names.sorted() {
            let p = Path.join(directory, n)
            if let (ino, size) = Self.inodeOf(p), ok(p, ino, size) { return p }
        }
        return nil
    }

    /// Whether the bytes before our offset changed under us (same file, but truncated, and
    /// perhaps already written past our offset again).
    private func rewritten() -> Bool {
        guard offset > 0, fd >= 0, let (ino, size) = Self.inodeOf(path), ino == inode else { return false }
        return size < offset || LogstreamJournal.fingerprint(fd: fd, offset: offset) != fingerprintOfRecent()
    }

    /// Copy-truncate: the rest of the old content is in a copy; read it, then the live
    /// file from its start.
    private func followTruncation(_ records: RecordHandler, directory: String) {
        records.flush()
        let hash = fingerprintOfRecent()
        let old = offset
        let ino = inode
        if let copy = findFile(in: directory, where: { p, i, s in i != ino && s >= old && Self.matches(p, offset: old, hash: hash) }),
           openFile(copy, at: old) {
            // Not noted before the switch: the live file no longer has the bytes; the copy
            // has them at the same offsets, so a cut is noted in it.
            log.info(inputName, "\(key): truncated at byte \(old); reading the rest from its copy \(copy)")
            _ = readToEnd(records, checkRewrite: false, budget: .max)
        } else {
            log.error(inputName, "\(key): truncated and no copy found; what was written after byte \(old) before the truncation is lost")
        }
        finishFile(records)
        _ = openFile(path, at: 0, records: records)
    }

    /// Reads what is new; returns whether anything was read.
    func poll(_ records: RecordHandler, directory: String) -> Bool {
        let any = pollFiles(records, directory: directory)
        // Between records again, with the file still as read: a cut taken during the last
        // record is noted now, not later when the file may have been truncated.
        noteCut(records.router, next: nextRecordStart)
        return any
    }

    private func pollFiles(_ records: RecordHandler, directory: String) -> Bool {
        if fd < 0 {
            guard Self.inodeOf(path) != nil, openFile(path, at: 0, records: records) else { return false }
        }
        if rewritten() {
            followTruncation(records, directory: directory)
            _ = readToEnd(records, directory: directory)
            return true
        }
        if readToEnd(records, directory: directory) { return true }
        // At the end of what we have: is there a newer file to go on with? The next in the
        // sequence, or the live file when ours was renamed out of it.
        let inodes = sequence.map { Self.inodeOf($0)?.inode }
        let next: String?
        if let i = inodes.firstIndex(of: inode) {
            next = i + 1 < sequence.count ? sequence[i + 1] : nil
        } else if let live = inodes.last, live != nil {
            next = path
        } else {
            next = nil  // renamed away, no new file yet
        }
        guard let next else { return false }
        log.info(inputName, "\(key): done with its file after byte \(offset); reading \(next)")
        finishFile(records)
        _ = openFile(next, at: 0, records: records)
        return readToEnd(records, directory: directory)
    }

    private func fingerprintOfRecent() -> String { LogstreamJournal.fingerprint(of: recent.suffix(LogstreamJournal.window)) }

    /// Bytes kept of what was read last: the fingerprint before a record start or a
    /// held-back partial line comes from memory, as read, even when the file was
    /// truncated and written again since.
    static let recentLimit = 8192

    /// The fingerprint of the bytes before `at` as they were read (from memory when they
    /// are still there, else from the file).
    private func fingerprint(before at: Int64) -> String? {
        let lo = at - min(Int64(LogstreamJournal.window), at)
        let chunkStart = offset - Int64(feeding.count)
        let recentStart = chunkStart - Int64(recent.count)
        guard at <= offset, lo >= recentStart else { return LogstreamJournal.fingerprint(fd: fd, offset: at) }
        var bytes: [UInt8] = []
        if lo < chunkStart { bytes += recent[Int(lo - recentStart)..<Int(min(at, chunkStart) - recentStart)] }
        if at > chunkStart { bytes += feeding[Int(max(lo, chunkStart) - chunkStart)..<Int(at - chunkStart)] }
        return LogstreamJournal.fingerprint(of: bytes)
    }

    /// The chunk being split into records (it ends at `offset`; `recent` ends where it starts).
    private var feeding: [UInt8] = []
    /// `readToEnd`'s buffer, kept between polls while the file has more to read.
    private var readBuffer: [UInt8] = []

    /// A file that will get no more data: its last partial line is a line.
    private func finishFile(_ records: RecordHandler) {
        records.flush()
        let at = offset - Int64(splitter.buffered)
        let batch = freeBatch(records)
        batch.removeAll()
        splitter.finish { batch.add($0, at: at) }
        records.reportSplitterErrors(splitter.takeErrors())
        hand(batch, records)
        records.flush()
    }

    /// Bytes one poll reads at most: the input's other streams get their turn even while
    /// this one has a long backlog.
    static let pollBudget = 1 << 18

    /// Reads to the current end (or `budget` bytes), checking before each chunk that the
    /// file was not truncated under us (then following the copy).
    private func readToEnd(_ records: RecordHandler, directory: String = "", checkRewrite: Bool = true, budget: Int = pollBudget) -> Bool {
        var any = false
        // The read buffer is kept while the file has a backlog (the next poll reads on):
        // 64 KiB allocated, zeroed and freed per poll cost glibc a consolidation of its
        // small free chunks each time. Moved out, so it is not shared while read into.
        var buf = readBuffer.isEmpty ? [UInt8](repeating: 0, count: 1 << 16) : readBuffer
        readBuffer = []
        var atEnd = false
        defer { if !atEnd { readBuffer = buf } }
        var left = budget
        while left > 0 {
            if checkRewrite && any && rewritten() {
                followTruncation(records, directory: directory)
            }
            let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                records.flush()  // at the end: nothing waits for the next chunk
                atEnd = true
                break
            }
            any = true
            left -= n
            offset += Int64(n)
            // A whole buffer is split in place (shared until this chunk is done, so the
            // next read does not copy it); only a short last read is copied.
            let chunk = n == buf.count ? buf : Array(buf[0..<n])
            feeding = chunk
            defer {
                feeding = []
                recent.append(contentsOf: chunk.suffix(Self.recentLimit))
                if recent.count > Self.recentLimit { recent.removeFirst(recent.count - Self.recentLimit) }
            }
            // Where each record starts in the file (one delimiter byte after each record:
            // exact for lines).
            var at = offset - Int64(n) - Int64(splitter.buffered)
            // The chunk's records decoded together (on the decode threads with
            // decoder_workers), their messages appended in one step.
            let batch = freeBatch(records)
            batch.removeAll()
            splitter.feed(chunk) { record in
                batch.add(record, at: at)
                at += Int64(record.count) + 1
            }
            records.reportSplitterErrors(splitter.takeErrors())
            hand(batch, records)
        }
        return any
    }

    /// Records of one chunk, kept for the decode threads: two, one of them perhaps still
    /// being decoded while the next chunk is read into the other.
    private let batches = [RecordBatch(), RecordBatch()]

    private func freeBatch(_ records: RecordHandler) -> RecordBatch {
        batches[0] === records.pendingBatch ? batches[1] : batches[0]
    }

    /// Chunks submitted and not yet appended, and the ones the journal must remember.
    private var backlog = ChunkBacklog()

    /// Where the next record not yet appended starts: a cut noted now is noted there.
    var nextRecordStart: Int64 { backlog.nextStart(else: resumeOffset) }

    /// A chunk's records to the decode crew: they are appended, and the chunk's journal
    /// entry becomes a checkpoint, when the input submits its next chunk or flushes. A
    /// chunk without a whole record is only a checkpoint, after what is in flight.
    private func hand(_ batch: RecordBatch, _ records: RecordHandler) {
        guard batch.count > 0 else {
            records.flush()
            checkpoint(records)
            return
        }
        let start = batch.starts[0], file = path, entry = checkpointEntry()
        backlog.submitted((start, freshEntry(at: start)))
        var previous = records.lastSeq
        records.submit(batch: batch, origin: { "\(file) at byte \(batch.starts[$0])" },
                       beforeAppend: { [unowned self] in
                           // A cut taken before the append is noted at the chunk's first
                           // record, one taken after it at the next chunk.
                           previous = records.lastSeq
                           noteCut(records.router, next: start)
                       },
                       afterAppend: { [unowned self] ok in
                           let added = records.lastSeq != previous
                           backlog.appended(ok: ok, added: added)
                           if added {
                               lastSeq = records.lastSeq
                               lastAppendStart = start
                           }
                           if !ok && backlog.failed?.start == start {
                               log.info(inputName, "\(key): the records read from byte \(start) of \(file) could not be appended; they are read again at the next start")
                           }
                           if let entry, backlog.failed == nil, checkpoints.last?.entry != entry { checkpoints.append((records.lastSeq, entry)) }
                       })
    }

    /// Where the next record starts: before the splitter's held-back bytes.
    var resumeOffset: Int64 { offset - Int64(splitter.buffered) }

    /// Notes where the stream stands at a cut newer than the last one noted; called between
    /// two appends (`next`: where the next record not appended starts) and before the file
    /// changes.
    ///
    /// Asked before every append, so at most one chunk can have been appended after the
    /// cut was taken: if it was, the stream stood at that chunk's start; otherwise at
    /// `next`; after a chunk failed to be appended, at that chunk. One atomic load when there
    /// is no new cut.
    @inline(__always)
    func noteCut(_ router: Router, next: Int64, quietly: Bool = false) {
        guard let cut = router.cut(newerThan: cutGeneration) else { return }
        cutGeneration = cut.generation
        let at = (lastSeq.map { $0 >= cut.seq } ?? false) ? lastAppendStart : next
        cutPosition = backlog.failed.map { $0.entry } ?? journal(at: at)  // nil: no file yet, everything it will read is above the cut
        if !quietly { onCutNoted?() }
    }

    /// Called when it noted a new cut (its input then has the other streams note it).
    var onCutNoted: (() -> Void)?

    /// A journal entry for byte `at` of the open file. Its fingerprint comes from the
    /// bytes kept in memory when the file no longer has them (it was just truncated).
    private func journal(at: Int64) -> LogstreamJournal? {
        guard fd >= 0 else { return nil }
        // Where it stopped reading was noted then (the file may have changed since).
        if let e = checkpoints.last?.entry ?? lastSafe, e.offset == at, e.inode == inode { return e }
        if let e = backlog.entry(at: at, inode: inode) { return e }
        return freshEntry(at: at)
    }

    /// A journal entry for byte `at` of the open file, fingerprinted now.
    private func freshEntry(at: Int64) -> LogstreamJournal? {
        fingerprint(before: at).map { LogstreamJournal(path: path, inode: inode, offset: at, hash: $0) }
    }

    /// Where the stream stands now, between records (a final checkpoint, after its input
    /// stopped and the pipeline drained).
    var position: LogstreamJournal? { backlog.failed.map { $0.entry } ?? journal(at: nextRecordStart) }

    /// Notes that everything before the splitter's held-back bytes has been handed over.
    private func checkpoint(_ records: RecordHandler) {
        guard backlog.failed == nil, let entry = checkpointEntry() else { return }
        if checkpoints.last?.entry != entry { checkpoints.append((records.lastSeq, entry)) }
    }

    /// The journal entry for everything before the splitter's held-back bytes.
    private func checkpointEntry() -> LogstreamJournal? { freshEntry(at: resumeOffset) }

    /// The newest journal entry whose messages every reader has acknowledged.
    func safeJournal(acknowledgedBelow: UInt64) -> LogstreamJournal? {
        while let first = checkpoints.first, first.seq.map({ $0 < acknowledgedBelow }) ?? true {
            lastSafe = first.entry
            checkpoints.removeFirst()
        }
        return lastSafe
    }
}

#if canImport(Glibc)
import Glibc
#endif

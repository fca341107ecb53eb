import FoundationEssentials
import Glibc
import Synchronization

/// Tails log files (Heka's LogstreamerInput): every file under `log_directory` whose path
/// relative to it matches `file_match` is a stream, followed across rename and
/// copy-truncate rotation (``LogStream``), several at once.
///
/// A journal per stream under `journal_directory` (default `base_dir/logstreamer/NAME`)
/// records the inode, offset and a fingerprint of the last bytes read. It is written
/// about once a second with the newest position whose messages every reader has
/// acknowledged, and at a clean stop after the pipeline drained, so a restart resumes
/// without losing or replaying committed lines (after a crash, at least once).
///
/// Checkpoints: at each cut every stream notes where it stands (``LogStream/noteCut``)
/// and the input hands the positions to the checkpoint; after a crash it resumes from the
/// committed checkpoint's positions (given as `restored`), so filters restored from the
/// same checkpoint see every later line exactly once more.
///
/// Heka's grouping applies (``FileMatch``): with `differentiator`, the files whose named
/// groups give the same name form one stream, read in `priority` order (e.g.
/// `file_match = 'access\.log\.?(?P<Seq>\d*)$'`, `priority = ["^Seq"]`: `access.log.2`,
/// then `.1`, then the live `access.log`); without it, every matching file is a stream.
final class LogstreamerInput: PipelineInput, @unchecked Sendable {  // runs on its own thread; other threads only call stop() (atomic) and saveCheckpoint() after it finished
    let name: String
    let directory: String
    let fileMatch: FileMatch
    let rescanInterval: Double
    let oldestDuration: Double
    let initialTail: Bool
    let journalDirectory: String
    let records: RecordHandler
    let makeSplitter: () -> any Splitter
    let log: PipelineLog
    private var streams: [String: LogStream] = [:]
    private let stopRequested = Atomic<Bool>(false)
    /// Positions from the committed checkpoint, used for the streams' first start.
    private let restored: [String: LogstreamJournal]?
    /// The positions of every stream at the newest cut all of them noted.
    private let noted: Mutex<(generation: UInt64, positions: [String: LogstreamJournal])>
    /// The cut that was newest when this input was made: it notes only later ones.
    private let firstCut: UInt64

    init(name: String, directory: String, fileMatch: FileMatch, rescanInterval: Double, oldestDuration: Double,
         initialTail: Bool, journalDirectory: String, records: RecordHandler, log: PipelineLog,
         restored: [String: LogstreamJournal]? = nil, makeSplitter: @escaping () -> any Splitter) {
        self.restored = restored
        let first = records.router.cutGeneration.load(ordering: .acquiring)
        self.firstCut = first
        self.noted = Mutex((first, [:]))
        self.name = name
        self.directory = directory
        self.fileMatch = fileMatch
        self.rescanInterval = rescanInterval
        self.oldestDuration = oldestDuration
        self.initialTail = initialTail
        self.journalDirectory = journalDirectory
        self.records = records
        self.log = log
        self.makeSplitter = makeSplitter
    }

    func stop() { stopRequested.store(true, ordering: .relaxed) }

    private func journalPath(_ key: String) -> String {
        Path.join(journalDirectory, key.replacing("/", with: "_") + ".journal")
    }

    /// Groups matching files into streams (ordered by priority) and starts new streams.
    private func scan() {
        let names = FileMatch.walk(directory)
        let now = Date()
        var found: [String: [(path: String, values: [String: String])]] = [:]
        for rel in names {
            guard let values = fileMatch.match(rel) else { continue }
            let path = Path.join(directory, rel)
            var st = stat()
            guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            let modified = Date(timeIntervalSince1970: Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)
            if oldestDuration > 0, now.timeIntervalSince(modified) > oldestDuration { continue }
            found[fileMatch.streamName(path: rel, values: values), default: []].append((path, values))
        }
        for (key, files) in found {
            let ordered = files.sorted { a, b in
                fileMatch.precedes(a.values, b.values) || (!fileMatch.precedes(b.values, a.values) && a.path < b.path)
            }.map(\.path)
            if let s = streams[key] {
                s.update(sequence: ordered)
                continue
            }
            let s = LogStream(key: key, sequence: ordered, splitter: makeSplitter(), log: log, inputName: name,
                              cutGeneration: firstCut)
            // One stream noting a cut has the others (between their records) note it too,
            // so the positions are handed over without waiting for the end of the poll.
            s.onCutNoted = { [unowned self, unowned s] in self.noteCut(polling: s) }
            // A committed checkpoint names every stream it covers: one it does not name had
            // read nothing then.
            let journal: LogstreamJournal? = if let restored { restored[key] } else { LogstreamJournal.load(journalPath(key)) }
            s.start(journal: journal, initialTail: restored != nil ? false : initialTail,
                    directory: Path.parent(ordered.last!))
            streams[key] = s
            log.debug(name, "following \(key): \(ordered.joined(separator: ", "))")
        }
    }

    private func saveJournals() {
        let below = records.router.acknowledgedBelow
        for (key, s) in streams {
            guard let j = s.safeJournal(acknowledgedBelow: below) else { continue }
            do {
                try j.save(journalPath(key))
            } catch {
                log.error(name, "cannot write the journal of \(key): \(error)")
            }
        }
    }

    func run() {
        var lastScan = Date.distantPast, lastJournal = Date()
        while !stopRequested.load(ordering: .relaxed) {
            if Date().timeIntervalSince(lastScan) >= rescanInterval {
                scan()
                lastScan = Date()
            }
            var busy = false
            for s in streams.values where s.poll(records, directory: Path.parent(s.path)) { busy = true }
            noteCut()
            if Date().timeIntervalSince(lastJournal) >= 1 {
                saveJournals()
                lastJournal = Date()
            }
            if !busy { Threads.sleep(0.05) }
        }
        records.stopDecoding()
        // The pipeline drains after inputs stop; the final journal is written then.
    }

    /// Between polls: streams that read nothing since a new cut note where they stand,
    /// and once every stream noted it, the positions are handed over.
    ///
    /// - Parameter polling: the stream in the middle of its poll that just noted a cut
    ///   (before a record): only the others are between records, so only they are asked.
    private func noteCut(polling: LogStream? = nil) {
        let router = records.router
        let newest = polling?.cutGeneration ?? router.cutGeneration.load(ordering: .acquiring)
        guard newest > noted.withLock({ $0.generation }) else { return }
        var positions: [String: LogstreamJournal] = [:]
        for (key, s) in streams {
            if s !== polling && s.cutGeneration < newest { s.noteCut(router, next: s.nextRecordStart, quietly: true) }
            guard s.cutGeneration == newest else { return }
            positions[key] = s.cutPosition
        }
        noted.withLock { $0 = (newest, positions) }
    }

    func positions(at generation: UInt64) -> [String: LogstreamJournal]? {
        noted.withLock { $0.generation == generation ? $0.positions : nil }
    }

    /// After ``run()`` ended and the pipeline drained.
    func finalPositions() -> [String: LogstreamJournal] {
        streams.compactMapValues(\.position)
    }

    var keepsCheckpoint: Bool { true }

    /// Called by the pipeline once every reader acknowledged everything: the journal
    /// covers exactly what was processed.
    func saveCheckpoint() { saveJournals() }
}

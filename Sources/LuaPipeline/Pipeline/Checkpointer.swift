import FoundationEssentials
import Glibc

/// How checkpoints are doing (``Pipeline/checkpointStatus``).
public struct CheckpointStatus: Sendable, Equatable {
    /// The newest committed checkpoint (this run's, or the one restored at start).
    public var lastCommit: UInt64?
    public var lastCommitTime: Date?
    /// Checkpoints committed by this run.
    public var commits = 0
    /// While a checkpoint is open: what it waits for (filters not saved yet, readers
    /// behind the cut, inputs that have not noted it).
    public var waitingFor: [String] = []
    /// Checkpoints found unusable at start, with the reason.
    public var rejected: [String] = []
    /// The checkpoint restored at start.
    public var restored: UInt64?
}

/// Takes consistent checkpoints every `checkpoint_interval`, on its own thread:
///
/// 1. a cut C at the router's head (``Router/takeCut()``);
/// 2. each input that keeps positions notes where its streams stood at C (between two
///    records: a record's messages are never split by a cut);
/// 3. each filter with `preserve_data` saves its globals on its own worker once it has
///    read everything below C and nothing above, and hands the bytes over with its
///    injections so far; this thread writes and syncs them (never the filter's worker);
/// 4. once every snapshot is on disk and every reader acknowledged everything below C and
///    those injections, the manifest is committed (``CheckpointStore``).
///
/// A filter that is down or stuck delays the commit (the wait is in ``status`` and the
/// log), never the inputs. A clean stop that drained commits a final checkpoint.
final class Checkpointer: @unchecked Sendable {  // mutable state is guarded by `condition`
    let store: CheckpointStore
    let interval: Double
    let router: Router
    let log: PipelineLog
    /// The plugins that take part, asked at each cut: running filters with `preserve_data`
    /// and the inputs that keep positions (by name).
    var participants: (@Sendable () -> (filters: [SandboxFilterRunner], inputs: [String: any PipelineInput]))?

    struct Submission {
        let runner: ObjectIdentifier
        let state: Result<[UInt8], SandboxError>
        let injectedBelow: UInt64
    }

    private let condition = Condition()
    private var open: Cut?
    private var submissions: [String: Submission] = [:]
    private var finals: [String: [UInt8]] = [:]
    private var stopping = false
    private var nextNumber: UInt64
    private var status: CheckpointStatus
    private let ended = DoneFlag()
    /// Set once ``run()`` started: a stop waits for the loop only then (a pipeline stopped
    /// before it started has none).
    private var looping = false
    /// Filters whose state could not be saved at the last checkpoint (reported once; used
    /// on the checkpoint thread only).
    private var unsaved: Set<String> = []

    init(store: CheckpointStore, interval: Double, router: Router, log: PipelineLog, restored: RestoredCheckpoint?, rejected: [String]) {
        self.store = store
        self.interval = interval
        self.router = router
        self.log = log
        nextNumber = (store.numbers().first ?? 0) + 1
        status = CheckpointStatus(lastCommit: restored?.manifest.number,
                                  lastCommitTime: restored.map { Date(timeIntervalSince1970: $0.manifest.created) },
                                  rejected: rejected, restored: restored?.manifest.number)
    }

    var currentStatus: CheckpointStatus {
        condition.lock()
        defer { condition.unlock() }
        return status
    }

    /// A filter's snapshot at `cut` (from its worker).
    func submit(_ cut: Cut, filter: String, runner: ObjectIdentifier, state: Result<[UInt8], SandboxError>, injectedBelow: UInt64) {
        condition.lock()
        if open?.generation == cut.generation {
            submissions[filter] = Submission(runner: runner, state: state, injectedBelow: injectedBelow)
            condition.broadcast()
        }
        condition.unlock()
    }

    /// A filter's state at its clean stop (for the final checkpoint).
    func submitFinal(filter: String, state: [UInt8]) {
        condition.lock()
        finals[filter] = state
        condition.unlock()
    }

    /// The loop: a checkpoint every `interval` until ``stop()``.
    func run() {
        defer { ended.set() }
        condition.lock()
        looping = true
        condition.unlock()
        var next = Date().addingTimeInterval(interval)
        while true {
            condition.lock()
            while !stopping && Date() < next { _ = condition.wait(until: next) }
            let stop = stopping
            condition.unlock()
            if stop { return }
            checkpoint()
            next = Date().addingTimeInterval(interval)
        }
    }

    /// Ends the loop (an open checkpoint is abandoned; the last commit stays).
    func stop() {
        condition.lock()
        stopping = true
        let wait = looping
        condition.broadcast()
        condition.unlock()
        if wait { ended.wait(until: Date().addingTimeInterval(5)) }
    }

    /// One checkpoint, from its cut to its commit (or until the pipeline stops).
    private func checkpoint() {
        // Nothing to keep (no preserve_data filter, no log input): no checkpoint, no files.
        guard let (filters, inputs) = participants?(), !filters.isEmpty || !inputs.isEmpty else { return }
        let number = takeNumber()
        // Opened before any filter can see the cut, so no snapshot arrives too early.
        condition.lock()
        let cut = router.takeCut()
        open = cut
        submissions = [:]
        condition.unlock()
        defer {
            condition.lock()
            open = nil
            status.waitingFor = []
            condition.unlock()
        }
        var waiting = Set(filters.map(\.name))
        let runners = Dictionary(filters.map { ($0.name, ObjectIdentifier($0)) }, uniquingKeysWith: { a, _ in a })
        var snapshots: [String: CheckpointManifest.Snapshot] = [:]
        var positions: [String: [String: LogstreamJournal]] = [:]
        var injectedBelow = cut.seq
        let started = Date()
        var warned = false
        while true {
            condition.lock()
            let taken = submissions
            submissions = [:]
            let stop = stopping
            condition.unlock()
            if stop { return }
            for (name, s) in taken where waiting.contains(name) && runners[name] == s.runner {
                waiting.remove(name)
                injectedBelow = max(injectedBelow, s.injectedBelow)
                do {
                    snapshots[name] = try store.writeSnapshot(try s.state.get(), number: number, filter: name)
                    if unsaved.remove(name) != nil { log.info(name, "checkpoint \(number): its state is saved again") }
                } catch {
                    // Once per episode, not at every checkpoint.
                    if unsaved.insert(name).inserted { log.error(name, "checkpoint \(number): its state is not saved: \(error) (left out of checkpoints until it can be)") }
                }
            }
            // A filter that stopped for good takes no part.
            for f in filters where f.done { waiting.remove(f.name) }
            let now = participants?().inputs ?? [:]
            for (name, input) in inputs where positions[name] == nil {
                guard let current = now[name], current === input else {
                    log.debug("checkpoint", "checkpoint \(number) abandoned: \(name) was replaced during it")
                    return
                }
                positions[name] = input.positions(at: cut.generation)
            }
            let behind = router.readers(notAcknowledgedBelow: injectedBelow)
            var reasons = waiting.sorted().map { "filter \($0) (not saved yet)" }
            reasons += inputs.keys.filter { positions[$0] == nil }.sorted().map { "input \($0) (position not noted yet)" }
            if waiting.isEmpty && reasons.isEmpty {
                reasons += behind.map { "\($0) (acknowledgements below the cut)" }
                if behind.isEmpty {
                    commit(CheckpointManifest(number: number, cut: cut.seq, created: Date().timeIntervalSince1970, final: false,
                                              filters: snapshots, inputs: positions, durable: durablePositions(snapshots.keys, at: cut)),
                           waited: warned ? Date().timeIntervalSince(started) : nil)
                    return
                }
            }
            condition.lock()
            status.waitingFor = reasons
            condition.unlock()
            let limit = max(interval, 1) * 2
            if !warned && Date().timeIntervalSince(started) > limit {
                warned = true
                log.error("checkpoint", "checkpoint \(number) has waited \(Int(limit)) s for: \(reasons.joined(separator: ", "))"
                          + "; the last commit is \(ageText()) old (inputs go on; what is not committed is replayed after a crash)")
            }
            condition.lock()
            if !stopping { _ = condition.wait(until: Date(timeIntervalSinceNow: 0.05)) }
            condition.unlock()
        }
    }

    private func takeNumber() -> UInt64 {
        condition.lock()
        defer { condition.unlock() }
        nextNumber += 1
        return nextNumber - 1
    }

    private func ageText() -> String {
        guard let t = status.lastCommitTime else { return "none yet" }
        return fixed(Date().timeIntervalSince(t), 0) + " s"
    }

    private func commit(_ m: CheckpointManifest, waited: Double?) {
        do {
            condition.lock()
            let previous = status.lastCommit
            condition.unlock()
            try store.commit(m, keeping: previous)
            if let d = m.durable { router.durable?.committed(d) }
            condition.lock()
            status.lastCommit = m.number
            status.lastCommitTime = Date(timeIntervalSince1970: m.created)
            status.commits += 1
            condition.unlock()
            if let waited {
                log.info("checkpoint", "checkpoint \(m.number) committed after waiting \(fixed(waited, 1)) s")
            } else {
                log.debug("checkpoint", "checkpoint \(m.number) committed (cut at message \(m.cut))")
            }
        } catch {
            log.error("checkpoint", "checkpoint \(m.number) not committed: \(error)")
        }
    }

    /// The clean stop's checkpoint, once everything drained and the loop ended: the
    /// filters' final states and where the inputs' streams stand.
    func commitFinal(inputs: [String: any PipelineInput]) {
        condition.lock()
        let states = finals
        condition.unlock()
        guard !states.isEmpty || !inputs.isEmpty else { return }
        let number = takeNumber()
        var snapshots: [String: CheckpointManifest.Snapshot] = [:]
        for (name, bytes) in states {
            do {
                snapshots[name] = try store.writeSnapshot(bytes, number: number, filter: name)
            } catch {
                log.error(name, "final checkpoint: its state is not saved: \(error)")
            }
        }
        let head = router.headCut
        commit(CheckpointManifest(number: number, cut: head.seq, created: Date().timeIntervalSince1970, final: true,
                                  filters: snapshots, inputs: inputs.mapValues { $0.finalPositions() },
                                  durable: durablePositions(snapshots.keys, at: head)), waited: nil)
    }

    /// Where each filter's snapshot at `cut` stands in the durable queue (nil: no queue).
    private func durablePositions(_ filters: some Collection<String>, at cut: Cut) -> [String: UInt64]? {
        guard router.condition.withLock({ router.durable }) != nil else { return nil }
        return Dictionary(uniqueKeysWithValues: filters.map { ($0, router.durablePosition(at: cut, reader: $0)) })
    }
}

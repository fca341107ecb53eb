import FoundationEssentials
import Glibc

/// Consistent checkpoints (`checkpoint_interval`): see ``Checkpointer`` and
/// docs/checkpoints.md.
extension Pipeline {
    /// How checkpoints are doing: the last commit, what an open one waits for, and the
    /// unusable ones found at start (nil: checkpoints are off).
    public var checkpointStatus: CheckpointStatus? { checkpointer?.currentStatus }

    /// The checkpointer, and the newest good checkpoint to start from (each unusable one
    /// found on the way is reported).
    static func openCheckpoints(_ global: GlobalConfig, router: Router, log: PipelineLog) -> (Checkpointer?, RestoredCheckpoint?) {
        guard global.checkpointInterval > 0 else { return (nil, nil) }
        let store = CheckpointStore(directory: Path.join(global.baseDir, "checkpoints"))
        var rejected: [String] = []
        let restored = store.loadNewest { n, reason in
            log.error("checkpoint", "checkpoint \(n) in \(store.directory) is unusable: \(reason); trying the one before")
            rejected.append("\(n): \(reason)")
        }
        if let restored {
            log.info("checkpoint", "restoring checkpoint \(restored.manifest.number)"
                     + (restored.manifest.final ? " (taken at a clean stop)" : ": filters' state and the log inputs' positions as they were at its cut"))
        } else if !rejected.isEmpty {
            log.error("checkpoint", "no usable checkpoint: filters start from their preserved files, inputs from their journals")
        }
        return (Checkpointer(store: store, interval: global.checkpointInterval, router: router, log: log, restored: restored, rejected: rejected), restored)
    }

    /// Running filters with `preserve_data`, and inputs that keep positions.
    var checkpointParticipants: (filters: [SandboxFilterRunner], inputs: [String: any PipelineInput]) {
        let filters = registry.plugins(.filter).compactMap { ($0 as? ManagedFilter)?.checkpointRunner }
        var inputs: [String: any PipelineInput] = [:]
        for m in registry.plugins(.input) {
            if let i = (m as? ManagedInput)?.checkpointInput { inputs[m.name] = i }
        }
        return (filters, inputs)
    }

    /// A clean stop's checkpoint when everything drained; otherwise the last commit stays
    /// (its states and positions match; what came after is replayed).
    func finalCheckpoint(drained: Bool) {
        guard let checkpointer else { return }
        let inputs = registry.plugins(.input)
        if drained && inputs.allSatisfy(\.isFinished) {
            checkpointer.commitFinal(inputs: checkpointParticipants.inputs)
        } else {
            let last = checkpointer.currentStatus.lastCommit.map { "checkpoint \($0) stays" } ?? "no checkpoint was committed"
            log.error("checkpoint", "no final checkpoint: the stop did not drain; \(last), and what came after it is processed again at the next start")
        }
    }
}

/// The durable queue of `disk` messages (docs/delivery.md).
extension Pipeline {
    /// Opens the queue a previous run left records in, before the plugins are built, so
    /// every reader starts at its cursor even when no `disk` input remains.
    static func openLeftDurableQueue(_ global: GlobalConfig, router: Router, log: PipelineLog) -> ConfigError? {
        let dir = Path.join(global.baseDir, "queue")
        let names = FileSystem.contentsOfDirectory(dir) ?? []
        guard names.contains(where: { $0.hasSuffix(".log") }) else { return nil }
        do throws(DurableLogError) {
            _ = try router.openDurable(global, log: log)
            return nil
        } catch {
            return ConfigError(file: dir, "cannot open the durable queue: \(error)")
        }
    }

    /// Positions the checkpointed filters by their checkpoints, replays the log for the
    /// readers behind, and keeps the cursors saved; inputs start after this (their appends
    /// wait for the replay).
    func startDurableQueue() {
        guard let queue = router.condition.withLock({ router.durable }) else { return }
        if checkpointer != nil {
            for f in checkpointParticipants.filters {
                if let from = router.durableFrom(of: f.name) { queue.pin(f.name, at: from) }
            }
        }
        spawn("queue-replay") { [router] in queue.replay(into: router) }
        spawn("queue-cursors") { queue.runCursorTimer() }
    }
}

import FoundationEssentials
import Glibc
import Synchronization

/// A running SandboxFilter as the control plane sees it (``ManagedPlugin``). A new version
/// is handed to its runner, which swaps it at a message boundary after a trial and reports
/// the outcome itself; a filter that gave up (retries exhausted) starts afresh from its
/// saved state on the next reload.
final class ManagedFilter: ManagedPlugin {
    let name: String
    let counters: PluginCounters
    var category: PluginCategory { .filter }
    private let state: Mutex<(runner: SandboxFilterRunner, version: PluginVersion)>
    /// Set by ``remove(host:)`` when the runner had already finished.
    private let removedFinished = Atomic<Bool>(false)

    init(_ p: PluginConfig, runner: SandboxFilterRunner, version: PluginVersion) {
        name = p.name
        counters = runner.counters
        state = Mutex((runner, version))
    }

    private var runner: SandboxFilterRunner { state.withLock { $0.runner } }
    var version: PluginVersion { state.withLock { $0.version } }
    var isFinished: Bool { runner.done }
    /// Its runner, when it takes part in checkpoints (running, with `preserve_data`).
    var checkpointRunner: SandboxFilterRunner? {
        let r = runner
        return !r.done && r.settings.preservePath != nil ? r : nil
    }

    func change(to p: PluginConfig, fingerprint: String, changedModules: Set<String>) -> String? {
        if runner.done { return "it had stopped" }
        return version.change(to: p, fingerprint: fingerprint, changedModules: changedModules)
    }

    func start(on host: PluginHost) { host.pool.add(runner) }

    func replace(with p: PluginConfig, in config: PipelineConfig, fingerprint fp: String, reason: String, using builder: PluginBuilder,
                 host: PluginHost) -> ReloadEvent? {
        var notes = PluginBuilder.Notes()
        if runner.done {
            // It gave up: a new version starts afresh, from the state it saved.
            guard let r = builder.filter(p, in: config, counters: counters, notes: &notes, restore: true) else {
                return .rejected(p.name, notes, adding: true)
            }
            state.withLock { $0 = (r, PluginVersion(config: p, fingerprint: fp, modules: notes.modules)) }
            host.pool.add(r)
            return ReloadEvent(plugin: p.name, action: .added, detail: "started with its saved state")
        }
        // A broken version is not tried again until its file changes.
        state.withLock {
            $0.version.fingerprint = fp
            $0.version.config = p
        }
        guard let replacement = builder.filterReplacement(p, in: config, counters: counters, notes: &notes, reason: reason) else {
            return .rejected(p.name, notes, adding: false)
        }
        state.withLock { $0.version.modules = notes.modules }
        runner.replace(with: replacement)
        return nil  // the runner reports after the new version's trial
    }

    func remove(host: PluginHost) {
        let r = runner
        if r.done {
            removedFinished.store(true, ordering: .relaxed)
        } else {
            r.remove()
        }
    }

    func drained(until deadline: Date, host: PluginHost) -> ReloadEvent? {
        if removedFinished.load(ordering: .relaxed) {
            return ReloadEvent(plugin: name, action: .removed, detail: "removed (it had stopped)")
        }
        runner.waitDone(until: deadline)
        return nil  // the runner reported it stopped, its state saved
    }

    func settle() { runner.stopping.store(true, ordering: .relaxed) }
}

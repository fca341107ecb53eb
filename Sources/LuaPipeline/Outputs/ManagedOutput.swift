import FoundationEssentials
import Glibc
import Synchronization

/// A running output as the control plane sees it (``ManagedPlugin``). A new version takes
/// over its router cursor, from the first message the old one had not acknowledged.
final class ManagedOutput: ManagedPlugin {
    let name: String
    let counters: PluginCounters
    var category: PluginCategory { .output }
    private let state: Mutex<Running>

    private struct Running {
        var output: any PipelineOutput
        var version: PluginVersion
        var finished = DoneFlag()
    }

    init(_ p: PluginConfig, output: any PipelineOutput, counters: PluginCounters, version: PluginVersion) {
        name = p.name
        self.counters = counters
        state = Mutex(Running(output: output, version: version))
    }

    private var running: Running { state.withLock { $0 } }
    var version: PluginVersion { running.version }
    var isFinished: Bool { running.finished.isSet }

    func start(on host: PluginHost) {
        let r = running
        let (output, finished) = (r.output, r.finished)
        host.spawn(name) { output.run(); finished.set() }
    }

    func replace(with p: PluginConfig, in config: PipelineConfig, fingerprint fp: String, reason: String, using builder: PluginBuilder,
                 host: PluginHost) -> ReloadEvent? {
        let old = running
        var notes = PluginBuilder.Notes()
        guard let made = builder.output(p, in: config, counters: counters, notes: &notes, reader: old.output.reader) else {
            return .rejected(p.name, notes, adding: false)
        }
        retire(old, until: Date().addingTimeInterval(host.drainTimeout))
        old.output.reader.rewindToAcknowledged()
        old.output.reader.setMatcher(p.options.readerOptions?.messageMatcher.readerMatch)
        state.withLock { $0 = Running(output: made, version: PluginVersion(config: p, fingerprint: fp, modules: notes.modules)) }
        start(on: host)
        return ReloadEvent(plugin: p.name, action: .replaced, detail: reason)
    }

    func remove(host: PluginHost) { running.output.retiring.store(true, ordering: .relaxed) }

    func drained(until deadline: Date, host: PluginHost) -> ReloadEvent? {
        let r = running
        retire(r, until: deadline)
        host.router.removeReader(r.output.reader)
        return ReloadEvent(plugin: name, action: .removed, detail: "stopped")
    }

    /// Stops a version at a batch boundary; one that cannot finish in time gives up its
    /// unwritten messages (its successor or nobody takes them).
    private func retire(_ r: Running, until deadline: Date) {
        r.output.retiring.store(true, ordering: .relaxed)
        if !r.finished.wait(until: deadline) {
            r.output.abandon.store(true, ordering: .relaxed)
            r.finished.wait()
        }
    }

    func abandon() { running.output.abandon.store(true, ordering: .relaxed) }
}

import FoundationEssentials
import Glibc
import Synchronization

/// A running input as the control plane sees it (``ManagedPlugin``). A new version stops
/// this one (what it read is delivered, its checkpoint saved) and starts in its place; a
/// change to its own SandboxDecoder alone is swapped in place, on the input's thread, with
/// a trial of the new version.
final class ManagedInput: ManagedPlugin {
    let name: String
    let counters: PluginCounters
    var category: PluginCategory { .input }
    private let state: Mutex<Running>

    /// The version running now, with its thread's end.
    private struct Running: @unchecked Sendable {  // the decoder is touched off its input's thread only through SandboxDecoder.replace, which hands over under its own Mutex
        var input: any PipelineInput
        var version: PluginVersion
        /// The config it was built from (to build it again when a successor cannot bind).
        var config: PipelineConfig
        /// The SandboxDecoder it names directly, and that section's fingerprint.
        var decoder: SandboxDecoder?
        var decoderFingerprint: String?
        var finished = DoneFlag()
    }

    init(_ p: PluginConfig, in config: PipelineConfig, input: any PipelineInput, counters: PluginCounters, notes: PluginBuilder.Notes) {
        name = p.name
        self.counters = counters
        let fps = Pipeline.inputFingerprints(p, in: config)
        state = Mutex(Running(input: input, version: PluginVersion(config: p, fingerprint: fps.own, modules: notes.modules), config: config,
                              decoder: notes.decoder, decoderFingerprint: fps.decoder))
    }

    private var running: Running { state.withLock { $0 } }
    var version: PluginVersion { running.version }
    var isFinished: Bool { running.finished.isSet }
    /// Its input, when it keeps positions (they go into checkpoints).
    var checkpointInput: (any PipelineInput)? {
        let i = running.input
        return i.keepsCheckpoint ? i : nil
    }

    /// Its own fingerprint and its SandboxDecoder's, apart: only the second changing means
    /// an in-place swap.
    func fingerprint(of p: PluginConfig, in config: PipelineConfig) -> String {
        let fps = Pipeline.inputFingerprints(p, in: config)
        return fps.own + "\u{0}" + (fps.decoder ?? "")
    }

    func change(to p: PluginConfig, fingerprint: String, changedModules: Set<String>) -> String? {
        let r = running
        let combined = PluginVersion(config: r.version.config, fingerprint: r.version.fingerprint + "\u{0}" + (r.decoderFingerprint ?? ""),
                                     modules: r.version.modules)
        return combined.change(to: p, fingerprint: fingerprint, changedModules: changedModules)
    }

    func start(on host: PluginHost) {
        let r = running
        let (input, finished) = (r.input, r.finished)
        host.spawn(name) { input.run(); finished.set() }
    }

    func replace(with p: PluginConfig, in config: PipelineConfig, fingerprint fp: String, reason: String, using builder: PluginBuilder,
                 host: PluginHost) -> ReloadEvent? {
        let r = running
        let fps = Pipeline.inputFingerprints(p, in: config)  // `fp` joins the two; each is needed apart
        if fps.own == r.version.fingerprint, fps.decoder != r.decoderFingerprint, let dec = r.decoder, let dp = Pipeline.sandboxDecoder(of: p, in: config) {
            return swapDecoder(dec, dp, fingerprint: fps.decoder, in: config, using: builder)
        }
        var notes = PluginBuilder.Notes()
        guard let made = builder.input(p, in: config, counters: counters, notes: &notes) else {
            return .rejected(p.name, notes, adding: false)
        }
        if let address = made.listenAddress, address == r.input.listenAddress {
            // The same address: it is free once this version stopped.
            stop(r, host: host)
            do throws(Socket.Failure) {
                try made.open()
            } catch {
                restoreStopped(r, using: builder, host: host)
                return ReloadEvent(plugin: p.name, action: .rejected, detail: "new version not started: \(error); the running version goes on")
            }
        } else {
            do throws(Socket.Failure) {
                try made.open()
            } catch {
                return ReloadEvent(plugin: p.name, action: .rejected, detail: "new version not started: \(error); the running version goes on")
            }
            stop(r, host: host)
        }
        let next = Running(input: made, version: PluginVersion(config: p, fingerprint: fps.own, modules: notes.modules), config: config,
                           decoder: notes.decoder, decoderFingerprint: fps.decoder)
        state.withLock { $0 = next }
        start(on: host)
        return ReloadEvent(plugin: p.name, action: .replaced, detail: reason)
    }

    /// Builds and starts the stopped version `r` again (its successor could not bind).
    private func restoreStopped(_ r: Running, using builder: PluginBuilder, host: PluginHost) {
        var notes = PluginBuilder.Notes()
        guard let again = builder.input(r.version.config, in: r.config, counters: counters, notes: &notes) else { return }
        var next = r
        next.input = again
        next.decoder = notes.decoder
        next.finished = DoneFlag()
        state.withLock { $0 = next }
        start(on: host)
    }

    func open() throws(ConfigError) {
        let r = running
        do throws(Socket.Failure) {
            try r.input.open()
        } catch {
            throw r.version.config.error("address", error.description)
        }
    }

    /// A new version of the input's SandboxDecoder, tried on the next record.
    private func swapDecoder(_ dec: SandboxDecoder, _ dp: PluginConfig, fingerprint: String?, in config: PipelineConfig,
                             using builder: PluginBuilder) -> ReloadEvent? {
        state.withLock { $0.decoderFingerprint = fingerprint }  // a broken version is not tried again until it changes
        var notes = PluginBuilder.Notes()
        guard let (sb, recipe) = builder.decoderSandbox(dp, in: config, counters: counters, notes: &notes) else {
            return .rejected(dp.name, notes, adding: false)
        }
        let (input, dname, events) = (name, dp.name, builder.events)
        // decoder_workers: every instance gets the same version, built now.
        var others: [Sandbox] = []
        for _ in dec.followers {
            do throws(OptionProblem) {
                others.append(try recipe.make())
            } catch {
                return ReloadEvent(plugin: dname, action: .rejected, detail: "new version (in \(input)): \(error.reason); the running version goes on")
            }
        }
        dec.replace(with: sb, forFollowers: others, rebuild: { try? recipe.make() }, outcome: { error in
            if let error {
                events(ReloadEvent(plugin: dname, action: .rejected, detail: "new version (in \(input)): \(error); the running version goes on"), nil)
            } else {
                events(ReloadEvent(plugin: dname, action: .replaced, detail: "new version took over in \(input)"), nil)
            }
        })
        return nil
    }

    func remove(host: PluginHost) {}

    func drained(until deadline: Date, host: PluginHost) -> ReloadEvent? {
        stop(running, host: host)
        return ReloadEvent(plugin: name, action: .removed, detail: "stopped")
    }

    /// Stops a version; one that keeps a checkpoint saves it once what it read is acknowledged.
    private func stop(_ r: Running, host: PluginHost) {
        r.input.stop()
        r.finished.wait()
        guard r.input.keepsCheckpoint else { return }
        host.router.waitUntilAcknowledged(below: host.router.headSeq, deadline: Date().addingTimeInterval(host.drainTimeout))
        r.input.saveCheckpoint()
    }

    func stopAcquiring(until deadline: Date) {
        let r = running
        r.input.stop()
        r.finished.wait(until: deadline)
    }

    func settle() { running.input.saveCheckpoint() }
}

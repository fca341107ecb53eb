import FoundationEssentials
import Glibc

/// Builds plugins from their checked sections, at start-up and again on every reload (a new
/// version is built beside the running one, so a failure leaves that one alone). Each
/// type's own builder does the work (``PluginType``); this gives it a ``BuildContext`` and
/// wraps what it built as a ``ManagedPlugin``.
struct PluginBuilder: Sendable {
    let router: Router
    let log: PipelineLog
    let stdin: Int32
    let accumulators: StatAccumulators
    let events: ReloadEventSink
    let dashboard: DashboardHolder
    var checkpointer: Checkpointer? = nil
    /// The checkpoint restored at start: given only to the first build.
    var restored: RestoredCheckpoint? = nil

    /// What building one plugin found: the problems, and the modules its sandboxes required
    /// (a changed module reloads the plugins that use it).
    struct Notes {
        var errors: [ConfigError] = []
        var modules: Set<String> = []
        /// An input's own SandboxDecoder (not inside a MultiDecoder): swapped in place on reload.
        var decoder: SandboxDecoder?
    }

    private func context(_ p: PluginConfig, _ config: PipelineConfig, _ counters: PluginCounters, restore: Bool = false) -> BuildContext {
        let c = BuildContext(plugin: p, config: config, router: router, counters: counters, log: log, stdin: stdin,
                             accumulators: accumulators, events: events, restore: restore)
        c.restored = restored
        c.checkpointer = checkpointer
        c.dashboard = dashboard
        return c
    }

    /// Runs a type's builder, collecting what it found into `notes`.
    private func building<T>(_ ctx: BuildContext, _ notes: inout Notes, _ body: (BuildContext) throws(ConfigError) -> T) -> T? {
        do {
            let made = try body(ctx)
            notes.modules.formUnion(ctx.modules)
            notes.decoder = ctx.decoder
            return made
        } catch {
            notes.errors.append(error)
            return nil
        }
    }

    /// A running plugin for an input, filter or output section (nil for the sections those
    /// refer to, and with `notes.errors` set when it does not build).
    func managed(_ p: PluginConfig, in config: PipelineConfig, restore: Bool = false, notes: inout Notes) -> (any ManagedPlugin)? {
        let c = PluginCounters(name: p.name, category: p.type.category)
        switch p.build {
        case .input:
            guard let i = input(p, in: config, counters: c, notes: &notes) else { return nil }
            return ManagedInput(p, in: config, input: i, counters: c, notes: notes)
        case .filter:
            guard let r = filter(p, in: config, counters: c, notes: &notes, restore: restore) else { return nil }
            return ManagedFilter(p, runner: r, version: PluginVersion(config: p, fingerprint: Pipeline.fingerprint(p, in: config), modules: notes.modules))
        case .output:
            guard let o = output(p, in: config, counters: c, notes: &notes) else { return nil }
            return ManagedOutput(p, output: o, counters: c, version: PluginVersion(config: p, fingerprint: Pipeline.fingerprint(p, in: config), modules: notes.modules))
        case .splitter, .decoder, .encoder:
            return nil
        }
    }

    func input(_ p: PluginConfig, in config: PipelineConfig, counters c: PluginCounters, notes: inout Notes) -> (any PipelineInput)? {
        guard case .input(let make) = p.build else { return nil }
        return building(context(p, config, c), &notes, make)
    }

    func filter(_ p: PluginConfig, in config: PipelineConfig, counters c: PluginCounters, notes: inout Notes,
                restore: Bool = false) -> SandboxFilterRunner? {
        guard case .filter(let make, _) = p.build else { return nil }
        return building(context(p, config, c, restore: restore), &notes, make)
    }

    /// A new version of a running filter: its sandbox, settings and matcher.
    func filterReplacement(_ p: PluginConfig, in config: PipelineConfig, counters c: PluginCounters, notes: inout Notes,
                           reason: String) -> FilterReplacement? {
        guard case .filter(_, let replacement) = p.build else { return nil }
        return building(context(p, config, c), &notes) { ctx throws(ConfigError) in try replacement(ctx, reason) }
    }

    /// A new version of an input's SandboxDecoder: its sandbox and a recipe for restarts.
    func decoderSandbox(_ p: PluginConfig, in config: PipelineConfig, counters c: PluginCounters, notes: inout Notes) -> (Sandbox, SandboxRecipe)? {
        guard let o = p.options.sandboxOptions else { return nil }
        return building(context(p, config, c), &notes) { ctx throws(ConfigError) in try ctx.sandbox(.decoder, o) }
    }

    /// An output; `reader` is given when a new version takes over a running one's cursor.
    func output(_ p: PluginConfig, in config: PipelineConfig, counters c: PluginCounters, notes: inout Notes,
                reader given: RouterReader? = nil) -> (any PipelineOutput)? {
        guard case .output(let make) = p.build, let r = p.options.readerOptions else { return nil }
        let ctx = context(p, config, c)
        let reader = given ?? ctx.addReader(r)
        let made = building(ctx, &notes) { ctx throws(ConfigError) in try make(ctx, reader) }
        if made == nil && given == nil { router.removeReader(reader) }
        return made
    }
}

/// Fingerprints: what identifies a plugin's version.
extension Pipeline {
    /// An input's fingerprint without its SandboxDecoder (swapped in place), and that
    /// decoder's own.
    static func inputFingerprints(_ p: PluginConfig, in config: PipelineConfig) -> (own: String, decoder: String?) {
        guard let d = sandboxDecoder(of: p, in: config) else { return (fingerprint(p, in: config), nil) }
        return (fingerprint(p, in: config, skipping: [d.name]), fingerprint(d, in: config))
    }

    /// The SandboxDecoder section an input names directly.
    static func sandboxDecoder(of p: PluginConfig, in config: PipelineConfig) -> PluginConfig? {
        guard case .string(let name)? = p.table.first(where: { $0.key == "decoder" })?.value,
              let d = config.plugin(named: name), d.type.name == SandboxDecoder.plugin.name else { return nil }
        return d
    }

    /// What identifies a plugin's version: its type, section, script text and those of the
    /// sections it refers to (decoder, splitter, encoder, subs). A change means a reload.
    static func fingerprint(_ p: PluginConfig, in config: PipelineConfig, depth: Int = 0, skipping: Set<String> = []) -> String {
        var s = p.type.name + "\n"
        for (k, v) in p.table.sorted(by: { $0.key < $1.key }) { s += "\(k)=\(v)\n" }
        if let script = p.script {
            s += FileSystem.contents(script).map { String(decoding: $0, as: UTF8.self) } ?? "<unreadable>"
        }
        guard depth < 3 else { return s }
        for r in p.options.references where !skipping.contains(r) {
            if let q = config.plugin(named: r) { s += "\n[\(r)]\n" + fingerprint(q, in: config, depth: depth + 1) }
        }
        return s
    }
}

import Foundation

/// Building plugins from their checked sections, at start-up and again on every reload (a
/// new version is built beside the running one, so a failure leaves that one alone). Each
/// type's own builder does the work (`PluginType`); this only gives it a ``BuildContext``.
extension Pipeline {
    /// What building one plugin found: the problems, and the modules its sandboxes required
    /// (a changed module reloads the plugins that use it).
    struct BuildNotes {
        var errors: [ConfigError] = []
        var modules: Set<String> = []
        /// An input's own SandboxDecoder (not inside a MultiDecoder): swapped in place on reload.
        var decoder: SandboxDecoder?
    }

    private func context(_ p: PluginConfig, _ config: PipelineConfig, _ counters: PluginCounters, restore: Bool = false) -> BuildContext {
        BuildContext(plugin: p, config: config, router: router, counters: counters, log: log, stdin: stdin,
                     accumulators: accumulators, events: { [weak self] e, reader in self?.record(e, from: reader) }, restore: restore)
    }

    /// Runs a builder, collecting what it found into `notes`.
    private func building<T>(_ ctx: BuildContext, _ notes: inout BuildNotes, _ body: (BuildContext) throws(ConfigError) -> T) -> T? {
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

    func makeInput(_ p: PluginConfig, in config: PipelineConfig, counters c: PluginCounters, notes: inout BuildNotes) -> (any PipelineInput)? {
        guard case .input(let make) = p.build else { return nil }
        return building(context(p, config, c), &notes, make)
    }

    func makeFilter(_ p: PluginConfig, in config: PipelineConfig, counters c: PluginCounters, notes: inout BuildNotes,
                    restore: Bool = false) -> SandboxFilterRunner? {
        guard case .filter(let make) = p.build else { return nil }
        return building(context(p, config, c, restore: restore), &notes, make)
    }

    /// A new version of a running filter: its sandbox, settings and matcher.
    func makeFilterReplacement(_ p: PluginConfig, in config: PipelineConfig, counters c: PluginCounters, notes: inout BuildNotes,
                               reason: String) -> FilterReplacement? {
        guard let o = p.options as? SandboxFilterOptions else { return nil }
        return building(context(p, config, c), &notes) { ctx throws(ConfigError) in
            let (sb, settings) = try SandboxFilterRunner.replacementParts(o, ctx)
            return FilterReplacement(sandbox: sb, settings: settings, matcher: o.reader.messageMatcher.predicate, reason: reason)
        }
    }

    /// A new version of an input's SandboxDecoder: its sandbox and a recipe for restarts.
    func makeDecoderSandbox(_ p: PluginConfig, in config: PipelineConfig, counters c: PluginCounters, notes: inout BuildNotes) -> (Sandbox, SandboxRecipe)? {
        guard let o = p.options.sandboxOptions else { return nil }
        return building(context(p, config, c), &notes) { ctx throws(ConfigError) in try ctx.sandbox(.decoder, o) }
    }

    /// An output; `reader` is given when a new version takes over a running one's cursor.
    func makeOutput(_ p: PluginConfig, in config: PipelineConfig, counters c: PluginCounters, notes: inout BuildNotes,
                    reader given: RouterReader? = nil) -> (any PipelineOutput)? {
        guard case .output(let make) = p.build, let r = p.options.readerOptions else { return nil }
        let ctx = context(p, config, c)
        let reader = given ?? ctx.addReader(r)
        let made = building(ctx, &notes) { ctx throws(ConfigError) in try make(ctx, reader) }
        if made == nil && given == nil { router.removeReader(reader) }
        return made
    }

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
            s += FileManager.default.contents(atPath: script).map { String(decoding: $0, as: UTF8.self) } ?? "<unreadable>"
        }
        guard depth < 3 else { return s }
        for r in p.options.references where !skipping.contains(r) {
            if let q = config.plugin(named: r) { s += "\n[\(r)]\n" + fingerprint(q, in: config, depth: depth + 1) }
        }
        return s
    }
}

import FoundationEssentials
import Glibc

/// What building one plugin needs and finds: the config, the router, the plugin's counters,
/// the shared StatsD accumulators and where state lives. Given to each type's builder, so
/// no runner calls back into ``Pipeline``. Used on the building thread only.
final class BuildContext {
    let plugin: PluginConfig
    let config: PipelineConfig
    let router: Router
    let counters: PluginCounters
    let log: PipelineLog
    let stdin: Int32
    let accumulators: StatAccumulators
    let events: ReloadEventSink
    /// Restore the preserved globals even without `preserve_data` (a filter put back).
    let restore: Bool
    /// The checkpoint restored at start (only while the pipeline is first built).
    var restored: RestoredCheckpoint?
    /// Where filters hand their snapshots (nil: no checkpoints).
    var checkpointer: Checkpointer?
    /// The pipeline's dashboard (DashboardOutput makes its store there).
    var dashboard = DashboardHolder()
    /// Modules the plugin's sandboxes required (a changed module reloads the plugin).
    private(set) var modules: Set<String> = []
    /// An input's own SandboxDecoder (not inside a MultiDecoder): swapped in place on reload.
    var decoder: SandboxDecoder?

    init(plugin: PluginConfig, config: PipelineConfig, router: Router, counters: PluginCounters, log: PipelineLog, stdin: Int32,
         accumulators: StatAccumulators, events: @escaping ReloadEventSink, restore: Bool = false) {
        self.plugin = plugin
        self.config = config
        self.router = router
        self.counters = counters
        self.log = log
        self.stdin = stdin
        self.accumulators = accumulators
        self.events = events
        self.restore = restore
    }

    var global: GlobalConfig { config.global }
    var name: String { plugin.name }

    func error(_ key: String?, _ reason: String) -> ConfigError { plugin.error(key, reason) }

    /// `path` against the config's folder.
    func resolve(_ path: String) -> String { PipelineConfig.resolve(path, against: config.directory) }

    /// A state file under base_dir: `base_dir/FOLDER/FILE`.
    func statePath(_ folder: String, _ file: String) -> String {
        Path.join(Path.join(global.baseDir, folder), file)
    }

    /// Where a filter's globals are kept between runs.
    var preservationPath: String { statePath("sandbox_preservation", "\(name).data") }

    /// A context for a section this plugin refers to (its decoder, splitter or encoder),
    /// sharing what is found.
    private func child(_ p: PluginConfig) -> BuildContext {
        let c = BuildContext(plugin: p, config: config, router: router, counters: counters, log: log, stdin: stdin,
                             accumulators: accumulators, events: events)
        c.restored = restored
        return c
    }

    private func section(_ name: String, _ key: String) throws(ConfigError) -> PluginConfig {
        guard let p = config.plugin(named: name) else { throw error(key, "no section named \"\(name)\"") }
        return p
    }

    /// The recipe of this plugin's sandbox and a first sandbox from it, with its preserved
    /// globals when `preserve_data` (or ``restore``) is set and a preservation file exists.
    func sandbox(_ kind: PluginKind, _ o: SandboxOptions) throws(ConfigError) -> (Sandbox, SandboxRecipe) {
        guard let script = plugin.script else { throw error("filename", "no script") }
        var modulePaths: [String] = []
        if let m = o.moduleDirectory { modulePaths.append(resolve(m)) }
        modulePaths.append(Path.join(global.sandboxDir, "modules"))
        if let share = global.shareDir { modulePaths.append(Path.join(share, "modules")) }
        // The bundled modules also when share_dir names another folder (Heka's, say).
        if let ours = global.bundledFallbackDir { modulePaths.append(Path.join(ours, "modules")) }
        var values: [String: ConfigValue] = [:]
        for (k, v) in o.config.entries {
            values[k] = ConfigValue(v)  // dates and times are refused by SandboxOptions.validate
        }
        let limits = SandboxLimits(memory: o.memoryLimit, instructions: UInt64(max(0, o.instructionLimit)),
                                   output: min(o.outputLimit, global.maxMessageSize), maxProcessDuration: global.maxProcessDuration)
        let recipe = SandboxRecipe(kind: kind, name: name, script: script, limits: limits, config: values, modulePaths: modulePaths,
                                   hostname: global.hostname)
        let sb: Sandbox
        do {
            sb = try recipe.make()
        } catch {
            throw self.error("filename", error.reason)
        }
        modules.formUnion(sb.loadedModules)
        // The committed checkpoint's snapshot first (it matches the inputs' positions),
        // else the file of the last clean stop.
        let snapshot = kind == .filter && o.preserveData ? restored?.snapshots[name] : nil
        if restore || o.preserveData, let data = snapshot ?? FileSystem.contents(preservationPath) {
            do {
                if try !sb.restore(data) { log.info(name, "_PRESERVATION_VERSION changed: starting without the preserved data") }
            } catch {
                log.error(name, "preserved data not restored: \(error.message)")
            }
        }
        return (sb, recipe)
    }

    /// The decoder an input names (nil: the record becomes the Payload).
    func decoder(named name: String?, input: String) throws(ConfigError) -> any RecordDecoder {
        guard let name else { return PayloadRecordDecoder(inputName: input, hostname: global.hostname) }
        let p = try section(name, "decoder")
        guard case .decoder(let make) = p.build else { throw error("decoder", "\"\(name)\" is a \(p.type.category.rawValue), not a decoder") }
        let c = child(p)
        let d = try make(c, input)
        modules.formUnion(c.modules)
        decoder = d as? SandboxDecoder
        return d
    }

    /// The splitter factory an input names, or `fallback` without one.
    func splitter(named name: String?, fallback: @escaping SplitterFactory) throws(ConfigError) -> SplitterFactory {
        guard let name else { return fallback }
        let p = try section(name, "splitter")
        guard case .splitter(let make) = p.build else { throw error("splitter", "\"\(name)\" is a \(p.type.category.rawValue), not a splitter") }
        return make(global.maxMessageSize)
    }

    /// The encoder an output names (nil: none named).
    func encoder(named name: String?) throws(ConfigError) -> (any MessageEncoder)? {
        guard let name else { return nil }
        let p = try section(name, "encoder")
        guard case .encoder(let make) = p.build else { throw error("encoder", "\"\(name)\" is a \(p.type.category.rawValue), not an encoder") }
        let c = child(p)
        let e = try make(c)
        modules.formUnion(c.modules)
        return e
    }

    /// `decoder_workers` instances of the decoder an input names (stateless decoders:
    /// each has its own globals). A SandboxDecoder's first instance leads its hot reloads.
    func decoders(named name: String?, input: String, count: Int) throws(ConfigError) -> [any RecordDecoder] {
        var all = [try decoder(named: name, input: input)]
        let lead = decoder
        for _ in 1..<max(1, count) { all.append(try decoder(named: name, input: input)) }
        decoder = lead
        lead?.followers = all.dropFirst().compactMap { $0 as? SandboxDecoder }
        return all
    }

    /// The record handler of an input with these options.
    func records(_ o: InputOptions, decoder: any RecordDecoder, delivery: Delivery = .block) throws(ConfigError) -> RecordHandler {
        try records(o, decoders: [decoder], delivery: delivery)
    }

    /// The record handler of an input whose records `decoders` share (one per decode
    /// thread); `delivery` is the type's default data class (`delivery` overrides it).
    func records(_ o: InputOptions, decoders: [any RecordDecoder], delivery: Delivery = .block) throws(ConfigError) -> RecordHandler {
        let h = RecordHandler(inputName: name, decoders: decoders, router: router, counters: counters, log: log,
                              sendDecodeFailures: o.sendDecodeFailures, logDecodeFailures: o.logDecodeFailures)
        h.delivery = o.delivery.flatMap(Delivery.init(rawValue:)) ?? delivery
        if h.delivery == .disk { h.queue = try durableQueue() }
        return h
    }

    /// The durable queue, opened by the first `disk` input.
    func durableQueue() throws(ConfigError) -> DurableQueue {
        do throws(DurableLogError) {
            return try router.openDurable(global, log: log)
        } catch {
            throw self.error("delivery", "cannot open the durable queue: \(error)")
        }
    }

    /// A new reader for this plugin.
    func addReader(_ o: ReaderOptions) -> RouterReader {
        let r = router.addReader(name: name, buffering: o.buffering.buffering, matcher: o.messageMatcher.readerMatch)
        router.condition.withLock { r.monitor = counters }
        return r
    }
}

/// Where plugins report reload events (the registry logs them, keeps the status and emits
/// `luapiped.reload` messages). `from`: the reader of the filter it concerns, so the message
/// is not delivered back to it.
typealias ReloadEventSink = @Sendable (ReloadEvent, RouterReader?) -> Void

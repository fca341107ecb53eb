#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Building plugins from their checked sections: at start-up and again on every reload
/// (a new version is built beside the running one, so a failure leaves that one alone).
extension Pipeline {
    /// What building one plugin found: the problems, and the modules its sandboxes required
    /// (a changed module reloads the plugins that use it).
    struct BuildNotes {
        var errors: [ConfigError] = []
        var modules: Set<String> = []
        /// An input's own SandboxDecoder (not inside a MultiDecoder): swapped in place on reload.
        var decoder: SandboxDecoder?
    }

    static func preservationPath(baseDir: String, name: String) -> String {
        ((baseDir as NSString).appendingPathComponent("sandbox_preservation") as NSString).appendingPathComponent("\(name).data")
    }

    func preservationPath(_ name: String) -> String { Self.preservationPath(baseDir: config.global.baseDir, name: name) }

    /// A loaded sandbox for `p`, with its preserved globals when `restore` (or
    /// `preserve_data`) is set and a preservation file exists.
    func makeSandbox(_ p: PluginConfig, kind: PluginKind, in config: PipelineConfig, notes: inout BuildNotes, restore: Bool = false) -> Sandbox? {
        let g = config.global
        guard let script = p.script else { return nil }
        guard let code = FileManager.default.contents(atPath: script) else {
            notes.errors.append(p.error("filename", "cannot read \(script)"))
            return nil
        }
        let o = p.options
        let limits = SandboxLimits(memory: Int(o.integer("memory_limit")!), instructions: UInt64(max(0, o.integer("instruction_limit")!)),
                                   output: min(Int(o.integer("output_limit")!), g.maxMessageSize), maxProcessDuration: g.maxProcessDuration)
        var modules: [String] = []
        if let m = o.string("module_directory") { modules.append(PipelineConfig.resolve(m, against: config.directory)) }
        modules.append((g.sandboxDir as NSString).appendingPathComponent("modules"))
        if let share = g.shareDir { modules.append((share as NSString).appendingPathComponent("modules")) }
        var values: [String: ConfigValue] = [:]
        for (k, v) in o.table("config") ?? [] {
            switch v {
            case .string(let s): values[k] = .string(s)
            case .integer(let i): values[k] = .integer(i)
            case .double(let d): values[k] = .double(d)
            case .bool(let b): values[k] = .bool(b)
            default:
                notes.errors.append(p.error("config.\(k)", "read_config values must be strings, numbers or booleans"))
                return nil
            }
        }
        let sb = Sandbox(kind: kind, name: p.name, limits: limits, config: values, modulePaths: modules, hostname: g.hostname)
        do {
            try sb.load(script: code, chunkName: (script as NSString).lastPathComponent)
        } catch {
            notes.errors.append(p.error("filename", "\(script): \(error.message)"))
            return nil
        }
        notes.modules.formUnion(sb.loadedModules)
        if restore || o.bool("preserve_data") == true, let data = FileManager.default.contents(atPath: preservationPath(p.name)) {
            do {
                if try !sb.restore(Array(data)) { log.info(p.name, "_PRESERVATION_VERSION changed: starting without the preserved data") }
            } catch {
                log.error(p.name, "preserved data not restored: \(error.message)")
            }
        }
        return sb
    }

    func makeDecoder(_ name: String?, input: String, in config: PipelineConfig, notes: inout BuildNotes) -> (any RecordDecoder)? {
        // (MultiDecoders do not nest: checked with the config, so this recursion ends.)
        guard let name else { return PayloadRecordDecoder(inputName: input, hostname: config.global.hostname) }
        guard let p = config.plugin(named: name) else { return nil }
        switch p.type.name {
        case "ProtobufDecoder": return ProtobufDecoder()
        case "MultiDecoder":
            var subs: [(name: String, decoder: any RecordDecoder)] = []
            for sub in p.options.strings("subs") ?? [] {
                guard let d = makeDecoder(sub, input: input, in: config, notes: &notes) else { return nil }
                subs.append((sub, d))
            }
            return MultiDecoder(name: p.name, subs: subs, logSubErrors: p.options.bool("log_sub_errors")!, log: log)
        case "SandboxDecoder":
            guard let sb = makeSandbox(p, kind: .decoder, in: config, notes: &notes) else { return nil }
            return SandboxDecoder(sandbox: sb, inputName: input, rebuild: { [unowned self] in
                var n = BuildNotes()
                return makeSandbox(p, kind: .decoder, in: config, notes: &n)
            })
        default: return nil
        }
    }

    func makeEncoder(_ p: PluginConfig, in config: PipelineConfig, notes: inout BuildNotes) -> (any MessageEncoder)? {
        switch p.type.name {
        case "PayloadEncoder": return PayloadEncoder(appendNewlines: p.options.bool("append_newlines")!, prefixTimestamp: p.options.bool("prefix_ts")!)
        case "ProtobufEncoder": return ProtobufEncoder()
        case "JsonEncoder": return JsonEncoder()
        case "SandboxEncoder": return makeSandbox(p, kind: .encoder, in: config, notes: &notes).map { SandboxEncoder(sandbox: $0) }
        default: return nil
        }
    }

    static func matcher(_ p: PluginConfig) -> @Sendable (MessageView) -> Bool {
        let matcher = try! MessageMatcher(p.options.string("message_matcher")!)  // checked at load
        return { matcher.matches($0) }
    }

    static func buffering(_ p: PluginConfig) -> Buffering {
        let b = p.options.options("buffering")
        return Buffering(maxBufferSize: Int(b?.integer("max_buffer_size") ?? Int64(Buffering.defaultMaxBufferSize)),
                         fullAction: FullAction(rawValue: b?.string("full_action") ?? "block") ?? .block)
    }

    static func statAccumOptions(_ p: PluginConfig?) -> StatAccumulator.Options {
        var o = StatAccumulator.Options()
        guard let v = p?.options else { return o }
        o.tickerInterval = v.double("ticker_interval")!
        o.percentThreshold = Int(v.integer("percent_threshold")!)
        o.emitInPayload = v.bool("emit_in_payload")!
        o.emitInFields = v.bool("emit_in_fields")!
        o.deleteIdleStats = v.bool("delete_idle_stats")!
        o.legacyNamespaces = v.bool("legacy_namespaces")!
        o.globalPrefix = v.string("global_prefix")!
        o.counterPrefix = v.string("counter_prefix")!
        o.timerPrefix = v.string("timer_prefix")!
        o.gaugePrefix = v.string("gauge_prefix")!
        o.setPrefix = v.string("set_prefix")!
        o.statsdPrefix = v.string("statsd_prefix")!
        o.messageType = v.string("message_type")!
        o.maxStats = Int(v.integer("max_stats")!)
        o.maxTimerSamples = Int(v.integer("max_timer_samples")!)
        return o
    }

    /// The accumulator of a StatAccumInput section, shared by its StatsdInputs and kept
    /// across reloads (its options follow the section); nil when no such section exists.
    func sharedAccumulator(_ name: String, in config: PipelineConfig) -> StatAccumulator? {
        guard let section = config.plugin(named: name), section.type.name == "StatAccumInput" else { return nil }
        let options = Self.statAccumOptions(section)
        return registry.withLock { _ in
            if let a = accumulators[name] {
                a.options = options
                return a
            }
            let a = StatAccumulator(name: name, options: options)
            accumulators[name] = a
            return a
        }
    }

    func makeInput(_ p: PluginConfig, in config: PipelineConfig, counters c: PluginCounters, notes: inout BuildNotes) -> (any PipelineInput)? {
        let g = config.global
        switch p.type.name {
        case "StatAccumInput":
            return StatAccumInput(name: p.name, accumulator: sharedAccumulator(p.name, in: config)!, router: router, counters: c, hostname: g.hostname)
        case "StatsdInput":
            let accName = p.options.string("stat_accum_name")!
            let shared = sharedAccumulator(accName, in: config)
            return StatsdInput(name: p.name, address: p.options.string("address")!, maxMessageSize: Int(p.options.integer("max_msg_size")!),
                               receiveBufferBytes: p.options.integer("receive_buffer_bytes").map { Int($0) },
                               accumulator: shared ?? StatAccumulator(name: p.name, options: StatAccumulator.Options()),
                               ownsAccumulator: shared == nil, router: router, counters: c, log: log, hostname: g.hostname)
        default:
            break
        }
        let splitterConfig = p.options.string("splitter").flatMap({ config.plugin(named: $0) })
        let maxSize = g.maxMessageSize
        let isTcp = p.type.name == "TcpInput"
        if let s = splitterConfig, s.type.name == "RegexSplitter" {
            do {
                _ = try RegexSplitter(pattern: s.options.string("delimiter")!, maxRecordSize: maxSize, keepTruncated: false)
            } catch {
                notes.errors.append(s.error("delimiter", error.reason))
                return nil
            }
        }
        let makeSplitter: () -> any Splitter = {
            switch splitterConfig {
            case nil where isTcp: return HekaFramingSplitter(maxMessageSize: maxSize)
            case let s? where s.type.name == "HekaFramingSplitter": return HekaFramingSplitter(maxMessageSize: maxSize)
            case let s? where s.type.name == "NullSplitter": return NullSplitter()
            case let s? where s.type.name == "RegexSplitter":
                // Compiled once above, so this cannot fail here.
                return try! RegexSplitter(pattern: s.options.string("delimiter")!, delimiterAtEnd: s.options.bool("delimiter_eol")!,
                                          maxRecordSize: maxSize, keepTruncated: s.options.bool("keep_truncated")!)
            case let s?:
                return TokenSplitter(delimiter: s.options.string("delimiter")!.utf8.first ?? 0x0A,
                                     deliverIncompleteFinal: s.options.bool("deliver_incomplete_final")!,
                                     maxRecordSize: maxSize, keepTruncated: s.options.bool("keep_truncated")!)
            case nil: return TokenSplitter(maxRecordSize: maxSize)
            }
        }
        let decoderMade: (any RecordDecoder)? = isTcp && p.options.string("decoder") == nil
            ? ProtobufDecoder() : makeDecoder(p.options.string("decoder"), input: p.name, in: config, notes: &notes)
        guard let decoder = decoderMade else { return nil }
        notes.decoder = decoder as? SandboxDecoder
        let records = RecordHandler(inputName: p.name, decoder: decoder, router: router, counters: c, log: log,
                                    sendDecodeFailures: p.options.bool("send_decode_failures")!,
                                    logDecodeFailures: p.options.bool("log_decode_failures")!)
        let o = p.options
        switch p.type.name {
        case "LogstreamerInput":
            let regex: FileMatch
            do {
                regex = try FileMatch(pattern: o.string("file_match")!, differentiator: o.strings("differentiator") ?? [],
                                      priority: o.strings("priority") ?? [])
            } catch {
                notes.errors.append(p.error("file_match", error.reason))
                return nil
            }
            let journals = o.string("journal_directory").map { PipelineConfig.resolve($0, against: config.directory) }
                ?? ((g.baseDir as NSString).appendingPathComponent("logstreamer") as NSString).appendingPathComponent(p.name)
            return LogstreamerInput(
                name: p.name, directory: PipelineConfig.resolve(o.string("log_directory")!, against: config.directory),
                fileMatch: regex, rescanInterval: o.double("rescan_interval")!, oldestDuration: o.double("oldest_duration")!,
                initialTail: o.bool("initial_tail")!, journalDirectory: journals, records: records, log: log,
                makeSplitter: makeSplitter)
        case "UdpInput":
            return UdpInput(name: p.name, address: o.string("address")!, maxMessageSize: g.maxMessageSize,
                            records: records, splitter: splitterConfig == nil ? NullSplitter() : makeSplitter(), log: log)
        case "TcpInput":
            let recent = ((g.baseDir as NSString).appendingPathComponent("tcp") as NSString).appendingPathComponent("\(p.name).uuids")
            return TcpInput(name: p.name, address: o.string("address")!, ack: o.bool("ack")!,
                            records: records, log: log, recentPath: recent, makeSplitter: makeSplitter)
        default:
            return StdinInput(fd: stdin, splitter: makeSplitter(), records: records)
        }
    }

    func filterSettings(_ p: PluginConfig, in config: PipelineConfig) -> FilterSettings {
        FilterSettings(
            tickerInterval: Double(p.options.integer("ticker_interval")!),
            preservePath: p.options.bool("preserve_data")! ? Self.preservationPath(baseDir: config.global.baseDir, name: p.name) : nil,
            retries: p.options.options("retries").map {
                RetryPolicy(delay: $0.double("delay")!, maxDelay: $0.double("max_delay")!, maxJitter: $0.double("max_jitter")!,
                            maxRetries: Int($0.integer("max_retries")!))
            } ?? .filterDefault,
            rebuild: { [unowned self] in
                var n = BuildNotes()
                return makeSandbox(p, kind: .filter, in: config, notes: &n)
            })
    }

    func makeFilter(_ p: PluginConfig, in config: PipelineConfig, counters c: PluginCounters, notes: inout BuildNotes,
                    restore: Bool = false) -> SandboxFilterRunner? {
        guard let sb = makeSandbox(p, kind: .filter, in: config, notes: &notes, restore: restore) else { return nil }
        let reader = router.addReader(name: p.name, buffering: Self.buffering(p), matcher: Self.matcher(p))
        let runner = SandboxFilterRunner(
            name: p.name, sandbox: sb, settings: filterSettings(p, in: config), reader: reader, router: router, counters: c, log: log,
            maxProcessInject: config.global.maxProcessInject, maxTimerInject: config.global.maxTimerInject,
            report: { [unowned self, reader] in self.record($0, from: reader) })
        runner.preservationBaseDir = config.global.baseDir
        return runner
    }

    /// An output; `reader` is given when a new version takes over a running one's cursor.
    func makeOutput(_ p: PluginConfig, in config: PipelineConfig, counters c: PluginCounters, notes: inout BuildNotes,
                    reader given: RouterReader? = nil) -> (any PipelineOutput)? {
        var configured: (any MessageEncoder)?
        if let e = p.options.string("encoder").flatMap({ config.plugin(named: $0) }) {
            guard let made = makeEncoder(e, in: config, notes: &notes) else { return nil }
            configured = made
        }
        if p.type.name == "SmtpOutput" && p.options.string("auth")!.lowercased() == "plain" && p.options.string("user") == nil {
            notes.errors.append(p.error("user", "auth = \"Plain\" needs a user (and a password)"))
            return nil
        }
        let o = p.options
        let reader = given ?? router.addReader(name: p.name, buffering: Self.buffering(p), matcher: Self.matcher(p))
        switch p.type.name {
        case "HttpOutput":
            var headers: [(String, String)] = []
            for (k, v) in o.table("headers") ?? [] { if case .string(let s) = v { headers.append((k, s)) } }
            return HttpOutputRunner(name: p.name, reader: reader, encoder: configured, url: o.string("address")!, method: o.string("method")!,
                                    headers: headers, username: o.string("username"), password: o.string("password"),
                                    timeout: Double(o.integer("http_timeout")!) / 1000, counters: c, log: log)
        case "SmtpOutput":
            let plain = o.string("auth")!.lowercased() == "plain"
            return SmtpOutputRunner(name: p.name, reader: reader, encoder: configured, host: o.string("host")!, from: o.string("send_from")!,
                                    to: o.strings("send_to")!, subject: o.string("subject")!, user: plain ? o.string("user") : nil,
                                    password: plain ? o.string("password") : nil, sendInterval: Double(o.integer("send_interval")!),
                                    counters: c, log: log, hostname: config.global.hostname)
        default:
            break
        }
        let encoder: any MessageEncoder = configured ?? (p.type.name == "TcpOutput" ? ProtobufEncoder() : JsonEncoder())
        if p.type.name == "TcpOutput" {
            return TcpOutputRunner(
                name: p.name, reader: reader, encoder: encoder, framing: p.options.bool("use_framing") ?? true,
                address: p.options.string("address")!, waitForAck: p.options.bool("wait_for_ack")!, counters: c, log: log)
        }
        let sink: any OutputSink
        if p.type.name == "FileOutput" {
            let perm = mode_t(p.options.string("perm")!, radix: 8) ?? 0o644
            sink = FileSink(path: PipelineConfig.resolve(p.options.string("path")!, against: config.directory), perm: perm)
        } else {
            sink = StdoutSink()
        }
        return OutputRunner(
            name: p.name, reader: reader, encoder: encoder, framing: p.options.bool("use_framing") ?? encoder.framesByDefault,
            sink: sink, counters: c, log: log, flushCount: Int(p.options.integer("flush_count") ?? 1),
            flushInterval: Double(p.options.integer("flush_interval") ?? 1000) / 1000)
    }

    /// An input's fingerprint without its SandboxDecoder (swapped in place), and that
    /// decoder's own.
    static func inputFingerprints(_ p: PluginConfig, in config: PipelineConfig) -> (own: String, decoder: String?) {
        guard let d = p.options.string("decoder").flatMap({ config.plugin(named: $0) }), d.type.name == "SandboxDecoder" else {
            return (fingerprint(p, in: config), nil)
        }
        return (fingerprint(p, in: config, skipping: ["decoder"]), fingerprint(d, in: config))
    }

    /// What identifies a plugin's version: its type, options, script text and those of the
    /// sections it refers to (decoder, splitter, encoder, subs). A change means a reload.
    static func fingerprint(_ p: PluginConfig, in config: PipelineConfig, depth: Int = 0, skipping: Set<String> = []) -> String {
        var s = p.type.name + "\n"
        for (k, v) in p.options.values.sorted(by: { $0.key < $1.key }) { s += "\(k)=\(v)\n" }
        if let script = p.script {
            s += FileManager.default.contents(atPath: script).map { String(decoding: $0, as: UTF8.self) } ?? "<unreadable>"
        }
        guard depth < 3 else { return s }
        var refs = ["decoder", "splitter", "encoder", "stat_accum_name"].filter { !skipping.contains($0) }.compactMap { p.options.string($0) }
        refs += p.options.strings("subs") ?? []
        for r in refs {
            if let q = config.plugin(named: r) { s += "\n[\(r)]\n" + fingerprint(q, in: config, depth: depth + 1) }
        }
        return s
    }
}

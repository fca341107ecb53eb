import FoundationEssentials
import Glibc

/// The global section, `[luapiped]` (Heka's `[hekad]` is accepted).
public struct GlobalConfig: Sendable {
    public var baseDir: String
    public var shareDir: String?
    /// The bundled `lua/` folder when `share_dir` names another (Heka's `/usr/share/heka`):
    /// Heka's `lua_*` script names and `require` fall back to it. Nil otherwise.
    public var bundledFallbackDir: String?
    public var sandboxDir: String
    public var maxMessageSize: Int
    public var hostname: String
    public var maxMessageLoops: Int
    public var maxProcessInject: Int
    public var maxTimerInject: Int
    public var maxProcessDuration: Double
    public var sandboxWorkers: Int
    /// How the drop-in directory is watched: `inotify` (falls back to polling), `poll`, `off`.
    public var sandboxDirWatch: String
    public var sandboxDirPollInterval: Double
    /// How long the directory must stay quiet before a change is applied (editors write
    /// a file in several steps).
    public var sandboxDirDebounce: Double
    /// Longest a stop waits for plugins to drain.
    public var shutdownTimeout: Double
    /// Seconds between consistent checkpoints (0: none; state is saved at a clean stop only).
    public var checkpointInterval: Double
    /// Bytes the durable queue of `disk` messages may hold on disk (past it, `disk` inputs
    /// stop acknowledging).
    public var maxQueueSize: Int = 1 << 30
    /// When a `disk` message is acknowledged: after write(2) or after fdatasync.
    public var queueSync: DurableLog.Sync = .write
    /// host:port of the admin HTTP server (`/health`, `/metrics`); empty: off.
    public var adminAddress = ""
    /// How long a termination keeps `/health` unhealthy (0: the present state only).
    public var healthWindow: Double = 60
    /// Seconds between `heka.all-report` messages (0: none).
    public var reportInterval: Double = 60
}

/// One plugin section, checked: its typed options, and its type's builder with them bound.
public struct PluginConfig: Sendable {
    public let name: String
    public let type: PluginType
    public let options: any PluginOptions
    /// The section's keys as written (its fingerprint: a change means a new version).
    let table: [(key: String, value: ConfigNode)]
    let build: PluginBuild
    public let file: String
    public let line: Int?
    /// A sandbox plugin's script, resolved to a path that exists.
    public let script: String?
    /// Found in the drop-in directory: a script that does not load is reported and
    /// skipped, not fatal.
    public var dropIn = false

    func error(_ key: String?, _ reason: String) -> ConfigError {
        ConfigError(file: file, section: name, key: key, line: line, reason)
    }
}

/// One config file's text.
public struct ConfigSource: Sendable {
    public let file: String
    public let text: String
}

/// A whole configuration: the global section and every plugin, in file order.
public struct PipelineConfig: Sendable {
    public var global: GlobalConfig
    public var plugins: [PluginConfig]
    /// The folder relative paths resolve against.
    public var directory: String
    /// Drop-in plugins that could not be loaded (reported; the rest of the pipeline runs).
    public var dropInErrors: [ConfigError] = []
    /// The config texts this was parsed from (a drop-in change re-parses them; SIGHUP reads
    /// the files again).
    public var sources: [ConfigSource] = []
    /// The file or directory given with `-c` (nil: the embedded default).
    public var path: String?
    /// `--sandbox-dir`, which wins over the config's `sandbox_dir`.
    public var sandboxDirOverride: String?
    var environment: [String: String] = [:]

    public func plugins(_ category: PluginCategory) -> [PluginConfig] {
        plugins.filter { $0.type.category == category }
    }

    public func plugin(named name: String) -> PluginConfig? {
        plugins.first { $0.name == name }
    }

    /// Loads a file, or every `*.toml` of a directory in name order (Heka's `-c DIR`).
    /// `%ENV[VAR]` is replaced by the environment variable VAR before parsing.
    /// - Throws: ``ConfigErrors`` listing every problem found.
    public static func load(path: String, environment: [String: String] = ProcessFacts.environment(),
                            sandboxDir: String? = nil) throws(ConfigErrors) -> PipelineConfig {
        guard FileSystem.exists(path) else {
            throw ConfigErrors(errors: [ConfigError(file: path, "no such file or directory")])
        }
        var files: [String] = []
        let isDir = Path.isDirectory(path)
        if isDir {
            let names = FileSystem.contentsOfDirectory(path) ?? []
            files = names.filter { $0.hasSuffix(".toml") }.sorted().map { Path.join(path, $0) }
            if files.isEmpty { throw ConfigErrors(errors: [ConfigError(file: path, "no *.toml files in this directory")]) }
        } else {
            files = [path]
        }
        var sources: [(file: String, text: String)] = []
        for f in files {
            guard var data = FileSystem.contents(f) else {
                throw ConfigErrors(errors: [ConfigError(file: f, "cannot read the file")])
            }
            if data.starts(with: [0xEF, 0xBB, 0xBF]) { data.removeFirst(3) }  // a byte-order mark
            guard let text = String(validating: data, as: UTF8.self) else {
                throw ConfigErrors(errors: [ConfigError(file: f, "not UTF-8 text")])
            }
            sources.append((f, text))
        }
        let dir = isDir ? path : Path.parent(path)
        var config = try parse(sources: sources, directory: dir.isEmpty ? "." : dir, environment: environment, sandboxDir: sandboxDir)
        config.path = path
        return config
    }

    /// Parses configuration texts (the embedded default, tests).
    public static func parse(sources: [(file: String, text: String)], directory: String,
                             environment: [String: String] = ProcessFacts.environment(),
                             sandboxDir: String? = nil) throws(ConfigErrors) -> PipelineConfig {
        var errors: [ConfigError] = []
        var globalTable: [(key: String, value: ConfigNode)] = []
        var globalFile = sources.first?.file ?? "config"
        var globalOrder: TOMLKeyOrder?
        var sections: [(name: String, table: [(key: String, value: ConfigNode)], file: String, order: TOMLKeyOrder)] = []
        for (file, raw) in sources {
            let text = substituteEnvironment(raw, environment)
            let order = TOMLKeyOrder(text)
            let root: ConfigNode
            do {
                root = try ConfigNode.parse(toml: text, file: file)
            } catch {
                errors.append(error)
                continue
            }
            guard case .table(let top) = root else { continue }
            for (name, value) in top {
                guard case .table(let table) = value else {
                    errors.append(ConfigError(file: file, key: name, line: order.line([name]), "top-level keys must be inside a section"))
                    continue
                }
                if name == "luapiped" || name == "hekad" {
                    globalTable += table
                    globalFile = file
                    globalOrder = order
                } else if let prior = sections.first(where: { $0.name == name }) {
                    errors.append(ConfigError(file: file, section: name, line: order.line([name]), "defined again (first in \(prior.file))"))
                } else {
                    sections.append((name, table, file, order))
                }
            }
        }
        let globalAt = OptionLocation(file: globalFile, section: "luapiped", line: { [globalOrder] in
            globalOrder?.line(["luapiped"] + $0) ?? globalOrder?.line(["hekad"] + $0)
        })
        let (g, globalErrors) = GlobalOptions.resolve(globalTable, at: globalAt)
        errors += globalErrors
        let global = g.resolved(directory: directory, sandboxDir: sandboxDir)

        var plugins: [PluginConfig] = []
        for s in sections {
            let typeName: String
            if case .string(let t)? = s.table.first(where: { $0.key == "type" })?.value { typeName = t } else { typeName = s.name }
            guard let type = PluginCatalog.types[typeName] else {
                errors.append(ConfigError(file: s.file, section: s.name, key: "type", line: s.order.line([s.name, "type"]) ?? s.order.line([s.name]),
                                          "unknown plugin type \"\(typeName)\" (known: \(PluginCatalog.types.keys.sorted().joined(separator: ", ")))"))
                continue
            }
            let order = s.order, name = s.name
            let at = OptionLocation(file: s.file, section: s.name, sectionLine: order.line([name]), line: { order.line([name] + $0) })
            let (options, build, optionErrors) = type.resolve(s.table, at)
            errors += optionErrors
            var script: String?
            if let filename = options.sandboxOptions?.filename, !filename.isEmpty {
                let bundled = hekaBundledAlias(filename)
                var candidates = [resolve(filename, against: directory)] + (global.shareDir.map { [resolve(bundled, against: $0)] } ?? [])
                // A Heka config keeps Heka's share_dir; its lua_* names still mean the bundled scripts.
                if bundled != filename, let ours = global.bundledFallbackDir { candidates.append(resolve(bundled, against: ours)) }
                script = candidates.first { FileSystem.exists($0) }
                if script == nil {
                    var reason = "script not found (looked at \(candidates.joined(separator: ", ")))"
                    if global.shareDir == nil {
                        reason += "; no bundled lua/ folder was found either (looked at \(ModuleSearchPath.bundledLuaCandidates().joined(separator: ", "))): "
                            + "set share_dir in [luapiped] or LUAPIPED_LUA_DIR to the folder holding decoders/, filters/ and modules/"
                    }
                    errors.append(at.error("filename", reason))
                }
            }
            plugins.append(PluginConfig(name: s.name, type: type, options: options, table: s.table.filter { $0.key != "type" }, build: build,
                                        file: s.file, line: order.line([name]), script: script))
        }
        let (dropIns, dropInErrors) = DropInDirectory.load(global.sandboxDir, taken: Set(plugins.map(\.name)), global: global)
        plugins += dropIns
        plugins += implicitSections(referencedBy: plugins)
        errors += crossCheck(plugins)
        if !errors.isEmpty { throw ConfigErrors(errors: errors) }
        var config = PipelineConfig(global: global, plugins: plugins, directory: directory)
        config.dropInErrors = dropInErrors
        config.sources = sources.map { ConfigSource(file: $0.file, text: $0.text) }
        config.sandboxDirOverride = sandboxDir
        config.environment = environment
        return config
    }

    /// The same config texts parsed again: picks up what changed in the drop-in directory.
    public func reparsed() throws(ConfigErrors) -> PipelineConfig {
        var c = try Self.parse(sources: sources.map { ($0.file, $0.text) }, directory: directory, environment: environment, sandboxDir: sandboxDirOverride)
        c.path = path
        return c
    }

    /// The config files read again (SIGHUP); the embedded default is only re-parsed.
    public func reread() throws(ConfigErrors) -> PipelineConfig {
        guard let path else { return try reparsed() }
        return try Self.load(path: path, environment: ProcessFacts.environment(), sandboxDir: sandboxDirOverride)
    }

    /// Heka's names for its bundled script folders (`lua_decoders/rsyslog.lua`), as the
    /// bundled folders under share_dir (`decoders/rsyslog.lua`).
    static func hekaBundledAlias(_ filename: String) -> String {
        for (heka, ours) in [("lua_decoders/", "decoders/"), ("lua_filters/", "filters/"), ("lua_encoders/", "encoders/"), ("lua_modules/", "modules/")]
        where filename.hasPrefix(heka) {
            return ours + filename.dropFirst(heka.count)
        }
        return filename
    }

    /// The stock splitters, decoders and encoders Heka registers without a section: a
    /// config may name them (`splitter = "TokenSplitter"`) and gets their defaults.
    static let implicitTypes: Set<String> = Set([
        TokenSplitter.plugin, HekaFramingSplitter.plugin, NullSplitter.plugin, ProtobufDecoder.plugin, ProtobufEncoder.plugin,
        PayloadEncoder.plugin, JsonEncoder.plugin,
    ].map(\.name))

    /// A section with its type's defaults for each stock type named but not defined.
    private static func implicitSections(referencedBy plugins: [PluginConfig]) -> [PluginConfig] {
        let defined = Set(plugins.map(\.name))
        var made: [PluginConfig] = []
        for p in plugins {
            for name in p.options.references {
                guard !defined.contains(name), implicitTypes.contains(name), !made.contains(where: { $0.name == name }),
                      let type = PluginCatalog.types[name] else { continue }
                let at = OptionLocation(file: p.file, section: name, sectionLine: nil, line: { _ in nil })
                let (options, build, _) = type.resolve([], at)
                made.append(PluginConfig(name: name, type: type, options: options, table: [], build: build, file: p.file, line: nil, script: nil))
            }
        }
        return made
    }

    /// References between sections (each option was checked with its type).
    private static func crossCheck(_ plugins: [PluginConfig]) -> [ConfigError] {
        var errors: [ConfigError] = []
        let byName = Dictionary(plugins.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for p in plugins {
            for (key, category) in [("decoder", PluginCategory.decoder), ("splitter", .splitter), ("encoder", .encoder)] {
                guard case .string(let name)? = p.table.first(where: { $0.key == key })?.value else { continue }
                if let target = byName[name] {
                    if target.type.category != category {
                        errors.append(p.error(key, "\"\(name)\" is a \(target.type.category.rawValue), not a \(category.rawValue)"))
                    }
                } else {
                    errors.append(p.error(key, "no section named \"\(name)\""))
                }
            }
            errors += p.options.checkReferences { byName[$0] }.map { p.error($0.key, $0.reason) }
        }
        return errors
    }

    /// Heka's `%ENV[VAR]`: replaced by the variable's value (empty when unset).
    static func substituteEnvironment(_ text: String, _ env: [String: String]) -> String {
        // Searched byte by byte: String's `firstRange(of:)` would bring in the regex
        // engine's code at every start (docs/performance.md).
        let bytes = Array(text.utf8)
        let marker = Array("%ENV[".utf8)
        func find(_ from: Int) -> Int? {
            var i = from
            while i + marker.count <= bytes.count {
                if bytes[i] == marker[0] && bytes[i..<(i + marker.count)].elementsEqual(marker) { return i }
                i += 1
            }
            return nil
        }
        guard find(0) != nil else { return text }
        var out: [UInt8] = []
        var rest = 0  // copied up to here
        while let at = find(rest) {
            out += bytes[rest..<at]
            rest = at
            let name = at + marker.count
            guard let close = bytes[name...].firstIndex(of: UInt8(ascii: "]")) else { break }  // kept as written
            out += (env[String(decoding: bytes[name..<close], as: UTF8.self)] ?? "").utf8
            rest = close + 1
        }
        out += bytes[rest...]
        return String(decoding: out, as: UTF8.self)
    }

    static func resolve(_ path: String, against dir: String) -> String {
        path.hasPrefix("/") ? path : Path.join(dir, path)
    }
}

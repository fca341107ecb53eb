import FoundationEssentials
import Glibc

/// The drop-in script directory (`sandbox_dir`, default `lua.d` beside the config):
/// `decoders/`, `filters/`, `encoders/` hold plugins, `modules/` what they require.
///
/// A plugin is `NAME.lua` with an optional `NAME.toml` beside it: the plugin's settings as
/// top-level keys plus an optional `[config]` table; its type comes from its folder and its
/// name is the file stem. Without a .toml a filter receives every message
/// (`message_matcher = "TRUE"`) and everything else takes its type's defaults.
/// `NAME.off` beside the script disables it. A plugin that clashes with a config section or
/// another folder's plugin, or whose .toml is broken, is reported and not loaded; the rest
/// of the pipeline starts.
///
/// Read again on every change (``SandboxDirWatcher``) and on SIGHUP; the running pipeline
/// then applies the differences (`Reload/PipelineReload.swift`). Names starting with a dot
/// (editors' swap and lock files) are ignored.
enum DropInDirectory {
    static let folders: [(name: String, type: PluginType)] = [
        ("decoders", SandboxDecoder.plugin), ("filters", SandboxFilterRunner.plugin), ("encoders", SandboxEncoder.plugin),
    ]

    /// The plugins found, and the problems of those that could not be loaded.
    static func load(_ dir: String, taken: Set<String>, global: GlobalConfig) -> ([PluginConfig], [ConfigError]) {
        var plugins: [PluginConfig] = []
        var errors: [ConfigError] = []
        var names = taken
        for (folder, type) in folders {
            let path = Path.join(dir, folder)
            guard let entries = FileSystem.contentsOfDirectory(path) else { continue }
            for entry in entries.sorted() where entry.hasSuffix(".lua") && !entry.hasPrefix(".") {
                let name = String(entry.dropLast(4))
                let script = Path.join(path, entry)
                let base = Path.join(path, name)
                if FileSystem.exists(base + ".off") { continue }
                guard !names.contains(name) else {
                    errors.append(ConfigError(file: script, section: name, "the name is taken by a config section or another drop-in plugin; not loaded"))
                    continue
                }
                var table: [(key: String, value: ConfigNode)] = []
                var order = TOMLKeyOrder("")
                let tomlPath = base + ".toml"
                if let data = FileSystem.contents(tomlPath) {
                    let text = String(decoding: data, as: UTF8.self)
                    order = TOMLKeyOrder(text)
                    do {
                        if case .table(let kv) = try ConfigNode.parse(toml: text, file: tomlPath) { table = kv }
                    } catch {
                        errors.append(error)
                        continue
                    }
                }
                if type.category == .filter && !table.contains(where: { $0.key == "message_matcher" }) {
                    table.append(("message_matcher", .string("TRUE")))
                }
                if table.contains(where: { $0.key == "filename" }) {
                    errors.append(ConfigError(file: tomlPath, section: name, key: "filename", "a drop-in plugin's script is NAME.lua beside it"))
                    continue
                }
                table.append(("filename", .string(script)))
                let at = OptionLocation(file: tomlPath, section: name, line: { [order] in order.line($0) })
                let (options, build, optionErrors) = type.resolve(table, at)
                if !optionErrors.isEmpty {
                    errors += optionErrors
                    continue
                }
                names.insert(name)
                var plugin = PluginConfig(name: name, type: type, options: options, table: table, build: build, file: script, line: nil, script: script)
                plugin.dropIn = true
                plugins.append(plugin)
            }
        }
        return (plugins, errors)
    }
}

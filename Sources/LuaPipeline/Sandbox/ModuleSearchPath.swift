import FoundationEssentials
import Glibc

/// Where `require` looks for Lua modules, and where the bundled `lua/` tree is.
public enum ModuleSearchPath {
    /// The bundled `lua/` directory: `$LUAPIPED_LUA_DIR` when set, else the first `lua/`
    /// holding `modules/` found walking up from the executable (a source checkout's
    /// `.build/release/luapiped` finds the checkout's `lua/`), else
    /// `/usr/share/luapiped/lua`.
    public static func bundledLuaDirectory() -> String? {
        bundledLuaCandidates().first { FileManager.default.fileExists(atPath: Path.join($0, "modules")) }
    }

    /// Where the bundled `lua/` folder is looked for, in order: `LUAPIPED_LUA_DIR`; beside
    /// the executable (found through /proc/self/exe, so a binary run from PATH or copied
    /// elsewhere finds its own); `../share/luapiped/lua` from it (an install prefix); the
    /// folders above it (the source tree, for `.build/*/luapiped`); /usr/share/luapiped/lua.
    public static func bundledLuaCandidates() -> [String] {
        var found: [String] = []
        if let env = ProcessInfo.processInfo.environment["LUAPIPED_LUA_DIR"], !env.isEmpty { found.append(env) }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().path
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        found.append(dir.appendingPathComponent("lua").path)
        found.append(dir.deletingLastPathComponent().appendingPathComponent("share/luapiped/lua").path)
        for _ in 0..<5 {
            dir = dir.deletingLastPathComponent()
            found.append(dir.appendingPathComponent("lua").path)
        }
        found.append("/usr/share/luapiped/lua")
        var seen = Set<String>()
        return found.filter { seen.insert($0).inserted }
    }

    /// The search order of `luapiped test`: each `extra` directory, the `modules/`
    /// folder beside the script, the sandbox directory's `modules/` (for a script in
    /// `filters/`, `decoders/` or `encoders/`), then the bundled `lua/modules/`.
    public static func forScript(at scriptPath: String, extra: [String]) -> [String] {
        let script = URL(fileURLWithPath: scriptPath)
        let dir = script.deletingLastPathComponent()
        var paths = extra
        paths.append(dir.appendingPathComponent("modules").path)
        if ["filters", "decoders", "encoders"].contains(dir.lastPathComponent) {
            paths.append(dir.deletingLastPathComponent().appendingPathComponent("modules").path)
        }
        if let bundled = bundledLuaDirectory() { paths.append(bundled + "/modules") }
        var seen = Set<String>()
        return paths.filter { seen.insert($0).inserted }
    }

    /// The plugin kind a script's folder implies (`decoders/`, `filters/`, `encoders/`).
    public static func kind(forScript path: String) -> PluginKind? {
        switch URL(fileURLWithPath: path).deletingLastPathComponent().lastPathComponent {
        case "decoders": .decoder
        case "filters": .filter
        case "encoders": .encoder
        default: nil
        }
    }
}

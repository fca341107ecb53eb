import Foundation

/// Where `require` looks for Lua modules, and where the bundled `lua/` tree is.
public enum ModuleSearchPath {
    /// The bundled `lua/` directory: `$LUAPIPED_LUA_DIR` when set, else the first `lua/`
    /// holding `modules/` found walking up from the executable (a source checkout's
    /// `.build/release/luapiped` finds the checkout's `lua/`), else
    /// `/usr/share/luapiped/lua`.
    public static func bundledLuaDirectory() -> String? {
        let fm = FileManager.default
        if let env = ProcessInfo.processInfo.environment["LUAPIPED_LUA_DIR"], !env.isEmpty { return env }
        var dir = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            let candidate = dir.appendingPathComponent("lua")
            if fm.fileExists(atPath: candidate.appendingPathComponent("modules").path) { return candidate.path }
            dir = dir.deletingLastPathComponent()
        }
        let shared = "/usr/share/luapiped/lua"
        return fm.fileExists(atPath: shared) ? shared : nil
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

import Glibc

/// Where `require` looks for Lua modules, and where the bundled `lua/` tree is.
public enum ModuleSearchPath {
    /// The bundled `lua/` directory: `$LUAPIPED_LUA_DIR` when set, else the first `lua/`
    /// holding `modules/` found walking up from the executable (a source checkout's
    /// `.build/release/luapiped` finds the checkout's `lua/`), else
    /// `/usr/share/luapiped/lua`.
    public static func bundledLuaDirectory() -> String? {
        bundledLuaCandidates().first { FileSystem.exists(Path.join($0, "modules")) }
    }

    /// Where the bundled `lua/` folder is looked for, in order: `LUAPIPED_LUA_DIR`; beside
    /// the executable (found through /proc/self/exe, so a binary run from PATH or copied
    /// elsewhere finds its own); `../share/luapiped/lua` from it (an install prefix); the
    /// folders above it (the source tree, for `.build/*/luapiped`); /usr/share/luapiped/lua.
    public static func bundledLuaCandidates() -> [String] {
        var found: [String] = []
        if let env = getenv("LUAPIPED_LUA_DIR").map({ String(cString: $0) }), !env.isEmpty { found.append(env) }
        let exe = FileSystem.symbolicLinkDestination("/proc/self/exe") ?? absolute(realpathOrSelf(CommandLine.arguments.first ?? "."))
        var dir = Path.parent(exe)
        found.append(Path.join(dir, "lua"))
        found.append(Path.join(Path.parent(dir), "share/luapiped/lua"))
        for _ in 0..<5 {
            dir = Path.parent(dir)
            found.append(Path.join(dir, "lua"))
        }
        found.append("/usr/share/luapiped/lua")
        var seen = Set<String>()
        return found.filter { seen.insert($0).inserted }
    }

    /// The search order of `luapiped test`: each `extra` directory, the `modules/`
    /// folder beside the script, the sandbox directory's `modules/` (for a script in
    /// `filters/`, `decoders/` or `encoders/`), then the bundled `lua/modules/`.
    public static func forScript(at scriptPath: String, extra: [String]) -> [String] {
        let dir = Path.parent(absolute(scriptPath))
        var paths = extra
        paths.append(Path.join(dir, "modules"))
        if ["filters", "decoders", "encoders"].contains(Path.lastComponent(dir)) {
            paths.append(Path.join(Path.parent(dir), "modules"))
        }
        if let bundled = bundledLuaDirectory() { paths.append(bundled + "/modules") }
        var seen = Set<String>()
        return paths.filter { seen.insert($0).inserted }
    }

    /// The plugin kind a script's folder implies (`decoders/`, `filters/`, `encoders/`).
    public static func kind(forScript path: String) -> PluginKind? {
        switch Path.lastComponent(Path.parent(absolute(path))) {
        case "decoders": .decoder
        case "filters": .filter
        case "encoders": .encoder
        default: nil
        }
    }

    /// `path` made absolute against the working directory (as a file URL made it).
    static func absolute(_ path: String) -> String {
        PipelineConfig.resolve(path, against: FileSystem.currentDirectory())
    }

    /// `path` with every link resolved, or `path` itself when it cannot be.
    private static func realpathOrSelf(_ path: String) -> String {
        guard let raw = realpath(path, nil) else { return path }
        defer { free(raw) }
        return String(cString: raw)
    }
}

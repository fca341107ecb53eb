/// Version strings.
public enum LuaPipelineVersion {
    public static let string = "0.1.0"
    /// The Lua the sandboxes run.
    public static let luaVersion = "Lua 5.4"
}

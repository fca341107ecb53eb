/// The configuration `luapiped run` uses when given none: standard input, one message per
/// line, printed on standard output in the JSON form (Heka's LogOutput), so a newcomer
/// sees their data. Documented in README.md.
public enum DefaultConfig {
    public static let toml = """
        [luapiped]
        base_dir = "luapiped-data"

        [StdinInput]
        splitter = "TokenSplitter"

        [TokenSplitter]

        [LogOutput]
        message_matcher = "TRUE"
        encoder = "JsonEncoder"

        [JsonEncoder]
        """

    /// The parsed default, with paths relative to `directory`.
    public static func load(directory: String) throws(ConfigErrors) -> PipelineConfig {
        try PipelineConfig.parse(sources: [("(embedded default)", toml)], directory: directory)
    }
}

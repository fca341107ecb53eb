/// The configuration `luapiped run` uses when given none, documented in README.md:
/// - TCP on 127.0.0.1:5565: Heka stream framing of protobuf messages (what another
///   luapiped's TcpOutput or Heka sends), acknowledged;
/// - UDP on 127.0.0.1:5566: each datagram is one message whose Payload is its text;
/// - standard input: each line is one message whose Payload is the line;
/// - StatsD on UDP 127.0.0.1:8125, aggregated every 10 s into `heka.statmetric` messages;
/// - everything printed on standard output in the JSON form (Heka's LogOutput), so a
///   newcomer sees their data; `./lua.d` is the sandbox directory;
/// - the admin server on 127.0.0.1:4352: `/health` and `/metrics`.
public enum DefaultConfig {
    public static let toml = """
        [luapiped]
        base_dir = "luapiped-data"
        sandbox_dir = "lua.d"
        admin_address = "127.0.0.1:4352"

        [TcpInput]
        address = "127.0.0.1:5565"
        ack = true

        [UdpInput]
        address = "127.0.0.1:5566"

        [StdinInput]

        [StatsdInput]
        address = "127.0.0.1:8125"

        [StatAccumInput]
        ticker_interval = 10

        [LogOutput]
        message_matcher = "TRUE"
        encoder = "JsonEncoder"

        [JsonEncoder]
        """

    /// The parsed default, with paths relative to `directory`.
    public static func load(directory: String, sandboxDir: String? = nil) throws(ConfigErrors) -> PipelineConfig {
        try PipelineConfig.parse(sources: [("(embedded default)", toml)], directory: directory, sandboxDir: sandboxDir)
    }
}

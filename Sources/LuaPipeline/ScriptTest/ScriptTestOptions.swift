/// Options of `luapiped test`, the script author's harness.
public struct ScriptTestOptions {
    /// How input records become messages.
    public enum InputFormat: String, Sendable, CaseIterable {
        /// Each line is the Payload of a message of Type "stdin".
        case lines
        /// One message per line in the JSON form (docs/message-json.md).
        case json
        /// Heka stream framing of protobuf messages.
        case framed
    }

    public enum OutputFormat: String, Sendable, CaseIterable {
        case json, none
    }

    public var scriptPath: String
    public var kind: PluginKind?
    /// A path, or "-" / nil for standard input.
    public var inputPath: String?
    public var format: InputFormat?
    /// Filters process only messages this accepts (the `--matcher` expression).
    public var matcher: ((MessageView) -> Bool)?
    public var config: [String: ConfigValue] = [:]
    public var limits = SandboxLimits()
    public var timerEvery: Int = 0
    public var stats = false
    public var modulePaths: [String] = []
    public var statePath: String?
    public var output: OutputFormat = .json
    public var maxMessageSize = StreamFraming.defaultMaxMessageSize

    public init(scriptPath: String) {
        self.scriptPath = scriptPath
    }
}

/// What a run of the harness counted.
public struct ScriptTestStats: Sendable, Equatable {
    public var processed = 0
    public var failures = 0
    public var injected = 0
    public var rejected = 0
    public var usage = SandboxUsage(memoryCurrent: 0, memoryPeak: 0, instructionsLast: 0, instructionsPeak: 0, outputPeak: 0)

    /// The `--stats` line.
    public var json: String {
        "{\"processed\":\(processed),\"failures\":\(failures),\"injected\":\(injected),\"rejected\":\(rejected),"
            + "\"memory_peak\":\(usage.memoryPeak),\"instructions_peak\":\(usage.instructionsPeak),\"output_peak\":\(usage.outputPeak)}"
    }
}

/// How a run ended, as `luapiped test` reports it in its exit code.
public enum ScriptTestOutcome: Int32, Sendable {
    /// Ran to the end (counted failures included).
    case completed = 0
    /// The script did not load.
    case loadFailed = 1
    /// The sandbox was terminated while running.
    case terminated = 2
}

/// Option sets that several plugin types share, declared once.

/// Every sandboxed plugin's script and limits.
public struct SandboxOptions: OptionGroup {
    public var filename = ""
    public var preserveData = false
    public var memoryLimit = SandboxLimits.defaultMemory
    public var instructionLimit = Int(SandboxLimits.defaultInstructions)
    public var outputLimit = SandboxLimits.defaultOutput
    public var moduleDirectory: String?
    public var config = ConfigTable()
    public init() {}

    public static let options: [OptionSpec<Self>] = [
        .init("filename", \.filename, required: true, "the Lua script, relative to the config file's folder, then share_dir"),
        .init("preserve_data", \.preserveData, "save the script's globals (at every checkpoint and a clean stop) and restore them on start"),
        .init("memory_limit", \.memoryLimit, "bytes of Lua memory (0 = unlimited)"),
        .init("instruction_limit", \.instructionLimit, "Lua instructions per call (0 = unlimited); from 1,000,000 up, or 0, counted only once a call runs long (docs/sandbox.md, \"Deferred counting\")"),
        .init("output_limit", \.outputLimit, "bytes per injected payload or message"),
        .init("module_directory", \.moduleDirectory, "an extra directory for require, searched first"),
        .init("config", \.config, "values read_config returns"),
    ]

    public func validate() -> [(key: String, reason: String)] {
        config.entries.compactMap { kv in
            ConfigValue(kv.value) == nil ? ("config.\(kv.key)", "read_config values must be strings, numbers, booleans, arrays or tables of them (not dates)") : nil
        }
    }
}

/// A reader's lag budget (Heka's `[NAME.buffering]`).
public struct BufferingOptions: OptionGroup {
    public var maxBufferSize = Buffering.defaultMaxBufferSize
    public var fullAction = FullAction.block.rawValue
    public init() {}

    public static let options: [OptionSpec<Self>] = [
        .init("max_buffer_size", \.maxBufferSize, "bytes this reader may lag behind"),
        .init("full_action", \.fullAction, allowed: ["block", "drop", "shutdown"], "what happens when the lag passes max_buffer_size"),
    ]

    var buffering: Buffering { Buffering(maxBufferSize: maxBufferSize, fullAction: FullAction(rawValue: fullAction) ?? .block) }
}

/// How a terminated plugin is restarted (Heka's `[NAME.retries]`).
public struct RetryOptions: OptionGroup {
    public var delay: Seconds = 0.25
    public var maxDelay: Seconds = 30
    public var maxJitter: Seconds = 0.5
    public var maxRetries = -1
    public init() {}

    public static let options: [OptionSpec<Self>] = [
        .init("delay", \.delay, "wait before the first restart"),
        .init("max_delay", \.maxDelay, "longest wait (the delay doubles each attempt)"),
        .init("max_jitter", \.maxJitter, "random extra wait, up to this"),
        .init("max_retries", \.maxRetries, "restarts allowed (-1: no end, 0: none)"),
    ]

    var policy: RetryPolicy { RetryPolicy(delay: delay.value, maxDelay: maxDelay.value, maxJitter: maxJitter.value, maxRetries: maxRetries) }
}

/// What filters and outputs read from the router.
public struct ReaderOptions: OptionGroup {
    public var messageMatcher = MatcherOption.all
    public var tickerInterval: Seconds = 0
    public var buffering = BufferingOptions()
    public init() {}

    public static let options: [OptionSpec<Self>] = [
        .init("message_matcher", \.messageMatcher, required: true, "which messages it receives (docs/matcher.md)"),
        .init("ticker_interval", \.tickerInterval, "seconds between timer_event calls (0 = never)"),
        .init(table: "buffering", \.buffering, "the reader's lag budget"),
    ]
}

/// What every record-reading input shares: how records are cut and decoded.
public struct InputOptions: OptionGroup {
    public var decoder: String?
    public var splitter: String?
    public var sendDecodeFailures = false
    public var logDecodeFailures = true
    /// The data class (nil: the input type's default).
    public var delivery: String?
    public init() {}

    public static let options: [OptionSpec<Self>] = [
        .init("decoder", \.decoder, "the decoder section applied to each record"),
        .init("splitter", \.splitter, "the splitter section that cuts the stream into records"),
        .init("send_decode_failures", \.sendDecodeFailures, "pass records that fail to decode on, with a decode_error field"),
        .init("log_decode_failures", \.logDecodeFailures, "log each record that fails to decode"),
        .init("delivery", \.delivery, allowed: Delivery.allCases.map(\.rawValue),
              "the data class of its messages (docs/delivery.md): `block` holds the input back while a reader is full (logs; the default), `drop` skips the oldest first (metrics), `disk` writes to the durable queue before acknowledging (events; the default of TcpInput with ack = true)"),
    ]
}

/// What every output shares besides its reader.
public struct OutputOptions: OptionGroup {
    public var encoder: String?
    public var useFraming: Bool?
    public init() {}

    public static let options: [OptionSpec<Self>] = [
        .init("encoder", \.encoder, "the encoder section that turns messages into bytes"),
        .init("use_framing", \.useFraming, "Heka stream framing around each encoded message (default: true for ProtobufEncoder)"),
    ]
}

/// A type without options.
public struct NoOptions: PluginOptions {
    public init() {}
    public static let options: [OptionSpec<Self>] = []
}

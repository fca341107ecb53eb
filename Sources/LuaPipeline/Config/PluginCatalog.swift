/// What a plugin section configures.
public enum PluginCategory: String, Sendable {
    case input, splitter, decoder, filter, encoder, output
}

/// A plugin type as the config names it (Heka's names) and its declared options.
public struct PluginType: Sendable {
    public let name: String
    public let category: PluginCategory
    public let options: [ConfigOption]
    public let doc: String
}

/// Every plugin type this build knows, with its options: the one place they are declared.
public enum PluginCatalog {
    static let sandbox: [ConfigOption] = [
        ConfigOption("filename", .string, required: true, "the Lua script, relative to the config file's folder, then share_dir"),
        ConfigOption("preserve_data", .bool, default: .bool(false), "save the script's globals on a clean stop and restore them on start"),
        ConfigOption("memory_limit", .integer, default: .integer(Int64(SandboxLimits.defaultMemory)), "bytes of Lua memory (0 = unlimited)"),
        ConfigOption("instruction_limit", .integer, default: .integer(Int64(SandboxLimits.defaultInstructions)), "Lua instructions per call (0 = unlimited)"),
        ConfigOption("output_limit", .integer, default: .integer(Int64(SandboxLimits.defaultOutput)), "bytes per injected payload or message"),
        ConfigOption("module_directory", .string, "an extra directory for require, searched first"),
        ConfigOption("config", .table, "values read_config returns"),
    ]

    static let buffering = ConfigOption("buffering", .options([
        ConfigOption("max_buffer_size", .integer, default: .integer(Int64(Buffering.defaultMaxBufferSize)), "bytes this reader may lag behind"),
        ConfigOption("full_action", .string, default: .string("block"), "block, drop or shutdown when the lag passes max_buffer_size"),
    ]), "the reader's lag budget")

    static let retries = ConfigOption("retries", .options([
        ConfigOption("delay", .duration, default: .double(0.25), "wait before the first restart"),
        ConfigOption("max_delay", .duration, default: .double(30), "longest wait (the delay doubles each attempt)"),
        ConfigOption("max_jitter", .duration, default: .double(0.5), "random extra wait, up to this"),
        ConfigOption("max_retries", .integer, default: .integer(-1), "restarts allowed (-1: no end, 0: none)"),
    ]), "how a terminated plugin is restarted (Heka's [NAME.retries]; filters restart by default)")

    static let reader: [ConfigOption] = [
        ConfigOption("message_matcher", .string, required: true, "which messages it receives (docs/matcher.md)"),
        ConfigOption("ticker_interval", .integer, default: .integer(0), "seconds between timer_event calls (0 = never)"),
        buffering,
    ]

    static let input: [ConfigOption] = [
        ConfigOption("decoder", .string, "the decoder section applied to each record"),
        ConfigOption("splitter", .string, "the splitter section that cuts the stream into records"),
        ConfigOption("send_decode_failures", .bool, default: .bool(false), "pass records that fail to decode on, with a decode_error field"),
        ConfigOption("log_decode_failures", .bool, default: .bool(true), "log each record that fails to decode"),
    ]

    static let output: [ConfigOption] = reader + [
        ConfigOption("encoder", .string, "the encoder section that turns messages into bytes"),
        ConfigOption("use_framing", .bool, "Heka stream framing around each encoded message (default: true for ProtobufEncoder)"),
    ]

    public static let types: [String: PluginType] = Dictionary(uniqueKeysWithValues: [
        PluginType(name: "StdinInput", category: .input, options: input, doc: "reads standard input"),
        PluginType(name: "LogstreamerInput", category: .input, options: input + [
            ConfigOption("log_directory", .string, required: true, "the directory searched for log files"),
            ConfigOption("file_match", .string, required: true, "regex (named groups allowed) for paths relative to log_directory"),
            ConfigOption("differentiator", .stringArray, "group names and literal text naming a file's stream (default: each file is a stream)"),
            ConfigOption("priority", .stringArray, "group names ordering a stream's files, oldest first; ^NAME reverses"),
            ConfigOption("rescan_interval", .duration, default: .double(5), "how often new files are looked for"),
            ConfigOption("oldest_duration", .duration, default: .double(720 * 3600), "files not modified for longer are ignored (0 = no limit)"),
            ConfigOption("initial_tail", .bool, default: .bool(false), "start a stream without a journal at its end instead of its start"),
            ConfigOption("journal_directory", .string, "where stream journals live (default: base_dir/logstreamer/NAME)"),
        ], doc: "tails log files across rotation, with a journal"),
        PluginType(name: "TcpInput", category: .input, options: input + [
            ConfigOption("address", .string, default: .string("127.0.0.1:5565"), "host:port to listen on"),
            ConfigOption("ack", .bool, default: .bool(false), "acknowledge each message (0x06 + Uuid) once it is in the log; skip duplicates by Uuid"),
        ], doc: "listens for TCP connections (Heka framing and protobuf by default)"),
        PluginType(name: "UdpInput", category: .input, options: input + [
            ConfigOption("address", .string, default: .string("127.0.0.1:5566"), "host:port to receive datagrams on"),
        ], doc: "receives UDP datagrams, one record each by default"),
        PluginType(name: "StatsdInput", category: .input, options: [
            ConfigOption("address", .string, default: .string("127.0.0.1:8125"), "host:port to receive StatsD datagrams on"),
            ConfigOption("stat_accum_name", .string, default: .string("StatAccumInput"),
                         "the StatAccumInput section that aggregates (without one: its defaults, emitted by this input)"),
            ConfigOption("max_msg_size", .integer, default: .integer(65536), "largest datagram read; a longer one is cut there and counted"),
            ConfigOption("receive_buffer_bytes", .integer, "the socket's receive buffer (SO_RCVBUF; the kernel doubles it)"),
        ], doc: "receives StatsD metrics over UDP (counters, gauges, timers, histograms, sets; DogStatsD tags)"),
        PluginType(name: "StatAccumInput", category: .input, options: [
            ConfigOption("ticker_interval", .duration, default: .double(10), "seconds aggregated into each message"),
            ConfigOption("percent_threshold", .integer, default: .integer(90), "timers: the percentile of mean_P, upper_P, sum_P"),
            ConfigOption("emit_in_payload", .bool, default: .bool(true), "carbon lines (path value timestamp) in the Payload"),
            ConfigOption("emit_in_fields", .bool, default: .bool(false), "one double field per stat, named by its path"),
            ConfigOption("delete_idle_stats", .bool, default: .bool(false), "drop stats not updated in an interval instead of emitting 0"),
            ConfigOption("legacy_namespaces", .bool, default: .bool(false), "Etsy's stats.NAME (rate) and stats_counts.NAME (count) for counters"),
            ConfigOption("global_prefix", .string, default: .string("stats"), "first element of every path"),
            ConfigOption("counter_prefix", .string, default: .string("counters"), "second element for counters"),
            ConfigOption("timer_prefix", .string, default: .string("timers"), "second element for timers"),
            ConfigOption("gauge_prefix", .string, default: .string("gauges"), "second element for gauges"),
            ConfigOption("set_prefix", .string, default: .string("sets"), "second element for sets"),
            ConfigOption("statsd_prefix", .string, default: .string("statsd"), "second element of numStats"),
            ConfigOption("message_type", .string, default: .string("heka.statmetric"), "Type of the emitted messages"),
            ConfigOption("max_stats", .integer, default: .integer(100_000), "distinct stats kept; more are dropped and counted"),
            ConfigOption("max_timer_samples", .integer, default: .integer(100_000), "values kept per timer and interval; more are counted only"),
        ], doc: "aggregates StatsD metrics and emits them every ticker_interval as heka.statmetric messages"),
        PluginType(name: "TokenSplitter", category: .splitter, options: [
            ConfigOption("delimiter", .string, default: .string("\n"), "the byte that ends a record"),
            ConfigOption("deliver_incomplete_final", .bool, default: .bool(true), "deliver a last record without its delimiter at end of stream"),
            ConfigOption("keep_truncated", .bool, default: .bool(false), "cut a record over max_message_size to that size instead of dropping it"),
        ], doc: "records end with a delimiter (lines by default)"),
        PluginType(name: "RegexSplitter", category: .splitter, options: [
            ConfigOption("delimiter", .string, required: true, "regular expression (PCRE2) that separates records"),
            ConfigOption("delimiter_eol", .bool, default: .bool(true), "the match ends a record (true) or starts the next one (false)"),
            ConfigOption("keep_truncated", .bool, default: .bool(false), "cut a record over max_message_size to that size instead of dropping it"),
        ], doc: "records are separated by a regular expression"),
        PluginType(name: "HekaFramingSplitter", category: .splitter, options: [], doc: "Heka stream framing"),
        PluginType(name: "NullSplitter", category: .splitter, options: [], doc: "each read is one record"),
        PluginType(name: "ProtobufDecoder", category: .decoder, options: [], doc: "records are Heka protobuf messages"),
        PluginType(name: "SandboxDecoder", category: .decoder, options: sandbox, doc: "a Lua decoder"),
        PluginType(name: "MultiDecoder", category: .decoder, options: [
            ConfigOption("subs", .stringArray, required: true, "decoder sections tried in order"),
            ConfigOption("cascade_strategy", .string, default: .string("first-wins"), "first-wins: the first sub-decoder that accepts the record"),
            ConfigOption("log_sub_errors", .bool, default: .bool(false), "log why each sub-decoder refused a record"),
        ], doc: "tries several decoders"),
        PluginType(name: "SandboxFilter", category: .filter, options: sandbox + reader + [retries], doc: "a Lua filter"),
        PluginType(name: "SandboxEncoder", category: .encoder, options: sandbox, doc: "a Lua encoder"),
        PluginType(name: "PayloadEncoder", category: .encoder, options: [
            ConfigOption("append_newlines", .bool, default: .bool(true), "end each payload with a newline"),
            ConfigOption("prefix_ts", .bool, default: .bool(false), "prefix each payload with its timestamp"),
        ], doc: "the Payload only"),
        PluginType(name: "ProtobufEncoder", category: .encoder, options: [], doc: "Heka protobuf"),
        PluginType(name: "JsonEncoder", category: .encoder, options: [], doc: "the JSON form, one message per line"),
        PluginType(name: "FileOutput", category: .output, options: output + [
            ConfigOption("path", .string, required: true, "the file written"),
            ConfigOption("perm", .string, default: .string("644"), "octal permissions of a created file"),
            ConfigOption("flush_interval", .integer, default: .integer(1000), "milliseconds between flushes"),
            ConfigOption("flush_count", .integer, default: .integer(1), "messages between flushes"),
        ], doc: "appends encoded messages to a file"),
        PluginType(name: "LogOutput", category: .output, options: output, doc: "writes encoded messages to standard output"),
        PluginType(name: "TcpOutput", category: .output, options: output + [
            ConfigOption("address", .string, required: true, "host:port of the receiving TcpInput"),
            ConfigOption("wait_for_ack", .bool, default: .bool(true), "keep each message until the receiver acknowledges it (its TcpInput needs ack = true)"),
        ], doc: "sends framed messages to another luapiped, resending what was not acknowledged"),
        PluginType(name: "HttpOutput", category: .output, options: output + [
            ConfigOption("address", .string, required: true, "the URL requested for each message (http:// or https://)"),
            ConfigOption("method", .string, default: .string("POST"), "the HTTP method"),
            ConfigOption("headers", .table, "extra request headers (name = \"value\")"),
            ConfigOption("username", .string, "user name for HTTP basic authentication"),
            ConfigOption("password", .string, "password for HTTP basic authentication"),
            ConfigOption("http_timeout", .integer, default: .integer(10_000), "milliseconds before a request counts as failed and is retried (0 = none)"),
        ], doc: "one HTTP request per message (webhooks): 2xx delivered, 5xx and network errors retried, 4xx skipped"),
        PluginType(name: "SmtpOutput", category: .output, options: output + [
            ConfigOption("send_from", .string, required: true, "the sender address"),
            ConfigOption("send_to", .stringArray, required: true, "the recipient addresses"),
            ConfigOption("subject", .string, default: .string("luapiped alert"), "the e-mails' subject"),
            ConfigOption("host", .string, default: .string("127.0.0.1:25"), "the SMTP server, host:port"),
            ConfigOption("auth", .string, default: .string("none"), "none, or Plain (AUTH PLAIN with user and password)"),
            ConfigOption("user", .string, "user name for AUTH PLAIN"),
            ConfigOption("password", .string, "password for AUTH PLAIN"),
            ConfigOption("send_interval", .integer, default: .integer(0), "seconds between two e-mails; what arrives meanwhile goes into the next"),
        ], doc: "e-mails each message (by default its Payload) through an SMTP server"),
    ].map { ($0.name, $0) })

    /// Options of the global section, `[luapiped]` (or Heka's `[hekad]`).
    public static let global: [ConfigOption] = [
        ConfigOption("base_dir", .string, default: .string("luapiped-data"), "state: preserved sandbox data, journals, checkpoints (relative to the config)"),
        ConfigOption("share_dir", .string, "read-only files: bundled Lua scripts and modules (default: the bundled lua/ folder)"),
        ConfigOption("sandbox_dir", .string, default: .string("lua.d"), "the drop-in script directory (`--sandbox-dir` wins)"),
        ConfigOption("sandbox_dir_watch", .string, default: .string("inotify"),
                     "how the drop-in directory is watched: inotify (polling where inotify is unavailable), poll, or off"),
        ConfigOption("sandbox_dir_poll_interval", .duration, default: .double(1), "how often the drop-in directory is scanned when polling (and as a safety net under inotify)"),
        ConfigOption("sandbox_dir_debounce", .duration, default: .double(0.2), "quiet time after the last change before reloading (editors write in several steps)"),
        ConfigOption("max_message_size", .integer, default: .integer(Int64(StreamFraming.defaultMaxMessageSize)), "largest message in bytes"),
        ConfigOption("hostname", .string, "the Hostname of messages made here (default: the machine's)"),
        ConfigOption("max_message_loops", .integer, default: .integer(4), "how often a message may pass through filters"),
        ConfigOption("max_process_inject", .integer, default: .integer(1), "messages a filter may inject per process_message"),
        ConfigOption("max_timer_inject", .integer, default: .integer(10), "messages a filter may inject per timer_event"),
        ConfigOption("max_process_duration", .duration, default: .double(SandboxLimits.defaultMaxProcessDuration), "wall clock per sandbox call"),
        ConfigOption("sandbox_workers", .integer, "threads that run sandboxed filters, each filter pinned to one (default: the number of cores)"),
    ]
}

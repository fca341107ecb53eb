struct LogstreamerInputOptions: PluginOptions {
    var input = InputOptions()
    var logDirectory = ""
    var fileMatch = RegexOption.empty
    var differentiator: [String] = []
    var priority: [String] = []
    var rescanInterval: Seconds = 5
    var oldestDuration = Seconds(720 * 3600)
    var initialTail = false
    var journalDirectory: String?
    var decoderWorkers = 1

    static let options: [OptionSpec<Self>] = .flatten(\.input) + [
        .init("log_directory", \.logDirectory, required: true, "the directory searched for log files"),
        .init("file_match", \.fileMatch, required: true, "regex (named groups allowed) for paths relative to log_directory"),
        .init("differentiator", \.differentiator, "group names and literal text naming a file's stream (default: each file is a stream)"),
        .init("priority", \.priority, "group names ordering a stream's files, oldest first; ^NAME reverses"),
        .init("rescan_interval", \.rescanInterval, "how often new files are looked for"),
        .init("oldest_duration", \.oldestDuration, "files not modified for longer are ignored (0 = no limit)"),
        .init("initial_tail", \.initialTail, "start a stream without a journal at its end instead of its start"),
        .init("journal_directory", \.journalDirectory, "where stream journals live (default: base_dir/logstreamer/NAME)"),
        .init("decoder_workers", \.decoderWorkers,
              "decode on this many threads (1 to 64), one decoder instance each, every stream's order kept; for stateless decoders only: each instance has its own globals, so a multi-line decoder must keep 1"),
    ]
    var references: [String] { [input.decoder, input.splitter].compactMap { $0 } }

    func validate() -> [(key: String, reason: String)] {
        (1...64).contains(decoderWorkers) ? [] : [("decoder_workers", "must be from 1 to 64")]
    }

    var fileMatcher: FileMatch { FileMatch(regex: fileMatch.compiled, differentiator: differentiator, priority: priority) }
}

extension LogstreamerInput {
    static let plugin = PluginType.input("LogstreamerInput", "tails log files across rotation, with a journal", LogstreamerInputOptions.self) {
        o, ctx throws(ConfigError) in
        let max = ctx.global.maxMessageSize
        let splitter = try ctx.splitter(named: o.input.splitter) { TokenSplitter(maxRecordSize: max) }
        let decoders = try ctx.decoders(named: o.input.decoder, input: ctx.name, count: o.decoderWorkers)
        return LogstreamerInput(
            name: ctx.name, directory: ctx.resolve(o.logDirectory), fileMatch: o.fileMatcher, rescanInterval: o.rescanInterval.value,
            oldestDuration: o.oldestDuration.value, initialTail: o.initialTail,
            journalDirectory: o.journalDirectory.map(ctx.resolve) ?? ctx.statePath("logstreamer", ctx.name),
            records: try ctx.records(o.input, decoders: decoders), log: ctx.log, restored: ctx.restored?.positions(of: ctx.name),
            makeSplitter: splitter)
    }
}

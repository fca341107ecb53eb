#if canImport(Glibc)
import Glibc
#endif

/// The output types: each reads the router through its own reader.

struct FileOutputOptions: PluginOptions {
    var reader = ReaderOptions()
    var output = OutputOptions()
    var path = ""
    var perm = "644"
    var flushInterval = 1000
    var flushCount = 1
    static let options: [OptionSpec<Self>] = .flatten(\.reader) + .flatten(\.output) + [
        .init("path", \.path, required: true, "the file written"),
        .init("perm", \.perm, "octal permissions of a created file"),
        .init("flush_interval", \.flushInterval, "milliseconds between flushes"),
        .init("flush_count", \.flushCount, "messages between flushes"),
    ]
    var readerOptions: ReaderOptions? { reader }
    var references: [String] { [output.encoder].compactMap { $0 } }
    func validate() -> [(key: String, reason: String)] {
        output.encoder == nil ? [("encoder", "missing (an encoder section: ProtobufEncoder, PayloadEncoder, JsonEncoder or SandboxEncoder)")] : []
    }
}

struct LogOutputOptions: PluginOptions {
    var reader = ReaderOptions()
    var output = OutputOptions()
    static let options: [OptionSpec<Self>] = .flatten(\.reader) + .flatten(\.output)
    var readerOptions: ReaderOptions? { reader }
    var references: [String] { [output.encoder].compactMap { $0 } }
}

struct TcpOutputOptions: PluginOptions {
    var reader = ReaderOptions()
    var output = OutputOptions()
    var address = ""
    var waitForAck = true
    static let options: [OptionSpec<Self>] = .flatten(\.reader) + .flatten(\.output) + [
        .init("address", \.address, required: true, "host:port of the receiving TcpInput"),
        .init("wait_for_ack", \.waitForAck, "keep each message until the receiver acknowledges it (its TcpInput needs ack = true)"),
    ]
    var readerOptions: ReaderOptions? { reader }
    var references: [String] { [output.encoder].compactMap { $0 } }
}

extension OutputRunner {
    /// FileOutput and LogOutput: an encoder and a sink.
    static func make(_ ctx: BuildContext, _ reader: RouterReader, _ o: OutputOptions, sink: any OutputSink,
                     flushCount: Int = 1, flushInterval: Int = 1000) throws(ConfigError) -> OutputRunner {
        let encoder = try ctx.encoder(named: o.encoder) ?? JsonEncoder()
        return OutputRunner(name: ctx.name, reader: reader, encoder: encoder, framing: o.useFraming ?? encoder.framesByDefault, sink: sink,
                            counters: ctx.counters, log: ctx.log, flushCount: flushCount, flushInterval: Double(flushInterval) / 1000)
    }
}

extension FileSink {
    static let plugin = PluginType.output("FileOutput", "appends encoded messages to a file", FileOutputOptions.self) { o, ctx, reader throws(ConfigError) in
        let sink = FileSink(path: ctx.resolve(o.path), perm: mode_t(o.perm, radix: 8) ?? 0o644)
        return try OutputRunner.make(ctx, reader, o.output, sink: sink, flushCount: o.flushCount, flushInterval: o.flushInterval)
    }
}

extension StdoutSink {
    static let plugin = PluginType.output("LogOutput", "writes encoded messages to standard output", LogOutputOptions.self) { o, ctx, reader throws(ConfigError) in
        try OutputRunner.make(ctx, reader, o.output, sink: StdoutSink())
    }
}

extension TcpOutputRunner {
    static let plugin = PluginType.output("TcpOutput", "sends framed messages to another luapiped, resending what was not acknowledged",
                                          TcpOutputOptions.self) { o, ctx, reader throws(ConfigError) in
        let encoder = try ctx.encoder(named: o.output.encoder) ?? ProtobufEncoder()
        return TcpOutputRunner(name: ctx.name, reader: reader, encoder: encoder, framing: o.output.useFraming ?? true, address: o.address,
                               waitForAck: o.waitForAck, counters: ctx.counters, log: ctx.log)
    }
}

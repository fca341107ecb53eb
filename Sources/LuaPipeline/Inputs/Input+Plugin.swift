/// The record-reading input types: a splitter cuts the stream, a decoder makes messages.

struct StdinInputOptions: PluginOptions {
    var input = InputOptions()
    static let options: [OptionSpec<Self>] = .flatten(\.input)
    var references: [String] { [input.decoder, input.splitter].compactMap { $0 } }
}

struct TcpInputOptions: PluginOptions {
    var input = InputOptions()
    var address = "127.0.0.1:5565"
    var ack = false
    static let options: [OptionSpec<Self>] = .flatten(\.input) + [
        .init("address", \.address, "host:port to listen on"),
        .init("ack", \.ack, "acknowledge each message (0x06 + Uuid) once it is in the log; skip duplicates by Uuid"),
    ]
    var references: [String] { [input.decoder, input.splitter].compactMap { $0 } }
}

struct UdpInputOptions: PluginOptions {
    var input = InputOptions()
    var address = "127.0.0.1:5566"
    var receiveBufferBytes = UdpReceiver.defaultBufferBytes
    static let options: [OptionSpec<Self>] = .flatten(\.input) + [
        .init("address", \.address, "host:port to receive datagrams on"),
        .init("receive_buffer_bytes", \.receiveBufferBytes, "the socket's receive buffer asked for (the kernel may grant less; what it drops is counted as kernel_drops)"),
    ]
    var references: [String] { [input.decoder, input.splitter].compactMap { $0 } }
}

extension StdinInput {
    static let plugin = PluginType.input("StdinInput", "reads standard input", StdinInputOptions.self) { o, ctx throws(ConfigError) in
        let max = ctx.global.maxMessageSize
        let splitter = try ctx.splitter(named: o.input.splitter) { TokenSplitter(maxRecordSize: max) }
        let decoder = try ctx.decoder(named: o.input.decoder, input: ctx.name)
        return StdinInput(fd: ctx.stdin, splitter: splitter(), records: try ctx.records(o.input, decoder: decoder))
    }
}

extension TcpInput {
    static let plugin = PluginType.input("TcpInput", "listens for TCP connections (Heka framing and protobuf by default; without a decoder, behind another splitter each record is a Payload)", TcpInputOptions.self) {
        o, ctx throws(ConfigError) in
        let max = ctx.global.maxMessageSize
        let splitter = try ctx.splitter(named: o.input.splitter) { HekaFramingSplitter(maxMessageSize: max) }
        // Protobuf by default only behind Heka framing; behind another splitter each record
        // is a Payload (Heka's behaviour), not a decode failure.
        let framed = o.input.splitter.map { ctx.config.plugin(named: $0)?.type.name == HekaFramingSplitter.plugin.name } ?? true
        let decoder: any RecordDecoder = o.input.decoder == nil && framed ? ProtobufDecoder() : try ctx.decoder(named: o.input.decoder, input: ctx.name)
        return TcpInput(name: ctx.name, address: o.address, ack: o.ack, records: try ctx.records(o.input, decoder: decoder, delivery: o.ack ? .disk : .block), log: ctx.log,
                        recentPath: ctx.statePath("tcp", "\(ctx.name).uuids"), makeSplitter: splitter)
    }
}

extension UdpInput {
    static let plugin = PluginType.input("UdpInput", "receives UDP datagrams, one record each by default", UdpInputOptions.self) { o, ctx throws(ConfigError) in
        let splitter = try ctx.splitter(named: o.input.splitter) { NullSplitter() }
        let decoder = try ctx.decoder(named: o.input.decoder, input: ctx.name)
        return UdpInput(name: ctx.name, address: o.address, maxMessageSize: ctx.global.maxMessageSize, receiveBufferBytes: o.receiveBufferBytes,
                        records: try ctx.records(o.input, decoder: decoder), splitter: splitter(), log: ctx.log)
    }
}

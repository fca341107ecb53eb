/// The encoder types: how an output turns messages into bytes.

struct PayloadEncoderOptions: PluginOptions {
    var appendNewlines = true
    var prefixTs = false
    static let options: [OptionSpec<Self>] = [
        .init("append_newlines", \.appendNewlines, "end each payload with a newline"),
        .init("prefix_ts", \.prefixTs, "prefix each payload with its timestamp"),
    ]
}

extension PayloadEncoder {
    static let plugin = PluginType.encoder("PayloadEncoder", "the Payload only", PayloadEncoderOptions.self) { o, _ in
        PayloadEncoder(appendNewlines: o.appendNewlines, prefixTimestamp: o.prefixTs)
    }
}

extension ProtobufEncoder {
    static let plugin = PluginType.encoder("ProtobufEncoder", "Heka protobuf", NoOptions.self) { _, _ in ProtobufEncoder() }
}

extension JsonEncoder {
    static let plugin = PluginType.encoder("JsonEncoder", "the JSON form, one message per line", NoOptions.self) { _, _ in JsonEncoder() }
}

extension SandboxEncoder {
    static let plugin = PluginType.encoder("SandboxEncoder", "a Lua encoder", SandboxPluginOptions.self) { o, ctx throws(ConfigError) in
        SandboxEncoder(sandbox: try ctx.sandbox(.encoder, o.sandbox).0)
    }
}

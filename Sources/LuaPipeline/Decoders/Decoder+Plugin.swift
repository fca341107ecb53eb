/// The decoder types: how a record becomes messages.

struct SandboxPluginOptions: PluginOptions {
    var sandbox = SandboxOptions()
    static let options: [OptionSpec<Self>] = .flatten(\.sandbox)
    var sandboxOptions: SandboxOptions? { sandbox }
    func validate() -> [(key: String, reason: String)] { sandbox.validate() }
}

struct MultiDecoderOptions: PluginOptions {
    var subs: [String] = []
    var cascadeStrategy = "first-wins"
    var logSubErrors = false
    static let options: [OptionSpec<Self>] = [
        .init("subs", \.subs, required: true, "decoder sections tried in order"),
        .init("cascade_strategy", \.cascadeStrategy, allowed: ["first-wins", "all"],
              "first-wins: the first sub-decoder that accepts the record; all: every sub-decoder in order, each on what the previous one made"),
        .init("log_sub_errors", \.logSubErrors, "log why each sub-decoder refused a record"),
    ]
    var references: [String] { subs }

    func checkReferences(_ section: (String) -> PluginConfig?) -> [(key: String, reason: String)] {
        subs.flatMap { sub -> [(key: String, reason: String)] in
            guard let t = section(sub) else { return [("subs", "no section named \"\(sub)\"")] }
            var found: [(key: String, reason: String)] = []
            if t.type.category != .decoder { found.append(("subs", "\"\(sub)\" is a \(t.type.category.rawValue), not a decoder")) }
            if t.type.name == MultiDecoder.plugin.name { found.append(("subs", "\"\(sub)\" is a MultiDecoder: they do not nest")) }
            return found
        }
    }
}

extension ProtobufDecoder {
    static let plugin = PluginType.decoder("ProtobufDecoder", "records are Heka protobuf messages", NoOptions.self) { _, _, _ in ProtobufDecoder() }
}

extension SandboxDecoder {
    static let plugin = PluginType.decoder("SandboxDecoder", "a Lua decoder", SandboxPluginOptions.self) { o, ctx, input throws(ConfigError) in
        let (sb, recipe) = try ctx.sandbox(.decoder, o.sandbox)
        let decoder = SandboxDecoder(sandbox: sb, inputName: input, rebuild: { try? recipe.make() })
        // Heka's host read Timestamps again in the zone named by the decoder's `tz`.
        if case .string(let tz)? = o.sandbox.config.entries.first(where: { $0.key == "tz" })?.value, tz != "UTC" {
            do throws(TimeZoneError) {
                decoder.timeZone = try TimeZoneShift(named: tz)
            } catch {
                throw ctx.error("config.tz", error.reason)
            }
        }
        return decoder
    }
}

extension MultiDecoder {
    static let plugin = PluginType.decoder("MultiDecoder", "tries several decoders", MultiDecoderOptions.self) { o, ctx, input throws(ConfigError) in
        // MultiDecoders do not nest (checked with the config), so this recursion ends.
        var subs: [(name: String, decoder: any RecordDecoder)] = []
        for sub in o.subs { subs.append((sub, try ctx.decoder(named: sub, input: input))) }
        return MultiDecoder(name: ctx.name, subs: subs, all: o.cascadeStrategy == "all", logSubErrors: o.logSubErrors, log: ctx.log)
    }
}

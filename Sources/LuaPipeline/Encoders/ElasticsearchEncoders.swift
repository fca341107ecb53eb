/// Heka's native Elasticsearch encoders, ESJsonEncoder and ESLogstashV0Encoder, under
/// their names and keys. Each is the bundled Lua encoder (`encoders/es_json.lua`,
/// `encoders/es_logstash_v0.lua`) with the section's keys as its `read_config` values, so
/// a Heka section works unchanged and the script is the one place the format lives.

/// The keys both encoders share, as Heka declared them; unset keys take the script's
/// defaults (Heka's).
struct ElasticsearchKeys: OptionGroup {
    var index: String?
    var typeName: String?
    var fields: [String]?
    var timestamp: String?
    var esIndexFromTimestamp: Bool?
    var id: String?
    var rawBytesFields: [String]?
    var dynamicFields: [String]?

    static let options: [OptionSpec<Self>] = [
        .init("index", \.index, "the index, interpolated per message: %{Type}, %{Hostname}, %{Pid}, %{UUID}, %{Logger}, %{EnvVersion}, %{Severity}, %{FIELD}, %{%Y.%m.%d} (strftime); default \"heka-%{%Y.%m.%d}\" (ESLogstashV0Encoder: \"logstash-%{%Y.%m.%d}\")"),
        .init("type_name", \.typeName, "the document type, interpolated as index; default \"message\""),
        .init("fields", \.fields, "what the document holds, in order, of Uuid, Timestamp, Type, Logger, Severity, Payload, EnvVersion, Pid, Hostname, DynamicFields (all by default)"),
        .init("timestamp", \.timestamp, "strftime format of the Timestamp; default \"%Y-%m-%dT%H:%M:%S\""),
        .init("es_index_from_timestamp", \.esIndexFromTimestamp, "interpolate index dates from the message's Timestamp instead of the time of encoding; default false"),
        .init("id", \.id, "the document _id, interpolated as index (%{FIELD}); default: Elasticsearch assigns one"),
        .init("raw_bytes_fields", \.rawBytesFields, "fields written as they are, unescaped (embedded JSON)"),
        .init("dynamic_fields", \.dynamicFields, "with DynamicFields in fields: only these message fields (default: all)"),
    ]

    /// Heka's `fields` choices (case does not matter; "Fields" is the old name of
    /// "DynamicFields").
    static let fieldChoices = ["uuid", "timestamp", "type", "logger", "severity", "payload", "envversion", "pid", "hostname", "dynamicfields"]

    /// Heka's checks at Init, with its wording.
    func validate() -> [(key: String, reason: String)] {
        var found: [(key: String, reason: String)] = []
        var dynamic = fields == nil
        for f in fields ?? [] {
            let low = f.lowercased()
            if low == "fields" || low == "dynamicfields" {
                dynamic = true
            } else if !Self.fieldChoices.contains(low) {
                found.append(("fields", "Unsupported value \"\(low)\" in 'fields' list, must be one of \(Self.fieldChoices.joined(separator: ", "))"))
            }
        }
        if !(dynamicFields ?? []).isEmpty && !dynamic {
            found.append(("dynamic_fields", "\"DynamicFields\" must be in 'fields' list if using 'dynamic_fields'"))
        }
        return found
    }

    /// The bundled `script` with these keys and `extra` as its read_config values.
    func sandbox(_ script: String, extra: [(String, ConfigNode)]) -> SandboxOptions {
        var s = SandboxOptions()
        s.filename = script
        s.outputLimit = Int.max  // bounded by max_message_size
        func list(_ l: [String]?) -> ConfigNode? { l.map { .array($0.map(ConfigNode.string)) } }
        let given: [(String, ConfigNode?)] = [
            ("index", index.map(ConfigNode.string)), ("type_name", typeName.map(ConfigNode.string)), ("fields", list(fields)),
            ("timestamp", timestamp.map(ConfigNode.string)), ("es_index_from_timestamp", esIndexFromTimestamp.map(ConfigNode.bool)),
            ("id", id.map(ConfigNode.string)), ("raw_bytes_fields", list(rawBytesFields)), ("dynamic_fields", list(dynamicFields)),
        ] + extra.map { ($0.0, $0.1) }
        s.config = ConfigTable(given.compactMap { k, v in v.map { (key: k, value: $0) } })
        return s
    }
}

struct ESJsonEncoderOptions: PluginOptions {
    var keys = ElasticsearchKeys()
    var fieldMappings: ConfigTable?
    static let options: [OptionSpec<Self>] = .flatten(\.keys) + [
        .init("field_mappings", \.fieldMappings, "document names of the headers: Timestamp, Uuid, Type, Logger, Severity, Payload, EnvVersion, Pid, Hostname = \"name\""),
    ]
    var sandboxOptions: SandboxOptions? {
        keys.sandbox("lua_encoders/es_json.lua", extra: fieldMappings.map { [("field_mappings", .table($0.entries))] } ?? [])
    }

    func validate() -> [(key: String, reason: String)] {
        let headers: Set = ["Timestamp", "Uuid", "Type", "Logger", "Severity", "Payload", "EnvVersion", "Pid", "Hostname"]
        var found = keys.validate()
        for (k, v) in fieldMappings?.entries ?? [] {
            if !headers.contains(k) { found.append(("field_mappings.\(k)", "unknown header (known: \(headers.sorted().joined(separator: ", ")))")) }
            if case .string = v {} else { found.append(("field_mappings.\(k)", "must be a string")) }
        }
        return found
    }
}

struct ESLogstashV0EncoderOptions: PluginOptions {
    var keys = ElasticsearchKeys()
    var useMessageType: Bool?
    static let options: [OptionSpec<Self>] = .flatten(\.keys) + [
        .init("use_message_type", \.useMessageType, "@type is the message's Type rather than type_name; default false"),
    ]
    var sandboxOptions: SandboxOptions? {
        keys.sandbox("lua_encoders/es_logstash_v0.lua", extra: useMessageType.map { [("use_message_type", .bool($0))] } ?? [])
    }
    func validate() -> [(key: String, reason: String)] { keys.validate() }
}

/// The Elasticsearch encoders' types.
enum ElasticsearchEncoders {
    static let json = PluginType.encoder("ESJsonEncoder", "Elasticsearch bulk API lines, a clean JSON document per message (Heka's)",
                                         ESJsonEncoderOptions.self) { o, ctx throws(ConfigError) in
        SandboxEncoder(sandbox: try ctx.sandbox(.encoder, o.sandboxOptions!).0)
    }
    static let logstashV0 = PluginType.encoder("ESLogstashV0Encoder", "Elasticsearch bulk API lines in Logstash's v0 schema (@timestamp, @fields …; Heka's)",
                                               ESLogstashV0EncoderOptions.self) { o, ctx throws(ConfigError) in
        SandboxEncoder(sandbox: try ctx.sandbox(.encoder, o.sandboxOptions!).0)
    }
}

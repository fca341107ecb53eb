/// Heka's native Elasticsearch encoders, ESJsonEncoder and ESLogstashV0Encoder, under
/// their names and keys. Each is the bundled Lua encoder (`encoders/es_json.lua`,
/// `encoders/es_logstash_v0.lua`) with the section's keys as its `read_config` values, so
/// a Heka section works unchanged and the script is the one place the format lives.

/// The keys both encoders share, as Heka declared them; unset keys take the script's
/// defaults (Heka's).
protocol ElasticsearchEncoderKeys: PluginOptions {
    static var script: String { get }
    var index: String? { get }
    var typeName: String? { get }
    var fields: [String]? { get }
    var timestamp: String? { get }
    var esIndexFromTimestamp: Bool? { get }
    var id: String? { get }
    var rawBytesFields: [String]? { get }
    var dynamicFields: [String]? { get }
    /// The type's own keys, as read_config values.
    var extra: [(String, ConfigNode)] { get }
}

/// Heka's `fields` choices (case does not matter; "Fields" is the old name of
/// "DynamicFields").
private let fieldChoices = ["uuid", "timestamp", "type", "logger", "severity", "payload", "envversion", "pid", "hostname", "dynamicfields"]

extension ElasticsearchEncoderKeys {
    var sandboxOptions: SandboxOptions? {
        var s = SandboxOptions()
        s.filename = Self.script
        s.outputLimit = Int.max  // bounded by max_message_size
        var config: [(key: String, value: ConfigNode)] = []
        func add(_ key: String, _ node: ConfigNode?) { if let node { config.append((key, node)) } }
        add("index", index.map(ConfigNode.string))
        add("type_name", typeName.map(ConfigNode.string))
        add("fields", fields.map { .array($0.map(ConfigNode.string)) })
        add("timestamp", timestamp.map(ConfigNode.string))
        add("es_index_from_timestamp", esIndexFromTimestamp.map(ConfigNode.bool))
        add("id", id.map(ConfigNode.string))
        add("raw_bytes_fields", rawBytesFields.map { .array($0.map(ConfigNode.string)) })
        add("dynamic_fields", dynamicFields.map { .array($0.map(ConfigNode.string)) })
        for (k, v) in extra { add(k, v) }
        s.config = ConfigTable(config)
        return s
    }

    /// Heka's checks at Init, with its wording.
    func validate() -> [(key: String, reason: String)] { sharedProblems }
}

private func sharedKeys<O: ElasticsearchEncoderKeys>(index: String, _ path: WritableKeyPath<O, String?>, _ typeName: WritableKeyPath<O, String?>,
                                                     _ fields: WritableKeyPath<O, [String]?>, _ timestamp: WritableKeyPath<O, String?>,
                                                     _ fromTimestamp: WritableKeyPath<O, Bool?>, _ id: WritableKeyPath<O, String?>,
                                                     _ raw: WritableKeyPath<O, [String]?>, _ dynamic: WritableKeyPath<O, [String]?>) -> [OptionSpec<O>] {
    [
        .init("index", path, "the index, interpolated per message: %{Type}, %{Hostname}, %{Pid}, %{UUID}, %{Logger}, %{EnvVersion}, %{Severity}, %{FIELD}, %{%Y.%m.%d} (strftime); default \"\(index)\""),
        .init("type_name", typeName, "the document type, interpolated as index; default \"message\""),
        .init("fields", fields, "what the document holds, in order, of Uuid, Timestamp, Type, Logger, Severity, Payload, EnvVersion, Pid, Hostname, DynamicFields (all by default)"),
        .init("timestamp", timestamp, "strftime format of the Timestamp; default \"%Y-%m-%dT%H:%M:%S\""),
        .init("es_index_from_timestamp", fromTimestamp, "interpolate index dates from the message's Timestamp instead of the time of encoding; default false"),
        .init("id", id, "the document _id, interpolated as index (%{FIELD}); default: Elasticsearch assigns one"),
        .init("raw_bytes_fields", raw, "fields written as they are, unescaped (embedded JSON)"),
        .init("dynamic_fields", dynamic, "with DynamicFields in fields: only these message fields (default: all)"),
    ]
}

struct ESJsonEncoderOptions: ElasticsearchEncoderKeys {
    static let script = "lua_encoders/es_json.lua"
    var index: String?
    var typeName: String?
    var fields: [String]?
    var timestamp: String?
    var esIndexFromTimestamp: Bool?
    var id: String?
    var rawBytesFields: [String]?
    var dynamicFields: [String]?
    var fieldMappings: ConfigTable?
    static let options: [OptionSpec<Self>] = sharedKeys(index: "heka-%{%Y.%m.%d}", \.index, \.typeName, \.fields, \.timestamp,
                                                        \.esIndexFromTimestamp, \.id, \.rawBytesFields, \.dynamicFields) + [
        .init("field_mappings", \.fieldMappings, "document names of the headers: Timestamp, Uuid, Type, Logger, Severity, Payload, EnvVersion, Pid, Hostname = \"name\""),
    ]
    var extra: [(String, ConfigNode)] { fieldMappings.map { [("field_mappings", .table($0.entries))] } ?? [] }

    func validate() -> [(key: String, reason: String)] {
        let headers: Set = ["Timestamp", "Uuid", "Type", "Logger", "Severity", "Payload", "EnvVersion", "Pid", "Hostname"]
        var found = sharedProblems
        for (k, v) in fieldMappings?.entries ?? [] {
            if !headers.contains(k) { found.append(("field_mappings.\(k)", "unknown header (known: \(headers.sorted().joined(separator: ", ")))")) }
            if case .string = v {} else { found.append(("field_mappings.\(k)", "must be a string")) }
        }
        return found
    }
}

struct ESLogstashV0EncoderOptions: ElasticsearchEncoderKeys {
    static let script = "lua_encoders/es_logstash_v0.lua"
    var index: String?
    var typeName: String?
    var fields: [String]?
    var timestamp: String?
    var esIndexFromTimestamp: Bool?
    var id: String?
    var rawBytesFields: [String]?
    var dynamicFields: [String]?
    var useMessageType: Bool?
    static let options: [OptionSpec<Self>] = sharedKeys(index: "logstash-%{%Y.%m.%d}", \.index, \.typeName, \.fields, \.timestamp,
                                                        \.esIndexFromTimestamp, \.id, \.rawBytesFields, \.dynamicFields) + [
        .init("use_message_type", \.useMessageType, "@type is the message's Type rather than type_name; default false"),
    ]
    var extra: [(String, ConfigNode)] { useMessageType.map { [("use_message_type", .bool($0))] } ?? [] }
}

extension ElasticsearchEncoderKeys {
    /// Heka's checks of `fields` and `dynamic_fields`.
    var sharedProblems: [(key: String, reason: String)] {
        var found: [(key: String, reason: String)] = []
        var dynamic = fields == nil
        for f in fields ?? [] {
            let low = f.lowercased()
            if low == "fields" || low == "dynamicfields" {
                dynamic = true
            } else if !fieldChoices.contains(low) {
                found.append(("fields", "Unsupported value \"\(low)\" in 'fields' list, must be one of \(fieldChoices.joined(separator: ", "))"))
            }
        }
        if !(dynamicFields ?? []).isEmpty && !dynamic {
            found.append(("dynamic_fields", "\"DynamicFields\" must be in 'fields' list if using 'dynamic_fields'"))
        }
        return found
    }
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

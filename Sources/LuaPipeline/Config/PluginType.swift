/// What a plugin section configures.
public enum PluginCategory: String, Sendable, CaseIterable {
    case input, splitter, decoder, filter, encoder, output
}

/// A plugin type's options: an ``OptionGroup`` that also tells the generic parts of the
/// control plane what they need without knowing the type (no downcasts).
public protocol PluginOptions: OptionGroup {
    /// The script and limits of a sandboxed plugin.
    var sandboxOptions: SandboxOptions? { get }
    /// What a filter or output reads from the router.
    var readerOptions: ReaderOptions? { get }
    /// Sections this one refers to (decoder, splitter, encoder, …): a change to one of
    /// them is a change to this plugin.
    var references: [String] { get }
    /// Problems with the sections it refers to beyond their existence and category, given
    /// a lookup by name (a MultiDecoder's subs).
    func checkReferences(_ section: (String) -> PluginConfig?) -> [(key: String, reason: String)]
}

extension PluginOptions {
    public var sandboxOptions: SandboxOptions? { nil }
    public var readerOptions: ReaderOptions? { nil }
    public var references: [String] { [] }
    public func checkReferences(_ section: (String) -> PluginConfig?) -> [(key: String, reason: String)] { [] }
}

/// How a plugin of a type is built, with its resolved options bound in. The case is the
/// plugin's category.
enum PluginBuild: Sendable {
    case input(@Sendable (BuildContext) throws(ConfigError) -> any PipelineInput)
    /// A factory of splitters (one per stream or connection), given the largest record.
    case splitter(@Sendable (_ maxRecordSize: Int) -> SplitterFactory)
    case decoder(@Sendable (BuildContext, _ input: String) throws(ConfigError) -> any RecordDecoder)
    /// A filter, and a new version of a running one (built beside it, given why).
    case filter(@Sendable (BuildContext) throws(ConfigError) -> SandboxFilterRunner,
                replacement: @Sendable (BuildContext, _ reason: String) throws(ConfigError) -> FilterReplacement)
    case encoder(@Sendable (BuildContext) throws(ConfigError) -> any MessageEncoder)
    case output(@Sendable (BuildContext, RouterReader) throws(ConfigError) -> any PipelineOutput)
}

/// Makes a new splitter for each stream.
typealias SplitterFactory = @Sendable () -> any Splitter

/// A plugin type as the config names it (Heka's names): its options and its builder,
/// declared once beside the plugin's code (`static let plugin` of each plugin file). The
/// catalog (``PluginCatalog``) is the list of these.
public struct PluginType: Sendable {
    public let name: String
    public let category: PluginCategory
    public let doc: String
    /// Every key, for the reference and the catalog test.
    public let reference: [OptionDoc]
    let resolve: @Sendable (_ table: [(key: String, value: ConfigNode)], _ at: OptionLocation) -> (any PluginOptions, PluginBuild, [ConfigError])

    init<O: PluginOptions>(_ name: String, _ category: PluginCategory, _ doc: String, _ options: O.Type, build: @escaping @Sendable (O) -> PluginBuild) {
        self.name = name
        self.category = category
        self.doc = doc
        self.reference = O.reference
        self.resolve = { table, at in
            let (o, errors) = O.resolve(table, at: at, ignoring: ["type"])
            return (o, build(o), errors)
        }
    }

    static func input<O: PluginOptions>(_ name: String, _ doc: String, _ o: O.Type,
                                        _ make: @escaping @Sendable (O, BuildContext) throws(ConfigError) -> any PipelineInput) -> PluginType {
        PluginType(name, .input, doc, o) { opts in .input { ctx throws(ConfigError) in try make(opts, ctx) } }
    }

    static func splitter<O: PluginOptions>(_ name: String, _ doc: String, _ o: O.Type,
                                           _ make: @escaping @Sendable (O, Int) -> SplitterFactory) -> PluginType {
        PluginType(name, .splitter, doc, o) { opts in .splitter { make(opts, $0) } }
    }

    static func decoder<O: PluginOptions>(_ name: String, _ doc: String, _ o: O.Type,
                                          _ make: @escaping @Sendable (O, BuildContext, String) throws(ConfigError) -> any RecordDecoder) -> PluginType {
        PluginType(name, .decoder, doc, o) { opts in .decoder { ctx, input throws(ConfigError) in try make(opts, ctx, input) } }
    }

    static func filter<O: PluginOptions>(_ name: String, _ doc: String, _ o: O.Type,
                                         _ make: @escaping @Sendable (O, BuildContext) throws(ConfigError) -> SandboxFilterRunner,
                                         replacement: @escaping @Sendable (O, BuildContext, String) throws(ConfigError) -> FilterReplacement) -> PluginType {
        PluginType(name, .filter, doc, o) { opts in
            .filter({ ctx throws(ConfigError) in try make(opts, ctx) },
                    replacement: { ctx, reason throws(ConfigError) in try replacement(opts, ctx, reason) })
        }
    }

    static func encoder<O: PluginOptions>(_ name: String, _ doc: String, _ o: O.Type,
                                          _ make: @escaping @Sendable (O, BuildContext) throws(ConfigError) -> any MessageEncoder) -> PluginType {
        PluginType(name, .encoder, doc, o) { opts in .encoder { ctx throws(ConfigError) in try make(opts, ctx) } }
    }

    static func output<O: PluginOptions>(_ name: String, _ doc: String, _ o: O.Type,
                                         _ make: @escaping @Sendable (O, BuildContext, RouterReader) throws(ConfigError) -> any PipelineOutput) -> PluginType {
        PluginType(name, .output, doc, o) { opts in .output { ctx, reader throws(ConfigError) in try make(opts, ctx, reader) } }
    }
}

/// Every plugin type this build knows: one line each; each type's declaration lives beside
/// its code.
public enum PluginCatalog {
    public static let all: [PluginType] = [
        StdinInput.plugin, LogstreamerInput.plugin, FilePollingInput.plugin, TcpInput.plugin, HttpListenInput.plugin, NatsInput.plugin, UdpInput.plugin, StatsdInput.plugin, StatAccumInput.plugin,
        TokenSplitter.plugin, RegexSplitter.plugin, HekaFramingSplitter.plugin, NullSplitter.plugin,
        ProtobufDecoder.plugin, SandboxDecoder.plugin, MultiDecoder.plugin,
        SandboxFilterRunner.plugin,
        SandboxEncoder.plugin, PayloadEncoder.plugin, ProtobufEncoder.plugin, JsonEncoder.plugin,
        ElasticsearchEncoders.json, ElasticsearchEncoders.logstashV0,
        FileSink.plugin, StdoutSink.plugin, TcpOutputRunner.plugin, HttpOutputRunner.plugin, SmtpOutputRunner.plugin, DashboardOutput.plugin, CarbonSink.plugin, NatsOutput.plugin,
    ]

    /// The types by name.
    public static let types: [String: PluginType] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
}

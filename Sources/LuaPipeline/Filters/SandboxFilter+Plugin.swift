struct SandboxFilterOptions: PluginOptions {
    var sandbox = SandboxOptions()
    var reader = ReaderOptions()
    var retries = RetryOptions()
    static let options: [OptionSpec<Self>] = .flatten(\.sandbox) + .flatten(\.reader) + [
        .init(table: "retries", \.retries, "how a terminated plugin is restarted (Heka's [NAME.retries]; filters restart by default)"),
    ]
    var sandboxOptions: SandboxOptions? { sandbox }
    var readerOptions: ReaderOptions? { reader }
    func validate() -> [(key: String, reason: String)] { sandbox.validate() }
}

extension SandboxFilterRunner {
    static let plugin = PluginType.filter("SandboxFilter", "a Lua filter", SandboxFilterOptions.self) { o, ctx throws(ConfigError) in
        let (sb, settings) = try replacementParts(o, ctx)
        let reader = ctx.addReader(o.reader)
        let events = ctx.events
        return SandboxFilterRunner(
            name: ctx.name, sandbox: sb, settings: settings, reader: reader, router: ctx.router, counters: ctx.counters, log: ctx.log,
            maxProcessInject: ctx.global.maxProcessInject, maxTimerInject: ctx.global.maxTimerInject,
            matcher: o.reader.messageMatcher.readerMatch,
            putBack: ctx.restore, checkpointer: ctx.checkpointer,
            report: { [reader] in events($0, reader) })
    } replacement: { o, ctx, reason throws(ConfigError) in
        let (sb, settings) = try replacementParts(o, ctx)
        return FilterReplacement(sandbox: sb, settings: settings, matcher: o.reader.messageMatcher.readerMatch, reason: reason)
    }

    /// A new version's sandbox and settings (reload builds these beside the running one).
    private static func replacementParts(_ o: SandboxFilterOptions, _ ctx: BuildContext) throws(ConfigError) -> (Sandbox, FilterSettings) {
        let (sb, recipe) = try ctx.sandbox(.filter, o.sandbox)
        let settings = FilterSettings(
            tickerInterval: o.reader.tickerInterval.value, preservePath: o.sandbox.preserveData ? ctx.preservationPath : nil,
            statePath: ctx.preservationPath, retries: o.retries.policy, rebuild: { try? recipe.make() })
        return (sb, settings)
    }
}

import FoundationEssentials
import Glibc
import Synchronization

struct DashboardOutputOptions: PluginOptions {
    var messageMatcher = DashboardOutput.defaultMatcher
    var tickerInterval: Seconds = 5
    var buffering = BufferingOptions()
    var workingDirectory: String?
    var staticDirectory: String?
    var address = "127.0.0.1:4352"
    var maxOutputs = 1000
    static let options: [OptionSpec<Self>] = [
        .init("message_matcher", \.messageMatcher, "which messages it keeps (default: the reports, sandbox outputs and terminations)"),
        .init("ticker_interval", \.tickerInterval, "seconds between writes of what changed to working_directory"),
        .init(table: "buffering", \.buffering, "the reader's lag budget"),
        .init("working_directory", \.workingDirectory, "where the payloads are kept across restarts (default: base_dir/dashboard)"),
        .init("static_directory", \.staticDirectory, "the page's files (default: the bundled dashboard/ beside lua/)"),
        .init("address", \.address, "host:port it serves on when [luapiped] admin_address is empty (Heka's key)"),
        .init("max_outputs", \.maxOutputs, "outputs kept (PLUGIN.NAME.TYPE); payloads of more are refused and counted as skipped"),
    ]
    var readerOptions: ReaderOptions? {
        var r = ReaderOptions()
        r.messageMatcher = messageMatcher
        r.tickerInterval = tickerInterval
        r.buffering = buffering
        return r
    }
}

/// Heka's DashboardOutput: keeps the latest payload each filter output (`inject_payload`),
/// the terminations and the latest report in a ``DashboardStore`` that the admin server
/// serves with the dashboard page (docs/monitoring.md).
final class DashboardOutput: PipelineOutput, @unchecked Sendable {  // runs on its own thread; others set the atomics
    static let defaultMatcher = try! MatcherOption(compiling: "Type == 'heka.all-report' || Type == 'heka.sandbox-output' || Type == 'heka.sandbox-terminated'")  // a constant expression
    /// Where Debian's libjs-dygraphs puts the charting library the page uses.
    static let dygraphsDirectory = "/usr/share/javascript/dygraphs"

    let name: String
    let reader: RouterReader
    let store: DashboardStore
    let interval: Double
    let counters: PluginCounters
    let log: PipelineLog
    let abandon = Atomic<Bool>(false)
    let retiring = Atomic<Bool>(false)

    init(name: String, reader: RouterReader, store: DashboardStore, interval: Double, counters: PluginCounters, log: PipelineLog) {
        self.name = name
        self.reader = reader
        self.store = store
        self.interval = interval
        self.counters = counters
        self.log = log
    }

    func run() {
        var lastFlush = Date()
        while !retiring.load(ordering: .relaxed), let batch = reader.next(maxCount: 256, timeout: 0.2) {
            for m in batch {
                counters.add(.processed)
                keep(m.view)
            }
            if let last = batch.last { reader.acknowledge(through: last.seq) } else { reader.acknowledgeAll() }
            if Date().timeIntervalSince(lastFlush) >= interval {
                flush()
                lastFlush = Date()
            }
            counters.recordLag(of: reader)
        }
        flush()
    }

    private func flush() {
        for p in store.flush() {
            counters.add(.writeFailures)
            log.error(name, "cannot write \(p)")
        }
    }

    private func keep(_ v: MessageView) {
        func field(_ n: String) -> String? {
            guard let i = v.fieldIndex(named: n), case .bytes(let r)? = v.value(ofField: i) else { return nil }
            return String(decoding: UnsafeRawBufferPointer(rebasing: v.bytes[r]), as: UTF8.self)
        }
        let payload = withExtendedLifetime(v) { v.range(of: .payload).map { Array(v.bytes[$0]) } ?? [] }
        switch v.string(.type) {
        case "heka.sandbox-output":
            let plugin = v.string(.logger) ?? "", type = field("payload_type") ?? "txt", name = field("payload_name") ?? ""
            let id = "\(plugin).\(name).\(type)"
            if store.put(DashboardStore.Output(id: id, plugin: plugin, name: name, type: type, updatedNanos: v.timestamp, payload: payload)) {
                counters.add(.written)
            } else {
                counters.add(.skipped)
            }
        case "heka.sandbox-terminated":
            store.put(DashboardStore.Termination(plugin: field("plugin") ?? v.string(.logger) ?? "", reason: String(decoding: payload, as: UTF8.self),
                                                 nanos: v.timestamp))
            counters.add(.written)
        case "heka.all-report":
            store.put(DashboardStore.Output(id: "luapiped.all-report.json", plugin: "luapiped", name: "all-report", type: "json",
                                            updatedNanos: v.timestamp, payload: payload))
            counters.add(.written)
        default:
            counters.add(.skipped)
        }
    }
}

extension DashboardOutput {
    static let plugin = PluginType.output("DashboardOutput", "keeps the filters' latest outputs, terminations and reports for the dashboard and /api/outputs (served by the admin server)",
                                          DashboardOutputOptions.self) { o, ctx, reader throws(ConfigError) in
        guard FileSystem.exists(Path.join(dygraphsDirectory, "dygraph.min.js")) else {
            throw ctx.error(nil, "Debian's libjs-dygraphs is not installed (\(dygraphsDirectory)/dygraph.min.js is missing): apt-get install libjs-dygraphs")
        }
        let staticDir = o.staticDirectory.map(ctx.resolve)
            ?? ModuleSearchPath.bundledLuaDirectory().map { Path.join(Path.parent($0), "dashboard") } ?? ""
        guard FileSystem.exists(Path.join(staticDir, "index.html")) else {
            throw ctx.error("static_directory", "no index.html in \"\(staticDir)\"")
        }
        let dir = o.workingDirectory.map(ctx.resolve) ?? ctx.statePath("dashboard", "")
        let store = ctx.dashboard.store(directory: dir, staticDirectory: staticDir, maxOutputs: max(1, o.maxOutputs))
        ctx.dashboard.address.withLock { $0 = o.address }
        return DashboardOutput(name: ctx.name, reader: reader, store: store, interval: o.tickerInterval.value, counters: ctx.counters, log: ctx.log)
    }
}

import FoundationEssentials
import Glibc
import Synchronization

/// Reads a whole file every `ticker_interval` (Heka's FilePollingInput: /proc files, status
/// pages written to disk). Each read goes through the splitter (default: the whole file is
/// one record); each record becomes a message of Type `heka.file.polling`, Logger the
/// input's name, with the fields `TickerInterval` (integer seconds) and `FilePath`, which
/// the decoder (e.g. `lua_decoders/linux_loadavg.lua`) receives as its input message.
final class FilePollingInput: PipelineInput, @unchecked Sendable {  // runs on its own thread; other threads only call stop(), an atomic flag
    let name: String
    let path: String
    let interval: Double
    let records: RecordHandler
    let makeSplitter: SplitterFactory
    let log: PipelineLog
    let hostname: String
    private let stopRequested = Atomic<Bool>(false)
    private var uuids = UUIDSource.random.makeGenerator()
    private var failing = false

    init(name: String, path: String, interval: Double, records: RecordHandler, makeSplitter: @escaping SplitterFactory,
         log: PipelineLog, hostname: String) {
        self.name = name
        self.path = path
        self.interval = interval
        self.records = records
        self.makeSplitter = makeSplitter
        self.log = log
        self.hostname = hostname
    }

    func stop() { stopRequested.store(true, ordering: .relaxed) }

    func run() {
        var next = Date()
        while !stopRequested.load(ordering: .relaxed) {
            if Date() >= next {
                poll()
                next = max(next.addingTimeInterval(interval), Date().addingTimeInterval(-interval))
            }
            Threads.sleep(min(0.05, max(0, next.timeIntervalSinceNow)))
        }
    }

    /// One reading of the file. A file that cannot be read is logged once until it can be
    /// read again (and counted as a decode failure each time).
    private func poll() {
        guard let bytes = FileSystem.contents(path) else {
            records.counters.add(.decodeFailures)
            if !failing { log.error(name, "cannot read \(path): \(errnoText())") }
            failing = true
            return
        }
        if failing { log.info(name, "\(path) can be read again") }
        failing = false
        var splitter = makeSplitter()
        splitter.feed(bytes) { handle($0) }
        splitter.finish { handle($0) }
        records.reportSplitterErrors(splitter.takeErrors())
    }

    private func handle(_ record: UnsafeRawBufferPointer) {
        guard UTF8Check.isValid(record) else {
            records.handle(record)  // rejected, counted and logged as any invalid record
            return
        }
        var m = Message(uuid: uuids.next(), timestamp: Sandbox.now(), type: "heka.file.polling", logger: name,
                        payload: String(decoding: record, as: UTF8.self), pid: Int32(getpid()), hostname: hostname)
        m.fields = [Field(name: "TickerInterval", value: .integer([Int64(interval.rounded())])),
                    Field(name: "FilePath", value: .string([path]))]
        records.handle(message: MessageView(m), record: record, origin: path)
    }
}

struct FilePollingInputOptions: PluginOptions {
    var input = InputOptions()
    var filePath = ""
    var tickerInterval: Seconds = 5
    static let options: [OptionSpec<Self>] = .flatten(\.input) + [
        .init("file_path", \.filePath, required: true, "the file read whole at every tick"),
        .init("ticker_interval", \.tickerInterval, "how often the file is read"),
    ]
    var references: [String] { [input.decoder, input.splitter].compactMap { $0 } }

    func validate() -> [(key: String, reason: String)] {
        tickerInterval.value > 0 ? [] : [("ticker_interval", "must be more than 0")]
    }
}

extension FilePollingInput {
    static let plugin = PluginType.input("FilePollingInput", "reads a whole file every ticker_interval (/proc files); each record a heka.file.polling message with FilePath and TickerInterval fields",
                                         FilePollingInputOptions.self) { o, ctx throws(ConfigError) in
        let splitter = try ctx.splitter(named: o.input.splitter) { NullSplitter() }
        let decoder = try ctx.decoder(named: o.input.decoder, input: ctx.name)
        return FilePollingInput(name: ctx.name, path: ctx.resolve(o.filePath), interval: o.tickerInterval.value,
                                records: try ctx.records(o.input, decoder: decoder), makeSplitter: splitter, log: ctx.log,
                                hostname: ctx.global.hostname)
    }
}

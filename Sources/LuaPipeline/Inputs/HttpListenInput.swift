import FoundationEssentials
import Glibc
import Synchronization

struct HttpListenInputOptions: PluginOptions {
    var input = InputOptions()
    var address = "127.0.0.1:8325"
    var headers = ConfigTable()
    var requestHeaders: [String] = []
    var authType = "none"
    var username: String?
    var password: String?
    var key: String?
    var maxBodySize = 4 << 20
    static let options: [OptionSpec<Self>] = .flatten(\.input) + [
        .init("address", \.address, "host:port to serve HTTP on"),
        .init("headers", \.headers, "headers added to every response: name = \"value\", or Heka's name = [\"value\", …]"),
        .init("request_headers", \.requestHeaders, "request headers copied into each message as fields of the same name"),
        .init("auth_type", \.authType, allowed: ["none", "Basic", "API"], "`Basic`: HTTP basic authentication with username and password; `API`: the X-API-KEY header must equal key"),
        .init("username", \.username, "user name for auth_type = \"Basic\""),
        .init("password", \.password, "password for auth_type = \"Basic\""),
        .init("key", \.key, "the API key for auth_type = \"API\""),
        .init("max_body_size", \.maxBodySize, "largest request body in bytes; a longer one is answered 413 and nothing of it is kept"),
    ]
    var references: [String] { [input.decoder, input.splitter].compactMap { $0 } }

    func validate() -> [(key: String, reason: String)] {
        var out = headers.headerProblems()
        if authType == "Basic" && (username == nil || password == nil) { out.append(("auth_type", "\"Basic\" needs username and password")) }
        if authType == "API" && (key ?? "").isEmpty { out.append(("auth_type", "\"API\" needs key")) }
        if maxBodySize < 1 { out.append(("max_body_size", "must be at least 1")) }
        return out
    }
}

/// Receives events over HTTP (Heka's HttpListenInput) on libmicrohttpd (``HttpServer``):
/// any path, POST or PUT. Each request becomes a `heka.httpdata.request` message (the
/// body its Payload; with a splitter, one message per record), with Heka's fields
/// (Protocol, UserAgent, ContentType, the query's arguments) and the `request_headers`,
/// then goes through the decoder. Its data class is `disk` by default: the answer is 200
/// once every record is in the durable queue (synced with `queue_sync = "fsync"`), 400
/// naming the records that failed to decode (the others are kept), 401, 405, 413 over
/// `max_body_size` (nothing kept), 503 with Retry-After while the queue is full.
///
/// HTTP bodies carry no Uuid: a request whose answer a crash lost is stored again when the
/// client retries it (docs/delivery.md).
final class HttpListenInput: PipelineInput, @unchecked Sendable {  // the decoder runs on `decoding` only; the rest is immutable or atomic
    let name: String
    let address: String
    let options: HttpListenInputOptions
    let records: RecordHandler
    let makeSplitter: (() -> any Splitter)?
    let log: PipelineLog
    private let responseHeaders: [(String, String)]
    private let decoding: DecodeThread
    private let stopped = DoneFlag()
    private var uuids = UUIDSource.random.makeGenerator()  // used on the decode thread
    let pid = Int32(getpid())

    init(name: String, options: HttpListenInputOptions, records: RecordHandler, log: PipelineLog, makeSplitter: (() -> any Splitter)?) {
        self.name = name
        self.address = options.address
        self.options = options
        self.records = records
        self.log = log
        self.makeSplitter = makeSplitter
        self.responseHeaders = options.headers.headerLines
        self.decoding = DecodeThread(name: "\(name)-decode")
    }

    private lazy var socket = BoundSocket { [address] () throws(Socket.Failure) in try Socket.listen(address) }
    var listenAddress: String? { address }
    func open() throws(Socket.Failure) { try socket.open() }
    func stop() { stopped.set() }

    func run() {
        let server: HttpServer
        do {
            let fd = try socket.take()
            server = try HttpServer(listenFD: fd, maxBody: options.maxBodySize, handle: { [self] in answer($0) },
                                    log: { [self] in log.error(name, "HTTP: \($0)") },
                                    failed: { [self] _ in records.counters.add(.refused) })
        } catch {
            log.error(name, "\(error)")
            records.counters.add(.listenFailures)
            return
        }
        log.debug(name, "serving HTTP on \(address)")
        stopped.wait()
        server.stop()
        decoding.stop()
    }

    /// One request's answer (on a connection thread).
    private func answer(_ r: HttpServer.Request) -> HttpServer.Response {
        records.counters.add(.requests)
        func refuse(_ status: Int, _ why: String, _ extra: [(String, String)] = []) -> HttpServer.Response {
            records.counters.add(.refused)
            return HttpServer.Response(status: status, body: why + "\n", headers: responseHeaders + extra)
        }
        switch options.authType {
        case "Basic":
            guard let auth = r.basicAuth, auth.user == options.username, auth.password == options.password else {
                log.error(name, "request from \(r.peer) refused: bad or missing Basic credentials")
                return refuse(401, "unauthorized", [("WWW-Authenticate", "Basic realm=\"luapiped\"")])
            }
        case "API":
            guard r.header("X-API-KEY") == options.key else {
                log.error(name, "request from \(r.peer) refused: bad or missing X-API-KEY")
                return refuse(401, "unauthorized")
            }
        default: break
        }
        guard r.method == "POST" || r.method == "PUT" else { return refuse(405, "POST or PUT", [("Allow", "POST, PUT")]) }
        if r.tooBig {
            log.error(name, "request from \(r.peer) refused: body over max_body_size (\(options.maxBodySize) bytes)")
            return refuse(413, "body over \(options.maxBodySize) bytes")
        }
        if let q = records.queue, !q.hasRoom(for: r.body.count) {
            return refuse(503, "the durable queue is full; retry later", [("Retry-After", "1")])
        }
        let template = messageTemplate(r)
        let body = Array(r.body)
        let (outcome, end) = decoding.run { [self] in (decode(body, template: template), records.durableEnd) }
        if outcome.unstored > 0 || !(records.queue?.waitDurable(end) ?? true) {
            return refuse(503, "not stored (stopping, or the queue could not write); retry", [("Retry-After", "1")])
        }
        guard outcome.failures.isEmpty else {
            let text = outcome.failures.map { "record \($0.0): \($0.1)" }.joined(separator: "\n")
            return HttpServer.Response(status: 400, body: "\(outcome.stored) records stored; these failed:\n\(text)\n", headers: responseHeaders)
        }
        return HttpServer.Response(status: 200, body: "", headers: responseHeaders)
    }

    /// The headers and fields every message of a request has (Heka's form).
    private func messageTemplate(_ r: HttpServer.Request) -> Message {
        var m = Message(type: "heka.httpdata.request", logger: name, severity: 6, pid: pid, hostname: r.peer)
        var fields = [Field(name: "Protocol", value: .string([r.version])),
                      Field(name: "UserAgent", value: .string([r.header("User-Agent") ?? ""])),
                      Field(name: "ContentType", value: .string([r.header("Content-Type") ?? ""]))]
        for (k, v) in r.arguments { fields.append(Field(name: k, value: .string([v]))) }
        for h in options.requestHeaders { if let v = r.header(h) { fields.append(Field(name: h, value: .string([v]))) } }
        m.fields = fields
        return m
    }

    struct Outcome {
        var stored = 0
        var unstored = 0
        var failures: [(Int, String)] = []
    }

    /// Splits and decodes a body on the decode thread.
    private func decode(_ body: [UInt8], template: Message) -> Outcome {
        var records: [[UInt8]] = []
        if var splitter = makeSplitter?() {
            splitter.feed(body) { records.append(Array($0)) }
            splitter.finish { records.append(Array($0)) }
            self.records.reportSplitterErrors(splitter.takeErrors())
        } else {
            records = [body]
        }
        var out = Outcome()
        let now = Sandbox.now()
        for (i, record) in records.enumerated() {
            guard let text = String(validating: record, as: UTF8.self) else {
                self.records.counters.add(.decodeFailures)
                out.failures.append((i + 1, "not valid UTF-8"))
                continue
            }
            var m = template
            m.uuid = uuids.next()
            m.timestamp = now
            m.payload = text
            let result = record.withUnsafeBytes { self.records.handle(message: MessageView(m), record: $0, origin: "request record \(i + 1)") }
            if !result.stored { out.unstored += 1 } else if result.failure == nil { out.stored += 1 }
            if let f = result.failure { out.failures.append((i + 1, f)) }
        }
        return out
    }
}

extension HttpListenInput {
    static let plugin = PluginType.input("HttpListenInput", "receives events over HTTP POST or PUT (libmicrohttpd); answers 200 once they are in the durable queue",
                                         HttpListenInputOptions.self) { o, ctx throws(ConfigError) in
        let max = ctx.global.maxMessageSize
        let splitter: SplitterFactory? = o.input.splitter == nil ? nil : try ctx.splitter(named: o.input.splitter) { TokenSplitter(maxRecordSize: max) }
        let decoder = try ctx.decoder(named: o.input.decoder, input: ctx.name)
        return HttpListenInput(name: ctx.name, options: o, records: try ctx.records(o.input, decoder: decoder, delivery: .disk), log: ctx.log,
                               makeSplitter: splitter)
    }
}

extension ConfigTable {
    /// Header lines from a `headers` table: name = "value", or Heka's name = ["value", …]
    /// (one line each).
    var headerLines: [(String, String)] {
        entries.flatMap { kv -> [(String, String)] in
            switch kv.value {
            case .string(let s): [(kv.key, s)]
            case .array(let values): values.compactMap { if case .string(let s) = $0 { (kv.key, s) } else { nil } }
            default: []
            }
        }
    }

    /// Entries that are not a string or a list of strings.
    func headerProblems(_ key: String = "headers") -> [(key: String, reason: String)] {
        entries.compactMap { kv in
            switch kv.value {
            case .string: return nil
            case .array(let values) where values.allSatisfy({ if case .string = $0 { true } else { false } }): return nil
            default: return ("\(key).\(kv.key)", "must be a string or an array of strings")
            }
        }
    }
}

struct HttpOutputOptions: PluginOptions {
    var reader = ReaderOptions()
    var output = OutputOptions()
    var address = ""
    var method = "POST"
    var headers = ConfigTable()
    var username: String?
    var password: String?
    var httpTimeout = 10_000
    var flushCount = 1
    var flushBytes = 4 << 20
    var flushInterval = 1000
    var compression = "none"
    var bulkResponse = "none"
    static let options: [OptionSpec<Self>] = .flatten(\.reader) + .flatten(\.output) + [
        .init("address", \.address, required: true, "the URL requested for each message or batch (http:// or https://)"),
        .init("method", \.method, "the HTTP method"),
        .init("headers", \.headers, "extra request headers: name = \"value\", or Heka's name = [\"value\", …]"),
        .init("username", \.username, "user name for HTTP basic authentication"),
        .init("password", \.password, "password for HTTP basic authentication"),
        .init("http_timeout", \.httpTimeout, "milliseconds before a request counts as failed and is retried (0 = none)"),
        .init("flush_count", \.flushCount, "messages sent in one request (1: a request per message; above: a batch, one message per line)"),
        .init("flush_bytes", \.flushBytes, "a batch is sent once its body reaches this many bytes"),
        .init("flush_interval", \.flushInterval, "milliseconds a batch waits for more messages before it is sent"),
        .init("compression", \.compression, allowed: ["none", "gzip"], "request bodies gzip-compressed (Content-Encoding: gzip)"),
        .init("bulk_response", \.bulkResponse, allowed: ["none", "elasticsearch"],
              "`elasticsearch`: a 200 is read as a bulk answer, its failed items sent again (429, 5xx) or skipped (other errors)"),
    ]
    var readerOptions: ReaderOptions? { reader }
    var references: [String] { [output.encoder].compactMap { $0 } }

    func validate() -> [(key: String, reason: String)] {
        var out = headers.headerProblems()
        if flushCount < 1 { out.append(("flush_count", "must be at least 1")) }
        if flushBytes < 1 { out.append(("flush_bytes", "must be at least 1")) }
        if flushInterval < 0 { out.append(("flush_interval", "must not be negative")) }
        return out
    }
}

extension HttpOutputRunner {
    static let plugin = PluginType.output("HttpOutput", "HTTP requests to a webhook or a store: a request per message, or batches (flush_count); 5xx, 408, 429 and timeouts retried, refused batches cut down to the refused messages",
                                          HttpOutputOptions.self) { o, ctx, reader throws(ConfigError) in
        HttpOutputRunner(name: ctx.name, reader: reader, encoder: try ctx.encoder(named: o.output.encoder), options: o, counters: ctx.counters, log: ctx.log)
    }
}

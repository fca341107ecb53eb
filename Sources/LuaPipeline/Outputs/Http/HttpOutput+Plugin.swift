struct HttpOutputOptions: PluginOptions {
    var reader = ReaderOptions()
    var output = OutputOptions()
    var address = ""
    var method = "POST"
    var headers = ConfigTable()
    var username: String?
    var password: String?
    var httpTimeout = 10_000
    static let options: [OptionSpec<Self>] = .flatten(\.reader) + .flatten(\.output) + [
        .init("address", \.address, required: true, "the URL requested for each message (http:// or https://)"),
        .init("method", \.method, "the HTTP method"),
        .init("headers", \.headers, "extra request headers: name = \"value\", or Heka's name = [\"value\", …]"),
        .init("username", \.username, "user name for HTTP basic authentication"),
        .init("password", \.password, "password for HTTP basic authentication"),
        .init("http_timeout", \.httpTimeout, "milliseconds before a request counts as failed and is retried (0 = none)"),
    ]
    var readerOptions: ReaderOptions? { reader }
    var references: [String] { [output.encoder].compactMap { $0 } }

    func validate() -> [(key: String, reason: String)] { headers.headerProblems() }
}

extension HttpOutputRunner {
    static let plugin = PluginType.output("HttpOutput", "one HTTP request per message (webhooks): 2xx delivered, 5xx and network errors retried, 4xx skipped",
                                          HttpOutputOptions.self) { o, ctx, reader throws(ConfigError) in
        // Heka's form is a list per name (`Content-Type = ["application/json"]`): one header line each.
        let headers = o.headers.headerLines
        return HttpOutputRunner(name: ctx.name, reader: reader, encoder: try ctx.encoder(named: o.output.encoder), url: o.address, method: o.method,
                                headers: headers, username: o.username, password: o.password, timeout: Double(o.httpTimeout) / 1000,
                                counters: ctx.counters, log: ctx.log)
    }
}

struct SmtpOutputOptions: PluginOptions {
    var reader = ReaderOptions()
    var output = OutputOptions()
    var sendFrom = ""
    var sendTo: [String] = []
    var subject = "luapiped alert"
    var host = "127.0.0.1:25"
    var auth = "none"
    var user: String?
    var password: String?
    var sendInterval = 0
    static let options: [OptionSpec<Self>] = .flatten(\.reader) + .flatten(\.output) + [
        .init("send_from", \.sendFrom, required: true, "the sender address"),
        .init("send_to", \.sendTo, required: true, "the recipient addresses"),
        .init("subject", \.subject, "the e-mails' subject"),
        .init("host", \.host, "the SMTP server, host:port"),
        .init("auth", \.auth, "none, or Plain (AUTH PLAIN with user and password)"),
        .init("user", \.user, "user name for AUTH PLAIN"),
        .init("password", \.password, "password for AUTH PLAIN"),
        .init("send_interval", \.sendInterval, "seconds between two e-mails; what arrives meanwhile goes into the next"),
    ]
    var readerOptions: ReaderOptions? { reader }
    var references: [String] { [output.encoder].compactMap { $0 } }
    var plain: Bool { auth.lowercased() == "plain" }

    func validate() -> [(key: String, reason: String)] {
        plain && user == nil ? [("user", "auth = \"Plain\" needs a user (and a password)")] : []
    }
}

extension SmtpOutputRunner {
    static let plugin = PluginType.output("SmtpOutput", "e-mails each message (by default its Payload) through an SMTP server",
                                          SmtpOutputOptions.self) { o, ctx, reader throws(ConfigError) in
        SmtpOutputRunner(name: ctx.name, reader: reader, encoder: try ctx.encoder(named: o.output.encoder), host: o.host, from: o.sendFrom,
                         to: o.sendTo, subject: o.subject, user: o.plain ? o.user : nil, password: o.plain ? o.password : nil,
                         sendInterval: Double(o.sendInterval), counters: ctx.counters, log: ctx.log, hostname: ctx.global.hostname)
    }
}

import CLua
import FoundationEssentials
import Glibc
import Synchronization

/// TLS for a NATS connection (`[NAME.tls]`).
public struct NatsTlsOptions: OptionGroup {
    public var certFile: String?
    public var keyFile: String?
    public var rootCafile: String?
    public init() {}

    public static let options: [OptionSpec<Self>] = [
        .init("cert_file", \.certFile, "client certificate (PEM) presented to the server"),
        .init("key_file", \.keyFile, "the client certificate's private key (PEM)"),
        .init("root_cafile", \.rootCafile, "CA certificates (PEM) the server's certificate is checked against"),
    ]
}

/// What NatsOutput and NatsInput share: the servers, the subject and its JetStream stream,
/// and how to authenticate.
public struct NatsOptions: OptionGroup {
    public var servers = ["nats://127.0.0.1:4222"]
    public var subject = ""
    public var stream = "LUAPIPED"
    public var streamReplicas = 1
    public var streamMaxAge: Seconds = 0
    public var duplicateWindow: Seconds = 120
    public var credentials: String?
    public var user: String?
    public var password: String?
    public var token: String?
    public var tls = NatsTlsOptions()
    public init() {}

    public static let options: [OptionSpec<Self>] = [
        .init("servers", \.servers, "NATS server URLs (nats://host:port, tls://host:port); every one is tried, for ever"),
        .init("subject", \.subject, required: true, "the subject messages are published to (output) or consumed from (input)"),
        .init("stream", \.stream, "the JetStream stream; created when missing (file storage, subjects [subject]); an existing stream must cover subject"),
        .init("stream_replicas", \.streamReplicas, "replicas of a stream created here (3 in a three-node cluster)"),
        .init("stream_max_age", \.streamMaxAge, "how long a stream created here keeps messages (0 = no limit)"),
        .init("duplicate_window", \.duplicateWindow, "how long a stream created here remembers Nats-Msg-Id values to drop resends"),
        .init("credentials", \.credentials, "a NATS .creds file (user JWT and NKey seed)"),
        .init("user", \.user, "user name (with password)"),
        .init("password", \.password, "password for user"),
        .init("token", \.token, "authentication token"),
        .init(table: "tls", \.tls, "TLS: client certificate and trusted CAs (implied by tls:// URLs)"),
    ]

    func problems() -> [(key: String, reason: String)] {
        var out: [(key: String, reason: String)] = []
        if servers.isEmpty { out.append(("servers", "needs at least one URL")) }
        if subject.isEmpty || subject.contains(" ") { out.append(("subject", "must be a NATS subject without spaces")) }
        if stream.isEmpty || stream.contains(where: { " .*>".contains($0) }) { out.append(("stream", "must be a stream name (no spaces, dots, * or >)")) }
        if streamReplicas < 1 || streamReplicas > 5 { out.append(("stream_replicas", "must be 1 to 5")) }
        if user != nil && password == nil { out.append(("password", "user needs password")) }
        if (tls.certFile == nil) != (tls.keyFile == nil) { out.append(("tls", "cert_file and key_file go together")) }
        return out
    }
}

/// One connection to NATS with its JetStream context, over libnats (``clp_nats_open``).
/// libnats reconnects for ever in the background; its callbacks arrive on its own threads
/// and are handed on through the closures given here, which must be quick.
final class NatsConnection: @unchecked Sendable {  // the handle is libnats's, which is thread-safe
    struct Failure: Error, CustomStringConvertible {
        let description: String
        /// Not worth retrying as it is (the configuration is wrong).
        let lasting: Bool
    }

    /// The callbacks' target, kept alive from open to close.
    final class Events: @unchecked Sendable {  // immutable closures
        let ack: @Sendable (_ id: String, _ ok: Bool, _ duplicate: Bool, _ error: String) -> Void
        let state: @Sendable (_ connected: Bool) -> Void
        init(ack: @escaping @Sendable (String, Bool, Bool, String) -> Void, state: @escaping @Sendable (Bool) -> Void) {
            self.ack = ack
            self.state = state
        }
    }

    private let handle: OpaquePointer
    private let events: Unmanaged<Events>
    private let closed = Atomic<Bool>(false)

    /// Connects; throws when no server took the connection (not lasting: try again) or
    /// libnats refuses the options (a missing credentials or certificate file: lasting).
    init(_ o: NatsOptions, name: String, maxPending: Int = 0, ackWait: Double = 5, events: Events) throws(Failure) {
        let box = Unmanaged.passRetained(events)
        let strings = o.servers + [name, o.user, o.password, o.token, o.credentials, o.tls.certFile, o.tls.keyFile, o.tls.rootCafile].map { $0 ?? "" }
        let c = strings.map { strdup($0) }
        defer { c.forEach { free($0) } }
        let n = o.servers.count
        func at(_ i: Int, _ present: String?) -> UnsafePointer<CChar>? { present == nil ? nil : UnsafePointer(c[n + i]) }
        let servers: [UnsafePointer<CChar>?] = c[0..<n].map { UnsafePointer($0) }
        var err = [CChar](repeating: 0, count: 512)
        var h: OpaquePointer?
        let rc = servers.withUnsafeBufferPointer { servers -> Int32 in
            var cfg = clp_nats_config()
            cfg.servers = servers.baseAddress
            cfg.nservers = Int32(n)
            cfg.name = at(0, name)
            cfg.user = at(1, o.user)
            cfg.password = at(2, o.password)
            cfg.token = at(3, o.token)
            cfg.credentials = at(4, o.credentials)
            cfg.cert_file = at(5, o.tls.certFile)
            cfg.key_file = at(6, o.tls.keyFile)
            cfg.root_cafile = at(7, o.tls.rootCafile)
            cfg.tls = o.servers.contains { $0.hasPrefix("tls://") } || o.tls.certFile != nil || o.tls.rootCafile != nil ? 1 : 0
            cfg.max_pending = Int64(maxPending)
            cfg.ack_wait_ms = Int64(ackWait * 1000)
            cfg.closure = box.toOpaque()
            cfg.on_ack = { closure, id, ok, duplicate, error in
                let e = Unmanaged<Events>.fromOpaque(closure!).takeUnretainedValue()
                e.ack(String(cString: id!), ok != 0, duplicate != 0, error.map { String(cString: $0) } ?? "")
            }
            cfg.on_state = { closure, connected in
                Unmanaged<Events>.fromOpaque(closure!).takeUnretainedValue().state(connected != 0)
            }
            return clp_nats_open(&cfg, &h, &err, err.count)
        }
        guard rc == 0, let h else {
            box.release()
            throw Failure(description: "NATS: \(Self.text(err))", lasting: rc == -1)
        }
        self.handle = h
        self.events = box
    }

    deinit { close() }

    /// Closes the connection; no callback runs after this returns.
    func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        clp_nats_close(handle)
        events.release()
    }

    var connected: Bool { clp_nats_connected(handle) != 0 }

    /// Why libnats gave up on this connection for good (nil: it has not; it reconnects).
    var closedBecause: String? {
        var err = [CChar](repeating: 0, count: 512)
        return clp_nats_closed(handle, &err, err.count) != 0 ? Self.text(err) : nil
    }

    static func text(_ buf: [CChar]) -> String { buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } }

    private static func outcome(_ rc: Int32, _ err: [CChar]) throws(Failure) {
        if rc != 0 { throw Failure(description: text(err), lasting: rc == 2) }
    }

    /// Makes sure `o.stream` exists (creating it) and covers `o.subject`.
    func ensureStream(_ o: NatsOptions) throws(Failure) {
        var err = [CChar](repeating: 0, count: 512)
        let rc = clp_nats_ensure_stream(handle, o.stream, o.subject, Int64(o.streamReplicas), Int64(o.streamMaxAge.value * 1000),
                                        Int64(o.duplicateWindow.value * 1000), &err, err.count)
        try Self.outcome(rc, err)
    }

    /// Publishes asynchronously; the outcome reaches ``Events/ack``.
    func publish(subject: String, _ bytes: [UInt8], id: String) throws(Failure) {
        var err = [CChar](repeating: 0, count: 256)
        let rc = bytes.withUnsafeBytes { clp_nats_publish(handle, subject, $0.baseAddress, $0.count, id, &err, err.count) }
        try Self.outcome(rc == 0 ? 0 : 1, err)
    }

    /// A durable pull consumer.
    final class Subscription {
        let handle: OpaquePointer
        init(_ h: OpaquePointer) { handle = h }
        deinit { clp_nats_unsubscribe(handle) }

        /// Up to `batch` messages, waiting up to `timeout` seconds (none: empty).
        func fetch(_ batch: Int, timeout: Double) throws(Failure) -> Batch? {
            var err = [CChar](repeating: 0, count: 512)
            var b: OpaquePointer?
            let n = clp_nats_fetch(handle, Int32(batch), Int64(timeout * 1000), &b, &err, err.count)
            if n < 0 { throw Failure(description: Self.describe(err), lasting: false) }
            return b.map { Batch($0, count: Int(n)) }
        }

        private static func describe(_ err: [CChar]) -> String { NatsConnection.text(err) }
    }

    /// Fetched messages, freed with the batch.
    final class Batch {
        let handle: OpaquePointer
        let count: Int
        init(_ h: OpaquePointer, count: Int) {
            handle = h
            self.count = count
        }
        deinit { clp_nats_batch_free(handle) }

        func withData<T>(_ i: Int, _ body: (UnsafeRawBufferPointer) -> T) -> T {
            var len = 0
            let p = clp_nats_batch_data(handle, Int32(i), &len)
            return body(UnsafeRawBufferPointer(start: p, count: len))
        }
        func delivered(_ i: Int) -> UInt64 { clp_nats_batch_delivered(handle, Int32(i)) }
        func ack(_ i: Int) { clp_nats_batch_ack(handle, Int32(i)) }
        func term(_ i: Int) { clp_nats_batch_term(handle, Int32(i)) }
    }

    func subscribe(_ o: NatsOptions, durable: String, ackWait: Double, maxAckPending: Int) throws(Failure) -> Subscription {
        var err = [CChar](repeating: 0, count: 512)
        var s: OpaquePointer?
        let rc = clp_nats_subscribe(handle, o.stream, o.subject, durable, Int64(ackWait * 1000), Int64(maxAckPending), &s, &err, err.count)
        try Self.outcome(rc, err)
        return Subscription(s!)
    }
}

extension NatsConnection {
    /// Repeats `attempt` until it succeeds (nil once `stopping` says so): each failure is
    /// counted (`stream_errors`) and its reason logged once until it changes, then it waits
    /// 10 s for a lasting one (the configuration, for an operator to fix) or 1 s.
    /// `describe` words a failure for the log; `ready`, when given, is logged once it works
    /// after failing.
    static func retrying<T>(_ name: String, counters: PluginCounters, log: PipelineLog, ready: String? = nil,
                            describe: (Failure) -> String, stopping: () -> Bool, pause: (Double) -> Void,
                            _ attempt: () throws(Failure) -> T) -> T? {
        var said = ""
        while !stopping() {
            do throws(Failure) {
                let value = try attempt()
                if !said.isEmpty, let ready { log.info(name, ready) }
                return value
            } catch {
                counters.add(.streamErrors)
                if error.description != said { log.error(name, describe(error)) }
                said = error.description
                pause(error.lasting ? 10 : 1)
            }
        }
        return nil
    }
}

extension MessageView {
    /// The Uuid in 32 lowercase hex digits (the Nats-Msg-Id), nil without one.
    var uuidHex: String? {
        guard let r = range(of: .uuid), r.count == 16 else { return nil }
        return JSONWriter.hexString(bytes[r])
    }
}

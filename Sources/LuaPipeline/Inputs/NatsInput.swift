import FoundationEssentials
import Glibc
import Synchronization

struct NatsInputOptions: PluginOptions {
    var input = InputOptions()
    var nats = NatsOptions()
    var durable: String?
    var batch = 256
    var ackWait: Seconds = 30
    static let options: [OptionSpec<Self>] = .flatten(\.input) + .flatten(\.nats) + [
        .init("durable", \.durable, "the durable pull consumer's name (default: the section name)"),
        .init("batch", \.batch, "messages fetched at once"),
        .init("ack_wait", \.ackWait, "how long NATS waits for an acknowledgement before delivering a message again"),
    ]
    var references: [String] { [input.decoder].compactMap { $0 } }

    func validate() -> [(key: String, reason: String)] {
        var out = nats.problems()
        if batch < 1 { out.append(("batch", "must be at least 1")) }
        if ackWait.value < 1 { out.append(("ack_wait", "must be at least 1 s")) }
        if let d = durable, d.isEmpty || d.contains(where: { " .*>".contains($0) }) { out.append(("durable", "must be a consumer name (no spaces, dots, * or >)")) }
        return out
    }
}

/// Consumes a NATS JetStream subject through a durable pull consumer (libnats, opened on
/// first use): each NATS message is one record, by default a protobuf message (what
/// NatsOutput publishes). Its data class is `disk` by default: a message is acknowledged
/// to NATS once it is in the durable queue (synced with `queue_sync = "fsync"`), so a crash
/// before that means NATS delivers it again; a redelivered message whose Uuid was already
/// stored is acknowledged without being stored twice (`duplicates`). A message that does not
/// decode is terminated (AckTerm: never redelivered), counted and logged.
final class NatsInput: PipelineInput, @unchecked Sendable {  // everything but `stopped` is used on the run thread only
    let name: String
    let options: NatsInputOptions
    let records: RecordHandler
    let log: PipelineLog
    private let stopped = Atomic<Bool>(false)
    private var resent: ResentMessages

    init(name: String, options: NatsInputOptions, records: RecordHandler, log: PipelineLog, recentPath: String) {
        self.name = name
        self.options = options
        self.records = records
        self.log = log
        self.resent = ResentMessages(path: recentPath, queue: records.queue)
    }

    func stop() { stopped.store(true, ordering: .relaxed) }
    private var stopping: Bool { stopped.load(ordering: .relaxed) }

    func run() {
        defer { resent.save(log, name) }
        let counters = records.counters
        let ev = NatsConnection.Events(ack: { _, _, _, _ in }, state: { [log, name] up in
            counters.add(up ? .connects : .disconnects)
            if up { log.info(name, "connected to NATS") } else { log.error(name, "NATS connection lost; reconnecting") }
        })
        while !stopping {
            let connection = NatsConnection.retrying(name, counters: counters, log: log, describe: { "\($0); trying again every \($0.lasting ? 10 : 1) s" },
                                                     stopping: { stopping }, pause: pause) { () throws(NatsConnection.Failure) in
                try NatsConnection(options.nats, name: "luapiped \(name)", events: ev)
            }
            guard let nc = connection else { return }
            while !stopping && nc.closedBecause == nil {
                guard let sub = subscribe(nc) else { break }
                consume(sub, on: nc)
            }
            if let why = nc.closedBecause {
                records.counters.add(.streamErrors)
                log.error(name, "NATS closed the connection: \(why); connecting again in 10 s")
                pause(10)
            }
            nc.close()
        }
    }

    private func pause(_ seconds: Double) { sleepUnlessStopping(seconds, stopping: { stopping }) }

    /// The stream made sure of and the consumer bound; a lasting refusal (the stream does
    /// not cover the subject) is logged once per new answer and asked again every 10 s.
    private func subscribe(_ nc: NatsConnection) -> NatsConnection.Subscription? {
        let stream = options.nats.stream, durable = options.durable ?? name
        let sub = NatsConnection.retrying(name, counters: records.counters, log: log,
                                          describe: { $0.lasting ? "\($0); asking again every 10 s" : "stream \(stream) not ready: \($0)" },
                                          stopping: { stopping || nc.closedBecause != nil }, pause: pause) { () throws(NatsConnection.Failure) in
            try nc.ensureStream(options.nats)
            return try nc.subscribe(options.nats, durable: durable, ackWait: options.ackWait.value, maxAckPending: max(1024, options.batch * 4))
        }
        if sub != nil { log.debug(name, "consuming \(options.nats.subject) from stream \(stream) as \(durable)") }
        return sub
    }

    /// Fetches and stores until stopped; returns to subscribe again after repeated errors.
    private func consume(_ sub: NatsConnection.Subscription, on nc: NatsConnection) {
        var failures = 0
        var lastError = ""
        while !stopping {
            if nc.closedBecause != nil { return }
            if let q = records.queue, !q.hasRoom(for: 1 << 16) {
                pause(0.1)
                continue
            }
            let batch: NatsConnection.Batch?
            do throws(NatsConnection.Failure) {
                batch = try sub.fetch(options.batch, timeout: 0.5)
                failures = 0
            } catch {
                failures += 1
                if error.description != lastError { log.error(name, "fetch failed: \(error)") }
                lastError = error.description
                if failures >= 20 { return }
                pause(0.25)
                continue
            }
            guard let batch else { continue }
            store(batch)
        }
    }

    private func store(_ batch: NatsConnection.Batch) {
        var verdicts = [Bool?](repeating: nil, count: batch.count)  // true: ack, false: terminate, nil: leave for redelivery
        for i in 0..<batch.count {
            if batch.delivered(i) > 1 { records.counters.add(.redelivered) }
            let result = batch.withData(i) { raw in
                records.handleReporting(raw, origin: "NATS message on \(options.nats.subject)") { view in
                    if resent.admit(view) { return true }
                    records.counters.add(.duplicates)
                    return false
                }
            }
            resent.finish(stored: result.stored && result.failure == nil)
            if let failure = result.failure {
                records.counters.add(.terminated)
                log.error(name, "terminating a NATS message that does not decode: \(failure)")
                verdicts[i] = false
                continue
            }
            guard result.stored else { continue }
            verdicts[i] = true
        }
        // Acknowledged only once as durable as queue_sync asks.
        let durable = records.queue?.waitDurable(records.durableEnd) ?? true
        for (i, v) in verdicts.enumerated() {
            switch v {
            case true? where durable:
                batch.ack(i)
                records.counters.add(.acknowledged)
            case false?: batch.term(i)
            default: break
            }
        }
    }
}

extension NatsInput {
    static let plugin = PluginType.input("NatsInput", "consumes a NATS JetStream subject with a durable pull consumer (libnats); protobuf by default, acknowledged once in the durable queue",
                                         NatsInputOptions.self) { o, ctx throws(ConfigError) in
        let decoder: any RecordDecoder = o.input.decoder == nil ? ProtobufDecoder() : try ctx.decoder(named: o.input.decoder, input: ctx.name)
        return NatsInput(name: ctx.name, options: o, records: try ctx.records(o.input, decoder: decoder, delivery: .disk), log: ctx.log,
                         recentPath: ctx.statePath("nats", "\(ctx.name).uuids"))
    }
}

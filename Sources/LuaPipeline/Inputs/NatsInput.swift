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
    let recentPath: String
    private let stopped = Atomic<Bool>(false)
    private var recent = RecentUuids(capacity: 200_000)

    init(name: String, options: NatsInputOptions, records: RecordHandler, log: PipelineLog, recentPath: String) {
        self.name = name
        self.options = options
        self.records = records
        self.log = log
        self.recentPath = recentPath
        if let data = FileManager.default.contents(atPath: recentPath) { recent.load(Array(data)) }
        records.queue?.forEachUuid { [self] in _ = recent.insert($0) }
    }

    func stop() { stopped.store(true, ordering: .relaxed) }
    private var stopping: Bool { stopped.load(ordering: .relaxed) }

    func run() {
        defer { saveRecent() }
        let counters = records.counters
        let ev = NatsConnection.Events(ack: { _, _, _, _ in }, state: { [log, name] up in
            counters.add(up ? .connects : .disconnects)
            if up { log.info(name, "connected to NATS") } else { log.error(name, "NATS connection lost; reconnecting") }
        })
        while !stopping {
            var connection: NatsConnection?
            var said = ""
            while !stopping && connection == nil {
                do throws(NatsConnection.Failure) {
                    connection = try NatsConnection(options.nats, name: "luapiped \(name)", events: ev)
                } catch {
                    records.counters.add(.streamErrors)
                    if error.description != said { log.error(name, "\(error); trying again every \(error.lasting ? 10 : 1) s") }
                    said = error.description
                    pause(error.lasting ? 10 : 1)
                }
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

    private func pause(_ seconds: Double) {
        let until = Date().addingTimeInterval(seconds)
        while !stopping && Date() < until { Threads.sleep(0.05) }
    }

    /// The stream made sure of and the consumer bound; a lasting refusal (the stream does
    /// not cover the subject) is logged once per new answer and asked again every 10 s.
    private func subscribe(_ nc: NatsConnection) -> NatsConnection.Subscription? {
        var said = ""
        while !stopping && nc.closedBecause == nil {
            do throws(NatsConnection.Failure) {
                try nc.ensureStream(options.nats)
                let sub = try nc.subscribe(options.nats, durable: options.durable ?? name, ackWait: options.ackWait.value,
                                           maxAckPending: max(1024, options.batch * 4))
                log.debug(name, "consuming \(options.nats.subject) from stream \(options.nats.stream) as \(options.durable ?? name)")
                return sub
            } catch {
                records.counters.add(.streamErrors)
                if error.description != said {
                    log.error(name, error.lasting ? "\(error); asking again every 10 s" : "stream \(options.nats.stream) not ready: \(error)")
                    said = error.description
                }
                pause(error.lasting ? 10 : 1)
            }
        }
        return nil
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
            var fresh: [[UInt8]] = []
            let result = batch.withData(i) { raw in
                records.handleReporting(raw, origin: "NATS message on \(options.nats.subject)") { view in
                    guard let r = view.range(of: .uuid) else { return true }
                    let uuid = UnsafeRawBufferPointer(rebasing: view.bytes[r])
                    if !recent.contains(uuid) && !fresh.contains(where: { $0.elementsEqual(uuid) }) {
                        fresh.append(Array(uuid))
                        return true
                    }
                    records.counters.add(.duplicates)
                    return false
                }
            }
            if let failure = result.failure {
                records.counters.add(.terminated)
                log.error(name, "terminating a NATS message that does not decode: \(failure)")
                verdicts[i] = false
                continue
            }
            guard result.stored else { continue }
            for u in fresh { u.withUnsafeBytes { _ = recent.insert($0) } }
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

    private func saveRecent() {
        do {
            try CheckpointWriter.write(recent.bytes(), to: recentPath)
        } catch {
            log.error(name, "cannot save the recent Uuids (\(error)): redeliveries after the restart go undetected")
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

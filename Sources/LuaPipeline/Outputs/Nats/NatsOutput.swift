import FoundationEssentials
import Glibc
import Synchronization

struct NatsOutputOptions: PluginOptions {
    var reader = ReaderOptions()
    var output = OutputOptions()
    var nats = NatsOptions()
    var maxPending = 4096
    var ackWait: Seconds = 5
    static let options: [OptionSpec<Self>] = .flatten(\.reader) + .flatten(\.output) + .flatten(\.nats) + [
        .init("max_pending", \.maxPending, "messages published and not yet acknowledged by JetStream, at most"),
        .init("ack_wait", \.ackWait, "how long a publish acknowledgement is awaited before the message is sent again"),
    ]
    var readerOptions: ReaderOptions? { reader }
    var references: [String] { [output.encoder].compactMap { $0 } }

    func validate() -> [(key: String, reason: String)] {
        var out = nats.problems()
        if maxPending < 1 { out.append(("max_pending", "must be at least 1")) }
        if ackWait.value <= 0 { out.append(("ack_wait", "must be above 0")) }
        return out
    }
}

/// Publishes each message to a NATS JetStream subject (libnats, opened on first use).
/// The body is the encoder's output, by default the message's protobuf form without
/// framing; its Nats-Msg-Id is the message's Uuid in hex, so the stream drops what is sent
/// twice within its duplicate window. Publishing is asynchronous, up to `max_pending`
/// messages in flight; the acknowledgements arrive on a libnats thread and are handed to
/// this output's thread, which advances its cursor in order over what JetStream stored.
/// A refused publish, or one unacknowledged after `ack_wait`, is sent again (with
/// backoff); while NATS is unreachable the messages stay in the router.
final class NatsOutput: PipelineOutput, @unchecked Sendable {  // run() owns the state; libnats threads only append to `events`
    let name: String
    let reader: RouterReader
    let options: NatsOutputOptions
    let encoder: any MessageEncoder
    let counters: PluginCounters
    let log: PipelineLog
    let abandon = Atomic<Bool>(false)
    let retiring = Atomic<Bool>(false)

    /// A message published and not yet acknowledged.
    private struct Flight {
        let seq: UInt64
        let id: String
        let body: [UInt8]
        var acked = false
        /// When it was last sent (nil: to be sent).
        var sentAt: Date?
    }

    private enum Event {
        case ack(id: String, ok: Bool, duplicate: Bool, error: String)
        case state(connected: Bool)
    }

    private let events = Mutex<[Event]>([])
    private let wake = Condition()
    private var flights: [Flight] = []
    private var head = 0
    private var byId: [String: [Int]] = [:]
    private var base = 0  // absolute index of flights[0]
    private var lastError = ""
    /// Flights to send (absolute indexes, in order), and when the flights were last
    /// scanned for acknowledgements overdue.
    private var unsent: [Int] = []
    private var lastScan = Date()

    init(name: String, reader: RouterReader, options: NatsOutputOptions, encoder: (any MessageEncoder)?, counters: PluginCounters, log: PipelineLog) {
        self.name = name
        self.reader = reader
        self.options = options
        self.encoder = encoder ?? ProtobufEncoder()
        self.counters = counters
        self.log = log
    }

    private func post(_ e: Event) {
        events.withLock { $0.append(e) }
        wake.withLock { wake.signal() }
    }

    private var stopping: Bool { abandon.load(ordering: .relaxed) || retiring.load(ordering: .relaxed) }

    func run() {
        var current: NatsConnection?
        defer { current?.close() }
        var ended = false
        while !retiring.load(ordering: .relaxed) {
            if current == nil || current!.closedBecause != nil {
                if let old = current, let why = old.closedBecause {
                    old.close()
                    counters.add(.streamErrors)
                    log.error(name, "NATS closed the connection: \(why); connecting again in 10 s")
                    pause(10)
                }
                current = connect()
                guard let nc = current, streamReady(nc) else {
                    if stopping { break }
                    continue
                }
                // What was in flight on the old connection is sent again (same Nats-Msg-Id).
                unsent = flights.indices.dropFirst(head).filter { !flights[$0].acked }.map { base + $0 }
            }
            let nc = current!
            handleEvents()
            settle()
            send(nc)
            if ended {
                if inFlight == 0 || abandon.load(ordering: .relaxed) { break }
                wait(0.05)
                continue
            }
            let room = options.maxPending - inFlight
            guard room > 0 else {
                wait(0.05)
                continue
            }
            guard let batch = reader.next(maxCount: min(256, room), timeout: inFlight > 0 ? 0.01 : 0.2) else {
                ended = true
                continue
            }
            for m in batch { take(m) }
            if batch.isEmpty && inFlight == 0 { reader.acknowledgeAll() }
            counters.recordLag(of: reader)
        }
        if inFlight > 0 { log.error(name, "stopping with \(inFlight) messages published but unacknowledged; they are sent again next time") }
        counters.recordLag(of: reader)
    }

    private var inFlight: Int { flights.count - head }

    private func wait(_ seconds: Double) {
        wake.lock()
        if events.withLock({ $0.isEmpty }) { wake.wait(until: Date().addingTimeInterval(seconds)) }
        wake.unlock()
    }

    /// Connects, trying again every second while no server takes the connection, and
    /// every 10 s when libnats refuses the options (a fixed file is picked up without a
    /// restart).
    private func connect() -> NatsConnection? {
        let ev = NatsConnection.Events(ack: { [weak self] id, ok, dup, err in self?.post(.ack(id: id, ok: ok, duplicate: dup, error: err)) },
                                       state: { [weak self] up in self?.post(.state(connected: up)) })
        return NatsConnection.retrying(name, counters: counters, log: log, describe: { "\($0); trying again every \($0.lasting ? 10 : 1) s" },
                                       stopping: { stopping }, pause: pause) { () throws(NatsConnection.Failure) in
            try NatsConnection(options.nats, name: "luapiped \(name)", maxPending: options.maxPending, ackWait: options.ackWait.value, events: ev)
        }
    }

    /// Waits until the stream exists and covers the subject; a stream that does not is
    /// asked again every 10 s.
    private func streamReady(_ nc: NatsConnection) -> Bool {
        let stream = options.nats.stream
        return NatsConnection.retrying(name, counters: counters, log: log, ready: "stream \(stream) is ready",
                                       describe: { $0.lasting ? "\($0); asking again every 10 s" : "stream \(stream) not ready: \($0)" },
                                       stopping: { stopping || nc.closedBecause != nil }, pause: pause) { () throws(NatsConnection.Failure) in
            try nc.ensureStream(options.nats)
        } != nil
    }

    /// Waits, keeping the lag gauges current (what waits for NATS is visible).
    private func pause(_ seconds: Double) {
        sleepUnlessStopping(seconds, stopping: { stopping }, each: { counters.recordLag(of: reader) })
    }

    /// Encodes one message into a flight (to be sent); what encodes to nothing is done.
    private func take(_ m: RoutedMessage) {
        counters.add(.processed)
        var body: [UInt8]?
        do {
            body = try encoder.encode(m.view)
        } catch {
            counters.add(.encodeFailures)
            log.error(name, "encoding message \(m.seq): \(error)")
        }
        let id = m.view.uuidHex ?? "luapiped-\(name)-\(m.seq)"
        var f = Flight(seq: m.seq, id: id, body: body ?? [])
        if body == nil {
            f.acked = true
        } else {
            byId[id, default: []].append(base + flights.count)
            unsent.append(base + flights.count)
        }
        flights.append(f)
    }

    private func handleEvents() {
        for e in events.withLock({ x in defer { x.removeAll() }; return x }) {
            switch e {
            case .state(let up):
                counters.add(up ? .connects : .disconnects)
                if up { log.info(name, "connected to NATS") } else { log.error(name, "NATS connection lost; reconnecting") }
            case .ack(let id, let ok, let duplicate, let error):
                guard var list = byId[id], !list.isEmpty else { continue }
                let i = list.removeFirst() - base
                if list.isEmpty { byId[id] = nil } else { byId[id] = list }
                if ok {
                    flights[i].acked = true
                    counters.add(duplicate ? .duplicates : .sent)
                } else {
                    // Sent again after a pause; its id goes back to the ones awaited.
                    counters.add(.retries)
                    if error != lastError { log.error(name, "publish not stored: \(error); sending again") }
                    lastError = error
                    flights[i].sentAt = Date().addingTimeInterval(-options.ackWait.value + 0.5)
                    byId[id, default: []].append(base + i)
                }
            }
        }
    }

    /// Advances the cursor over the acknowledged front, in order.
    private func settle() {
        var last: UInt64?
        while head < flights.count, flights[head].acked {
            last = flights[head].seq
            head += 1
        }
        if let last { reader.acknowledge(through: last) }
        if head > 1024 && head * 2 > flights.count {
            flights.removeFirst(head)
            base += head
            head = 0
        }
    }

    /// Sends what waits to be sent, and sends again what was not acknowledged in time
    /// (JetStream drops it if it had it: same Nats-Msg-Id).
    private func send(_ nc: NatsConnection) {
        let now = Date()
        if now.timeIntervalSince(lastScan) >= 0.5 {
            lastScan = now
            for i in head..<flights.count where !flights[i].acked {
                if let at = flights[i].sentAt, now.timeIntervalSince(at) > options.ackWait.value {
                    counters.add(.resent)
                    flights[i].sentAt = nil
                    unsent.append(base + i)
                }
            }
        }
        var done = 0
        defer { unsent.removeFirst(done) }
        for a in unsent {
            let i = a - base
            if i >= head && !flights[i].acked {
                do throws(NatsConnection.Failure) {
                    try nc.publish(subject: options.nats.subject, flights[i].body, id: flights[i].id)
                    flights[i].sentAt = now
                } catch {
                    counters.add(.writeFailures)
                    if error.description != lastError { log.error(name, "publish failed: \(error); retrying") }
                    lastError = error.description
                    return
                }
            }
            done += 1
        }
    }
}

extension NatsOutput {
    static let plugin = PluginType.output("NatsOutput", "publishes to a NATS JetStream subject (libnats): Nats-Msg-Id = Uuid, cursor advanced on JetStream's acknowledgements",
                                          NatsOutputOptions.self) { o, ctx, reader throws(ConfigError) in
        NatsOutput(name: ctx.name, reader: reader, options: o, encoder: try ctx.encoder(named: o.output.encoder), counters: ctx.counters, log: ctx.log)
    }
}

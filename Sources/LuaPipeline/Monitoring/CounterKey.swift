/// One self-monitoring counter, declared once: its key, kind, unit and help. `-v`, the
/// status and (later) `/metrics` are written from these declarations, never from ad-hoc
/// strings, and every plugin kind lists the counters it updates (``CounterKey/declared(for:)``).
public struct CounterKey: Sendable, Hashable, CustomStringConvertible {
    /// How a value behaves over time (the Prometheus types).
    public enum Kind: String, Sendable {
        /// Only grows.
        case counter
        /// Set to the current value.
        case gauge
    }

    /// The slot in every ``PluginCounters``: a plain array index, no hashing on the hot path.
    let slot: Int
    public let key: String
    public let kind: Kind
    public let unit: String
    public let help: String

    public var description: String { key }

    public static func == (a: CounterKey, b: CounterKey) -> Bool { a.slot == b.slot }
    public func hash(into h: inout Hasher) { h.combine(slot) }
}

extension CounterKey {
    private static func c(_ slot: Int, _ key: String, _ kind: Kind, _ unit: String, _ help: String) -> CounterKey {
        CounterKey(slot: slot, key: key, kind: kind, unit: unit, help: help)
    }

    private static func c(_ slot: Int, _ key: String, _ kind: Kind = .counter, help: String) -> CounterKey {
        c(slot, key, kind, "messages", help)
    }

    private static func c(_ slot: Int, _ key: String, _ unit: String, _ help: String) -> CounterKey {
        c(slot, key, .counter, unit, help)
    }

    // Every plugin kind.
    public static let processed = c(0, "processed", help: "messages handled (inputs: appended to the router)")
    public static let failures = c(1, "failures", help: "process_message calls that returned an error status")
    public static let injected = c(2, "injected", help: "messages injected into the router")
    public static let dropped = c(3, "dropped", .gauge, help: "messages skipped for this reader past its lag budget")
    public static let lagMessages = c(4, "lag_messages", .gauge, help: "messages appended that this reader has not acknowledged")
    public static let lagBytes = c(5, "lag_bytes", .gauge, "bytes", "bytes appended that this reader has not acknowledged")
    public static let memoryCurrent = c(6, "memory_current", .gauge, "bytes", "Lua memory in use")
    public static let memoryPeak = c(7, "memory_peak", .gauge, "bytes", "largest Lua memory in use")
    public static let instructionsPeak = c(8, "instructions_peak", .gauge, "instructions", "most instructions in one call")
    public static let outputPeak = c(9, "output_peak", .gauge, "bytes", "largest injected payload or message")
    // Inputs.
    public static let records = c(10, "records", "records", "records read (lines, datagrams, frames)")
    public static let bytes = c(11, "bytes", "bytes", "bytes of the records read")
    public static let decodeFailures = c(12, "decode_failures", "records", "records that failed to split or decode")
    public static let listenFailures = c(13, "listen_failures", "sockets", "sockets that could not be opened")
    public static let connections = c(14, "connections", "connections", "connections accepted")
    public static let duplicates = c(15, "duplicates", help: "messages whose Uuid was seen recently (acknowledged, not logged)")
    public static let malformed = c(16, "malformed", "lines", "StatsD lines that do not parse")
    public static let truncated = c(17, "truncated", "datagrams", "datagrams longer than max_msg_size, cut there")
    public static let statsDropped = c(18, "stats_dropped", "stats", "StatsD stats over max_stats")
    public static let samplesDropped = c(19, "samples_dropped", "samples", "timer values over max_timer_samples")
    public static let emitted = c(20, "emitted", help: "heka.statmetric messages emitted")
    // Filters.
    public static let processNanos = c(21, "process_ns", "nanoseconds", "time spent in process_message")
    public static let terminations = c(22, "terminations", "terminations", "times the sandbox was terminated")
    public static let restarts = c(23, "restarts", "restarts", "restarts after a termination")
    public static let replacements = c(24, "replacements", "versions", "new versions that took over (hot reload)")
    public static let rejectedVersions = c(25, "rejected_versions", "versions", "new versions rejected on trial")
    public static let loopDrops = c(26, "loop_drops", help: "injected messages dropped at max_message_loops")
    public static let skipped = c(27, "skipped", help: "messages not delivered (a filter's own injections; outputs: refused with a 4xx)")
    // Outputs.
    public static let written = c(28, "written", help: "messages written")
    public static let writeFailures = c(29, "write_failures", "writes", "writes that failed (retried)")
    public static let encodeFailures = c(30, "encode_failures", help: "messages the encoder refused")
    public static let sent = c(31, "sent", help: "messages delivered")
    public static let rejected = c(32, "rejected", help: "messages the endpoint refused for good")
    public static let retries = c(33, "retries", "attempts", "deliveries retried")
    public static let connects = c(34, "connects", "connections", "connections made")
    public static let disconnects = c(35, "disconnects", "connections", "connections lost")
    public static let resent = c(36, "resent", help: "unacknowledged messages sent again after a reconnect")
    public static let acknowledged = c(37, "acknowledged", help: "messages the receiver acknowledged")
    public static let mailedMessages = c(38, "mailed_messages", help: "messages sent by e-mail")
    public static let kernelDrops = c(39, "kernel_drops", "datagrams", "datagrams the kernel dropped: the receive buffer was full")
    public static let requests = c(40, "requests", "requests", "HTTP requests received")
    public static let refused = c(41, "refused", "requests", "HTTP requests refused (401, 405, 413, 503) or broken (malformed, cut short)")
    public static let queueFull = c(42, "queue_full", "episodes", "times this disk input found the durable queue full and stopped reading and acknowledging")
    public static let terminated = c(43, "terminated", help: "NATS messages that did not decode, terminated (AckTerm: never redelivered)")
    public static let redelivered = c(44, "redelivered", help: "NATS messages delivered again (not acknowledged in time before)")
    public static let streamErrors = c(45, "stream_errors", "attempts", "times the NATS stream or consumer could not be made ready")

    /// Every declared counter, in slot order.
    public static let all: [CounterKey] = [
        processed, failures, injected, dropped, lagMessages, lagBytes, memoryCurrent, memoryPeak, instructionsPeak, outputPeak,
        records, bytes, decodeFailures, listenFailures, connections, duplicates, malformed, truncated, statsDropped,
        samplesDropped, emitted, processNanos, terminations, restarts, replacements, rejectedVersions, loopDrops, skipped,
        written, writeFailures, encodeFailures, sent, rejected, retries, connects, disconnects, resent, acknowledged,
        mailedMessages, kernelDrops, requests, refused, queueFull, terminated, redelivered, streamErrors,
    ]

    /// The counters a plugin of `category` may update.
    public static func declared(for category: PluginCategory) -> [CounterKey] {
        switch category {
        case .input:
            [processed, records, bytes, decodeFailures, listenFailures, connections, duplicates, malformed, truncated,
             statsDropped, samplesDropped, emitted, kernelDrops, requests, refused, queueFull, connects, disconnects, acknowledged,
             terminated, redelivered, streamErrors]
        case .filter:
            [processed, failures, injected, dropped, lagMessages, lagBytes, memoryCurrent, memoryPeak, instructionsPeak,
             outputPeak, processNanos, terminations, restarts, replacements, rejectedVersions, loopDrops, skipped]
        case .output:
            [processed, dropped, lagMessages, lagBytes, written, writeFailures, encodeFailures, sent, rejected, retries,
             connects, disconnects, resent, acknowledged, mailedMessages, skipped, streamErrors]
        case .splitter, .decoder, .encoder:
            []
        }
    }

    /// The declared counter named `key`.
    public static func named(_ key: String) -> CounterKey? { byName[key] }

    private static let byName = Dictionary(uniqueKeysWithValues: all.map { ($0.key, $0) })
}

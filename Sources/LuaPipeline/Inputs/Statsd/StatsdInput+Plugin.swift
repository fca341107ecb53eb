import Synchronization

struct StatsdInputOptions: PluginOptions {
    var address = "127.0.0.1:8125"
    var statAccumName = "StatAccumInput"
    var maxMsgSize = 65536
    var receiveBufferBytes = UdpReceiver.defaultBufferBytes
    static let options: [OptionSpec<Self>] = [
        .init("address", \.address, "host:port to receive StatsD datagrams on"),
        .init("stat_accum_name", \.statAccumName, "the StatAccumInput section that aggregates (without one: its defaults, emitted by this input)"),
        .init("max_msg_size", \.maxMsgSize, "largest datagram read; a longer one is cut there and counted"),
        .init("receive_buffer_bytes", \.receiveBufferBytes, "the socket's receive buffer asked for (the kernel may grant less; what it drops is counted as kernel_drops)"),
    ]
    var references: [String] { [statAccumName] }
}

extension StatAccumulator.Options: PluginOptions {
    static let options: [OptionSpec<Self>] = [
        .init("ticker_interval", \.tickerIntervalSeconds, "seconds aggregated into each message"),
        .init("percent_threshold", \.percentThreshold, "timers: the percentile of mean_P, upper_P, sum_P"),
        .init("emit_in_payload", \.emitInPayload, "carbon lines (path value timestamp) in the Payload"),
        .init("emit_in_fields", \.emitInFields, "one double field per stat, named by its path"),
        .init("delete_idle_stats", \.deleteIdleStats, "drop stats not updated in an interval instead of emitting 0"),
        .init("legacy_namespaces", \.legacyNamespaces, "Etsy's stats.NAME (rate) and stats_counts.NAME (count) for counters"),
        .init("global_prefix", \.globalPrefix, "first element of every path"),
        .init("counter_prefix", \.counterPrefix, "second element for counters"),
        .init("timer_prefix", \.timerPrefix, "second element for timers"),
        .init("gauge_prefix", \.gaugePrefix, "second element for gauges"),
        .init("set_prefix", \.setPrefix, "second element for sets"),
        .init("statsd_prefix", \.statsdPrefix, "second element of numStats"),
        .init("message_type", \.messageType, "Type of the emitted messages"),
        .init("max_stats", \.maxStats, "distinct stats kept; more are dropped and counted"),
        .init("max_timer_samples", \.maxTimerSamples, "values kept per timer and interval; more are counted only"),
        .init("delivery", \.delivery, allowed: ["drop", "block"], "the data class of its messages: `drop` (metrics: a reader past its max_buffer_size skips the oldest first, counted) or `block` (docs/delivery.md)"),
    ]

    /// `ticker_interval` as the duration option reads it.
    var tickerIntervalSeconds: Seconds {
        get { Seconds(tickerInterval) }
        set { tickerInterval = newValue.value }
    }
}

/// The accumulators of StatAccumInput sections by name, shared with their StatsdInputs and
/// kept across reloads (their options follow the section).
final class StatAccumulators: Sendable {
    private let byName = Mutex<[String: StatAccumulator]>([:])

    /// The accumulator of the StatAccumInput section `name` of `config` (nil: no such section).
    func shared(_ name: String, in config: PipelineConfig) -> StatAccumulator? {
        guard let section = config.plugin(named: name), let options = section.options as? StatAccumulator.Options else { return nil }
        return byName.withLock { all in
            if let a = all[name] {
                a.options = options
                return a
            }
            let a = StatAccumulator(name: name, options: options)
            all[name] = a
            return a
        }
    }
}

extension StatsdInput {
    static let plugin = PluginType.input("StatsdInput", "receives StatsD metrics over UDP (counters, gauges, timers, histograms, sets; DogStatsD tags)",
                                         StatsdInputOptions.self) { o, ctx in
        let shared = ctx.accumulators.shared(o.statAccumName, in: ctx.config)
        return StatsdInput(name: ctx.name, address: o.address, maxMessageSize: o.maxMsgSize, receiveBufferBytes: o.receiveBufferBytes,
                           accumulator: shared ?? StatAccumulator(name: ctx.name, options: StatAccumulator.Options()),
                           ownsAccumulator: shared == nil, router: ctx.router, counters: ctx.counters, log: ctx.log, hostname: ctx.global.hostname)
    }
}

extension StatAccumInput {
    static let plugin = PluginType.input("StatAccumInput", "aggregates StatsD metrics and emits them every ticker_interval as heka.statmetric messages",
                                         StatAccumulator.Options.self) { o, ctx in
        StatAccumInput(name: ctx.name, accumulator: ctx.accumulators.shared(ctx.name, in: ctx.config) ?? StatAccumulator(name: ctx.name, options: o),
                       router: ctx.router,
                       counters: ctx.counters, hostname: ctx.global.hostname)
    }
}

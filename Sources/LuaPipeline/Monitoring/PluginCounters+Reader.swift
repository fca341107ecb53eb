extension PluginCounters {
    /// Copies a reader's lag and drops into the gauges (filters and outputs, once per batch).
    func recordLag(of reader: RouterReader) {
        let lag = reader.lag
        set(.lagMessages, Int64(lag.messages))
        set(.lagBytes, Int64(lag.bytes))
        set(.dropped, Int64(reader.currentCounters.dropped))
    }
}

/// What a reader's lag budget does when it is exceeded: Heka's `[NAME.buffering]`
/// `full_action`.
public enum FullAction: String, Sendable, CaseIterable {
    /// Hold the inputs back until the reader catches up (the default: a tailed file is its
    /// own buffer, a TCP sender feels backpressure).
    case block
    /// Skip the reader's oldest unread messages and count them (metric paths).
    case drop
    /// Ask the daemon to stop cleanly.
    case shutdown
}

/// A reader's lag budget (Heka's `[NAME.buffering]` table).
public struct Buffering: Sendable, Equatable {
    /// Bytes of encoded messages the reader may have unacknowledged (`max_buffer_size`).
    public var maxBufferSize: Int
    public var fullAction: FullAction

    public static let defaultMaxBufferSize = 8 * 1024 * 1024

    public init(maxBufferSize: Int = Buffering.defaultMaxBufferSize, fullAction: FullAction = .block) {
        self.maxBufferSize = maxBufferSize
        self.fullAction = fullAction
    }
}

/// An input's data class (`delivery`): what happens to its messages when a reader falls
/// behind.
public enum Delivery: String, Sendable, CaseIterable {  // one byte in the router's entries
    /// Hold the input back (logs: a tailed file is its own buffer).
    case block
    /// Skip the oldest first, counted (metrics: freshness over completeness).
    case drop
    /// Write to the durable log before acknowledging; past a reader's budget the messages
    /// leave memory and are read back from disk (events: never lost).
    case disk
}

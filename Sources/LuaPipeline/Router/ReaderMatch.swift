import LuapipedCore

/// What a reader takes: a predicate over messages, and the key (`MessageView.typeKey`)
/// of the one Type the predicate requires when it requires one. The two travel together
/// from the config to the reader, so a key never outlives or misses its predicate: with a
/// key, the reader passes entries of other Types over without reading their views.
public struct ReaderMatch: Sendable {
    public let accepts: @Sendable (MessageView) -> Bool
    /// A key only where `accepts` is false for every message of another Type.
    public let typeKey: UInt8?

    /// A predicate without a key: every message is offered to it.
    public init(_ accepts: @escaping @Sendable (MessageView) -> Bool) {
        self.accepts = accepts
        self.typeKey = nil
    }

    /// A compiled `message_matcher` with the key of the Type it requires, if any.
    public init(_ matcher: MessageMatcher) {
        self.accepts = { matcher.matches($0) }
        self.typeKey = matcher.typeKey
    }
}

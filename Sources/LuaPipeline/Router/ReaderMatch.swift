import LuapipedCore

/// What a reader takes: a predicate over messages, and the keys of the one Type the
/// predicate requires when it requires one (``TypeKey``). The two travel together from the
/// config to the reader, so a key never outlives or misses its predicate: with a key, the
/// reader passes entries of other Types over without reading their views, and takes
/// those of its Type unread when the Type alone decides.
public struct ReaderMatch: Sendable {
    public let accepts: @Sendable (MessageView) -> Bool
    /// Keys only where `accepts` is false for every message of another Type (and, with
    /// `decides`, true for every message of that one).
    public let typeKey: TypeKey?

    /// A predicate without a key: every message is offered to it.
    public init(_ accepts: @escaping @Sendable (MessageView) -> Bool) {
        self.accepts = accepts
        self.typeKey = nil
    }

    /// A compiled `message_matcher` with the keys of the Type it requires, if any.
    public init(_ matcher: MessageMatcher) {
        self.accepts = { matcher.matches($0) }
        self.typeKey = matcher.typeKey
    }

    /// A predicate with the keys of a Type it requires: for tests that count the calls.
    init(_ accepts: @escaping @Sendable (MessageView) -> Bool, typeKey: TypeKey?) {
        self.accepts = accepts
        self.typeKey = typeKey
    }
}

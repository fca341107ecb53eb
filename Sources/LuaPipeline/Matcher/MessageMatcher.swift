import CHekaWire
import LuapipedCore

/// Why a message matcher expression was rejected.
public struct MatcherError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong.
    public enum Kind: Sendable, Equatable {
        /// The expression does not follow the grammar (or compares a variable with a
        /// constant it can never match, such as `Pid == 'x'`).
        case syntax
        /// A `/regex/` that PCRE2 rejected.
        case regex
    }

    public let kind: Kind
    /// 1-based column, in characters, of the token the error is about.
    public let column: Int
    /// The explanation, without the position.
    public let reason: String

    public init(kind: Kind, column: Int, reason: String) {
        self.kind = kind
        self.column = column
        self.reason = reason
    }

    /// E.g. `message_matcher: syntax error at column 12: expected ')', found the end of the expression`.
    public var description: String { "message_matcher: " + detail }

    /// The description without the key, for errors that name it already.
    public var detail: String { "\(kind == .syntax ? "syntax error" : "invalid regex") at column \(column): \(reason)" }
}

/// A compiled Heka `message_matcher` expression, e.g.
/// `Type == "nginx.access" && Fields[status] >= 500`.
///
/// The expression is parsed and its regexes compiled once, in `init`; ``matches(_:)``
/// then reads the encoded message through a ``MessageView`` without decoding it into a
/// ``Message`` and without creating any `String`, which is what makes routing every
/// message through every plugin's matcher affordable.
///
/// Semantics are Heka's (its `message_matcher` documentation), with lua_sandbox's
/// extensions (RFC 3339 timestamps, `NIL` on optional headers, TRUE/FALSE on numbers):
/// - `&&` binds tighter than `||`; both short-circuit left to right.
/// - Strings compare byte-wise; numbers compare as doubles, except that integer
///   variables compared with integer literals compare exactly.
/// - A field that is absent (no such name, field index or array index) satisfies only
///   `== NIL`; a field of the wrong kind for the constant (a string field against a
///   number, a number against a regex) never matches.
/// - An absent optional header (Type, Logger, Payload, EnvVersion, Hostname, Pid) sorts
///   below every value: `==`, `>`, `>=` and `=~` are false, `!=`, `<`, `<=` and `!~` are
///   true, `== NIL` is true. Severity reads as 7 when absent.
/// - The Uuid compares as its canonical lowercase text.
/// - Quoted strings use `'` or `"`; `\'`, `\"` and `\\` are escapes, any other
///   backslash is literal. `/regex/` is PCRE2 syntax (Heka had Go's RE2, which PCRE2
///   mostly extends) with `$` anchoring only at the very end; `\/` is a slash.
///
/// Immutable; `matches` may be called from any thread, concurrently.
public final class MessageMatcher: Sendable {
    /// The source text, as given.
    public let expression: String
    /// The compiled tree (see ``MatcherEvalNode`` for why it is not the AST itself).
    let root: MatcherEvalNode

    /// The keys of the Type the expression requires, if it requires one (see
    /// ``TypeKey``): its reader tells messages apart by their router entries' keys.
    public let typeKey: TypeKey?

    /// Compiles `expression`.
    /// - Throws: ``MatcherError`` describing the first problem and its column.
    public init(_ expression: String) throws(MatcherError) {
        self.expression = expression
        let tree = try MatcherParser.parse(expression).optimized()
        root = MatcherEvalNode.make(tree)
        typeKey = tree.requiredType.map { TypeKey(watching: $0, decides: tree.isTypeAlone) }
    }

    /// Whether the message in `view` satisfies the expression.
    public func matches(_ view: MessageView) -> Bool {
        root.evaluate(view)
    }
}

/// A required Type's keys (heka_type_key.h), as a reader compares them with its router
/// entries' keys (`MessageView.typeKey`). Made by watching the Type, so every message of
/// it made from then on carries its exact key.
public struct TypeKey: Sendable, Equatable {
    /// The Type's hash key: an entry with it may be of the Type (made before the Type was
    /// watched) or of a twin; the matcher decides.
    public let hash: UInt8
    /// The Type's exact key, 128...255 (nil: it could not be watched): an entry with it
    /// is of the Type.
    public let exact: UInt8?
    /// The Type alone decides (the expression is `Type == 'x'`): an entry with the exact
    /// key is accepted without running the matcher.
    public let decides: Bool

    init(watching type: [UInt8], decides: Bool) {
        hash = type.withUnsafeBytes { heka_type_hash($0.baseAddress, $0.count) }
        let key = type.withUnsafeBytes { heka_type_watch($0.baseAddress, $0.count) }
        exact = key == 0 ? nil : key
        self.decides = decides
    }

    /// Whether an entry with `key` can be of the Type; false: it is of another Type.
    @inline(__always)
    public func admits(_ key: UInt8) -> Bool { key == hash || key == exact }
}

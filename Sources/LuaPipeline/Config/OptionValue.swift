/// A type an option can hold, and how it is read from TOML. Reading is the only place a
/// value is checked, so a resolved options value is always valid (matchers compiled,
/// durations in seconds) and nothing reads a key by its string later.
public protocol OptionValue: Sendable {
    /// How the type reads in the reference ("string", "duration …").
    static var typeDoc: String { get }
    /// The value from its TOML node; a failure is the reason (without key or location).
    static func read(_ node: ConfigNode) -> Result<Self, OptionProblem>
    /// How the value reads as a TOML literal in the reference (nil: not shown).
    var literal: String? { get }
}

/// Why a value was refused.
public struct OptionProblem: Error, Sendable {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }

    static func expected(_ what: String, _ got: ConfigNode) -> OptionProblem { OptionProblem("must be \(what), not \(got.typeName)") }
}

extension String: OptionValue {
    public static var typeDoc: String { "string" }
    public static func read(_ node: ConfigNode) -> Result<String, OptionProblem> {
        if case .string(let s) = node { return .success(s) }
        return .failure(.expected("a string", node))
    }
    public var literal: String? {
        // Not `replacing(_:with:)`: that brings the regex engine's code in at start.
        var out = "\""
        for c in self { if c == "\n" { out += "\\n" } else { out.append(c) } }
        return out + "\""
    }
}

extension Int: OptionValue {
    public static var typeDoc: String { "integer" }
    public static func read(_ node: ConfigNode) -> Result<Int, OptionProblem> {
        if case .integer(let i) = node { return .success(Int(i)) }
        return .failure(.expected("an integer", node))
    }
    public var literal: String? { "\(self)" }
}

extension Double: OptionValue {
    public static var typeDoc: String { "number" }
    public static func read(_ node: ConfigNode) -> Result<Double, OptionProblem> {
        switch node {
        case .double(let d): .success(d)
        case .integer(let i): .success(Double(i))
        default: .failure(.expected("a number", node))
        }
    }
    public var literal: String? { rounded() == self && abs(self) < 1e15 ? "\(Int64(self))" : "\(self)" }
}

extension Bool: OptionValue {
    public static var typeDoc: String { "boolean" }
    public static func read(_ node: ConfigNode) -> Result<Bool, OptionProblem> {
        if case .bool(let b) = node { return .success(b) }
        return .failure(.expected("a boolean", node))
    }
    public var literal: String? { "\(self)" }
}

extension Array: OptionValue where Element == String {
    public static var typeDoc: String { "array of strings" }
    public static func read(_ node: ConfigNode) -> Result<[String], OptionProblem> {
        guard case .array(let a) = node else { return .failure(.expected("an array of strings", node)) }
        var out: [String] = []
        for v in a {
            guard case .string(let s) = v else { return .failure(.expected("an array of strings", node)) }
            out.append(s)
        }
        return .success(out)
    }
    public var literal: String? { isEmpty ? nil : "[" + map { $0.literal ?? "" }.joined(separator: ", ") + "]" }
}

extension Optional: OptionValue where Wrapped: OptionValue {
    public static var typeDoc: String { Wrapped.typeDoc }
    public static func read(_ node: ConfigNode) -> Result<Wrapped?, OptionProblem> { Wrapped.read(node).map { $0 } }
    public var literal: String? { self?.literal }
}

/// A duration in seconds: a number of seconds (Heka's integer seconds too), or a string
/// with a unit (`"250ms"`, `"5s"`, `"1.5m"`, `"2h"`, `"100us"`, `"10ns"`).
public struct Seconds: OptionValue, Equatable, ExpressibleByFloatLiteral, ExpressibleByIntegerLiteral {
    public var value: Double
    public init(_ value: Double) { self.value = value }
    public init(floatLiteral v: Double) { value = v }
    public init(integerLiteral v: Int) { value = Double(v) }

    public static var typeDoc: String { "duration (seconds, or \"250ms\", \"5s\", \"1m\")" }
    public static func read(_ node: ConfigNode) -> Result<Seconds, OptionProblem> {
        switch node {
        case .integer(let i): return .success(Seconds(Double(i)))
        case .double(let d): return .success(Seconds(d))
        case .string(let s):
            guard let v = parse(s) else { return .failure(OptionProblem("\"\(s)\" is not a duration (e.g. \"250ms\", \"5s\", \"1m\")")) }
            return .success(Seconds(v))
        default: return .failure(.expected("a duration", node))
        }
    }
    public var literal: String? { value.literal }

    static func parse(_ s: String) -> Double? {
        let units: [(String, Double)] = [("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where s.hasSuffix(suffix) {
            if let v = Double(s.dropLast(suffix.count)), v >= 0 { return v * scale }
        }
        return nil
    }
}

/// A free-form table (`[NAME.config]` for read_config, HTTP headers), keys in file order.
public struct ConfigTable: OptionValue {
    public var entries: [(key: String, value: ConfigNode)] = []
    public init(_ entries: [(key: String, value: ConfigNode)] = []) { self.entries = entries }

    public static var typeDoc: String { "table" }
    public static func read(_ node: ConfigNode) -> Result<ConfigTable, OptionProblem> {
        if case .table(let kv) = node { return .success(ConfigTable(kv)) }
        return .failure(.expected("a table", node))
    }
    public var literal: String? { nil }
}

/// A `message_matcher`, compiled when the config is read (once: the reader and every
/// reload use this one).
public struct MatcherOption: OptionValue {
    public let source: String
    public let matcher: MessageMatcher

    /// Every message: a drop-in filter without a `message_matcher`.
    public static let all = try! MatcherOption(compiling: "TRUE")  // a constant expression

    public init(compiling source: String) throws(MatcherError) {
        self.source = source
        self.matcher = try MessageMatcher(source)
    }

    public static var typeDoc: String { "string" }
    public static func read(_ node: ConfigNode) -> Result<MatcherOption, OptionProblem> {
        guard case .string(let s) = node else { return .failure(.expected("a string", node)) }
        do throws(MatcherError) {
            return .success(try MatcherOption(compiling: s))
        } catch {
            return .failure(OptionProblem(error.detail))
        }
    }
    public var literal: String? { source.literal }

    /// The matcher as the router takes it.
    var readerMatch: ReaderMatch { ReaderMatch(matcher) }
}

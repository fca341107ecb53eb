/// One configuration key of a plugin type or of the global section, declared once: its
/// type, default and one-line doc. Parsing, defaults, unknown-key errors, `luapiped check`
/// and the docs all come from these declarations.
public struct ConfigOption: Sendable {
    public enum Kind: Sendable {
        case string, integer, double, bool, stringArray
        /// Seconds: a number, or a string with a unit (`"250ms"`, `"5s"`, `"1m"`).
        case duration
        /// A free-form table (`[NAME.config]` for read_config).
        case table
        /// A table with its own declared keys (`[NAME.buffering]`).
        case options([ConfigOption])
    }

    public let key: String
    public let kind: Kind
    public let defaultValue: ConfigNode?
    public let required: Bool
    public let doc: String

    public init(_ key: String, _ kind: Kind, default defaultValue: ConfigNode? = nil, required: Bool = false, _ doc: String) {
        self.key = key
        self.kind = kind
        self.defaultValue = defaultValue
        self.required = required
        self.doc = doc
    }
}

/// A section's values after checking against its options (defaults filled in).
public struct ResolvedOptions: Sendable {
    public var values: [String: ConfigNode]

    public func string(_ key: String) -> String? {
        if case .string(let s)? = values[key] { return s }
        return nil
    }

    public func integer(_ key: String) -> Int64? {
        if case .integer(let i)? = values[key] { return i }
        return nil
    }

    public func double(_ key: String) -> Double? {
        switch values[key] {
        case .double(let d)?: d
        case .integer(let i)?: Double(i)
        default: nil
        }
    }

    public func bool(_ key: String) -> Bool? {
        if case .bool(let b)? = values[key] { return b }
        return nil
    }

    public func strings(_ key: String) -> [String]? {
        guard case .array(let a)? = values[key] else { return nil }
        return a.compactMap { if case .string(let s) = $0 { return s } else { return nil } }
    }

    public func table(_ key: String) -> [(key: String, value: ConfigNode)]? {
        if case .table(let kv)? = values[key] { return kv }
        return nil
    }

    /// A nested option table, resolved.
    public func options(_ key: String) -> ResolvedOptions? {
        guard case .table(let kv)? = values[key] else { return nil }
        return ResolvedOptions(values: Dictionary(kv.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a }))
    }
}

extension Array where Element == ConfigOption {
    /// Checks `table` against these options: unknown keys, wrong types and missing
    /// required keys are errors (all of them, not just the first); defaults fill the rest.
    func resolve(_ table: [(key: String, value: ConfigNode)], file: String, section: String,
                 ignoring: Set<String> = [], sectionLine: Int? = nil, line: (String) -> Int?) -> (ResolvedOptions, [ConfigError]) {
        var values: [String: ConfigNode] = [:]
        var errors: [ConfigError] = []
        let byKey = Dictionary(map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        for (key, value) in table where !ignoring.contains(key) {
            guard let option = byKey[key] else {
                errors.append(ConfigError(file: file, section: section, key: key, line: line(key), "unknown key (known: \(map(\.key).sorted().joined(separator: ", ")))"))
                continue
            }
            switch option.check(value, file: file, section: section, line: line) {
            case .success(let v): values[key] = v
            case .failure(let e): errors.append(e)
            }
        }
        for option in self where values[option.key] == nil && !ignoring.contains(option.key) {
            if let d = option.defaultValue {
                values[option.key] = d
            } else if option.required {
                errors.append(ConfigError(file: file, section: section, key: option.key, line: sectionLine, "missing (\(option.doc))"))
            }
        }
        return (ResolvedOptions(values: values), errors)
    }
}

extension ConfigOption {
    func check(_ value: ConfigNode, file: String, section: String, line: (String) -> Int?) -> Result<ConfigNode, ConfigError> {
        func bad(_ expected: String) -> Result<ConfigNode, ConfigError> {
            .failure(ConfigError(file: file, section: section, key: key, line: line(key), "must be \(expected), not \(value.typeName)"))
        }
        switch (kind, value) {
        case (.string, .string), (.integer, .integer), (.bool, .bool), (.table, .table):
            return .success(value)
        case (.double, .double):
            return .success(value)
        case (.double, .integer(let i)):
            return .success(.double(Double(i)))
        case (.stringArray, .array(let a)):
            return a.allSatisfy({ if case .string = $0 { true } else { false } }) ? .success(value) : bad("an array of strings")
        case (.duration, .integer(let i)):
            return .success(.double(Double(i)))
        case (.duration, .double):
            return .success(value)
        case (.duration, .string(let s)):
            guard let seconds = ConfigOption.parseDuration(s) else {
                return .failure(ConfigError(file: file, section: section, key: key, line: line(key), "\"\(s)\" is not a duration (e.g. \"250ms\", \"5s\", \"1m\")"))
            }
            return .success(.double(seconds))
        case (.options(let nested), .table(let kv)):
            let (resolved, errors) = nested.resolve(kv, file: file, section: "\(section).\(key)", line: { line($0) })
            if let first = errors.first { return .failure(first) }
            return .success(.table(resolved.values.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }))
        default:
            let expected = switch kind {
            case .string: "a string"
            case .integer: "an integer"
            case .double: "a number"
            case .bool: "a boolean"
            case .stringArray: "an array of strings"
            case .duration: "a duration"
            case .table, .options: "a table"
            }
            return bad(expected)
        }
    }

    /// `"250ms"`, `"5s"`, `"1.5m"`, `"2h"`, `"100us"`, `"10ns"` → seconds.
    static func parseDuration(_ s: String) -> Double? {
        let units: [(String, Double)] = [("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where s.hasSuffix(suffix) {
            if let v = Double(s.dropLast(suffix.count)), v >= 0 { return v * scale }
        }
        return nil
    }
}

/// A configuration problem, located: file, section, key and line where known.
///
/// Reads like `config.toml:12: [counter] message_matcher: syntax error at column 6: …`.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String?
    public var section: String?
    public var key: String?
    public var line: Int?
    public var reason: String

    public init(file: String? = nil, section: String? = nil, key: String? = nil, line: Int? = nil, _ reason: String) {
        self.file = file
        self.section = section
        self.key = key
        self.line = line
        self.reason = reason
    }

    public var description: String {
        var s = ""
        if let file { s += file + (line.map { ":\($0)" } ?? "") + ": " }
        if let section { s += "[\(section)] " }
        if let key { s += key + ": " }
        return s + reason
    }
}

/// Every problem of a configuration at once, so `luapiped check` reports them all.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var errors: [ConfigError]

    public init(errors: [ConfigError]) { self.errors = errors }
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

import TOMLKit

/// A parsed TOML value, independent of the TOML library, with the line it was written on
/// where the source shows it.
public indirect enum ConfigNode: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case double(Double)
    case bool(Bool)
    case array([ConfigNode])
    /// Keys in the order of the file.
    case table([(key: String, value: ConfigNode)])
    /// Dates and times: not used by any luapiped option.
    case other(String)

    public static func == (a: ConfigNode, b: ConfigNode) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)): x == y
        case (.integer(let x), .integer(let y)): x == y
        case (.double(let x), .double(let y)): x == y
        case (.bool(let x), .bool(let y)): x == y
        case (.array(let x), .array(let y)): x == y
        case (.table(let x), .table(let y)): x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case (.other(let x), .other(let y)): x == y
        default: false
        }
    }

    /// How the TOML type reads in an error message.
    public var typeName: String {
        switch self {
        case .string: "a string"
        case .integer: "an integer"
        case .double: "a float"
        case .bool: "a boolean"
        case .array: "an array"
        case .table: "a table"
        case .other: "a date or time"
        }
    }

    public subscript(key: String) -> ConfigNode? {
        if case .table(let kv) = self { return kv.first { $0.key == key }?.value }
        return nil
    }

    /// Parses a TOML document.
    /// - Throws: ``ConfigError`` with the parser's line.
    public static func parse(toml text: String, file: String) throws(ConfigError) -> ConfigNode {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let e as TOMLParseError {
            throw ConfigError(file: file, line: e.source.begin.line, "invalid TOML: \(e.description)")
        } catch {
            throw ConfigError(file: file, "invalid TOML: \(error)")
        }
        let order = TOMLKeyOrder(text)
        return convert(table, path: [], order: order)
    }

    private static func convert(_ t: TOMLTable, path: [String], order: TOMLKeyOrder) -> ConfigNode {
        let keys = t.keys.sorted { order.line(path + [$0]) ?? Int.max < order.line(path + [$1]) ?? Int.max }
        return .table(keys.map { k in (k, convert(t[k]!, path: path + [k], order: order)) })
    }

    private static func convert(_ v: TOMLValueConvertible, path: [String], order: TOMLKeyOrder) -> ConfigNode {
        switch v.type {
        case .table: return convert(v.table!, path: path, order: order)
        case .array: return .array(v.array!.map { convert($0, path: path, order: order) })
        case .string: return .string(v.string!)
        case .int: return .integer(Int64(v.int!))
        case .double: return .double(v.double!)
        case .bool: return .bool(v.bool!)
        default: return .other(String(describing: v))
        }
    }
}

/// Where keys are written in a TOML text: a light line scan (`[a.b]` headers and
/// `key =` lines) that gives errors their line numbers; the TOML library reports lines
/// only for syntax errors.
struct TOMLKeyOrder {
    private var lines: [[String]: Int] = [:]

    init(_ text: String) {
        var section: [String] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.drop { $0 == " " || $0 == "\t" }
            if line.hasPrefix("[") {
                let name = line.drop { $0 == "[" }.prefix { $0 != "]" }
                section = name.split(separator: ".").map { Self.unquote($0) }
                if lines[section] == nil { lines[section] = n + 1 }
            } else if let eq = line.firstIndex(of: "="), !line.hasPrefix("#") {
                let key = Self.unquote(line[..<eq])
                if !key.isEmpty, lines[section + [key]] == nil { lines[section + [key]] = n + 1 }
            }
        }
    }

    private static func unquote(_ s: Substring) -> String {
        var t = s.trimmingCharacters(in: [" ", "\t"])
        if t.count >= 2, let f = t.first, f == "\"" || f == "'", t.last == f { t = String(t.dropFirst().dropLast()) }
        return t
    }

    /// The line of `path` (a section or a key in one), 1-based.
    func line(_ path: [String]) -> Int? { lines[path] }
}

extension String {
    fileprivate func trimmingCharacters(in set: Set<Character>) -> String {
        String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Set<Character>) -> String { String(self).trimmingCharacters(in: set) }
}

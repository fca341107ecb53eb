/// A value `read_config` returns: the plugin's settings (TOML `[NAME.config]`, or
/// `luapiped test --config KEY=VALUE`). Arrays and tables reach Lua as tables, as in
/// Hindsight (a TOML array becomes a sequence).
public indirect enum ConfigValue: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case double(Double)
    case bool(Bool)
    case array([ConfigValue])
    case table([String: ConfigValue])

    /// The value of a TOML node; nil for dates and times, which have no Lua form.
    init?(_ node: ConfigNode) {
        switch node {
        case .string(let s): self = .string(s)
        case .integer(let i): self = .integer(i)
        case .double(let d): self = .double(d)
        case .bool(let b): self = .bool(b)
        case .array(let items):
            var values: [ConfigValue] = []
            for item in items {
                guard let v = ConfigValue(item) else { return nil }
                values.append(v)
            }
            self = .array(values)
        case .table(let kv):
            var values: [String: ConfigValue] = [:]
            for (k, item) in kv {
                guard let v = ConfigValue(item) else { return nil }
                values[k] = v
            }
            self = .table(values)
        case .other: return nil
        }
    }

    /// A Lua chunk returning this value (a table constructor), run by `read_config` in an
    /// empty environment. Keys are sorted so the text is the same on every call.
    var luaChunk: String { "return " + luaLiteral }

    private var luaLiteral: String {
        switch self {
        case .string(let s): Self.quoted(s)
        case .integer(let i): i == .min ? "(-9223372036854775807-1)" : String(i)
        case .double(let d):
            d.isNaN ? "(0/0)" : d.isInfinite ? (d < 0 ? "(-1/0)" : "(1/0)") : "\(d)"  // always has "." or "e": a Lua float
        case .bool(let b): b ? "true" : "false"
        case .array(let items): "{" + items.map(\.luaLiteral).joined(separator: ",") + "}"
        case .table(let kv): "{" + kv.keys.sorted().map { "[\(Self.quoted($0))]=\(kv[$0]!.luaLiteral)" }.joined(separator: ",") + "}"
        }
    }

    /// A Lua string literal: printable ASCII as is, every other byte as a decimal escape.
    private static func quoted(_ s: String) -> String {
        var out = "\""
        for b in s.utf8 {
            if b >= 0x20 && b < 0x7f && b != UInt8(ascii: "\"") && b != UInt8(ascii: "\\") {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                out += "\\" + String(b).leftPadded(to: 3)
            }
        }
        return out + "\""
    }

    /// Reads a command-line value: integers, floats and true/false are recognised,
    /// anything else is a string.
    public init(parsing text: String) {
        if let i = Int64(text) {
            self = .integer(i)
        } else if text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }), let d = Double(text), d.isFinite {
            self = .double(d)
        } else if text == "true" || text == "false" {
            self = .bool(text == "true")
        } else {
            self = .string(text)
        }
    }
}

private extension String {
    func leftPadded(to n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}

/// Bytes at a fixed address for the sandbox's lifetime, so C may hold pointers to them.
final class PinnedBytes {
    let buffer: UnsafeMutableRawBufferPointer
    var count: Int { buffer.count }
    var base: UnsafePointer<CChar> { UnsafePointer(buffer.baseAddress!.assumingMemoryBound(to: CChar.self)) }

    init(_ bytes: some Collection<UInt8>) {
        buffer = .allocate(byteCount: Swift.max(bytes.count, 1), alignment: 1)
        _ = buffer.initializeMemory(as: UInt8.self, from: bytes)
        if bytes.isEmpty { buffer[0] = 0 }
    }

    convenience init(_ s: String) { self.init(Array(s.utf8)) }

    var length: Int { buffer.count == 1 && buffer[0] == 0 ? 0 : buffer.count }

    deinit { buffer.deallocate() }
}

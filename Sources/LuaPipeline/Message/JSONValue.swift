/// A parsed JSON document that keeps integers apart from doubles.
///
/// Foundation's JSON reader turns every number into a Double or NSNumber; a Heka
/// Timestamp (nanoseconds, above 2^53) must survive exactly, so luapiped reads JSON itself.
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case integer(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    /// Keys in document order (duplicates kept).
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case (.bool(let x), .bool(let y)): x == y
        case (.integer(let x), .integer(let y)): x == y
        case (.double(let x), .double(let y)): x == y
        case (.string(let x), .string(let y)): x == y
        case (.array(let x), .array(let y)): x == y
        case (.object(let x), .object(let y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    /// The value under `key` of an object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let kv) = self { return kv.first { $0.0 == key }?.1 }
        return nil
    }
}

/// Why a JSON text did not parse.
public struct JSONError: Error, Equatable, Sendable, CustomStringConvertible {
    public let reason: String
    /// Byte offset (0-based) where parsing stopped.
    public let offset: Int
    public var description: String { "\(reason) at byte \(offset + 1)" }
}

/// A strict RFC 8259 parser over UTF-8 bytes (rejects invalid UTF-8 and trailing text).
public struct JSONParser {
    private let b: [UInt8]
    private var i = 0
    private var depth = 0

    public static func parse(_ bytes: some Collection<UInt8>) throws(JSONError) -> JSONValue {
        var p = JSONParser(b: Array(bytes))
        p.ws()
        let v = try p.value()
        p.ws()
        guard p.i == p.b.count else { throw JSONError(reason: "unexpected text after the value", offset: p.i) }
        return v
    }

    public static func parse(_ text: String) throws(JSONError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    private init(b: [UInt8]) { self.b = b }

    private mutating func ws() {
        while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
    }

    private func fail(_ reason: String) -> JSONError { JSONError(reason: reason, offset: i) }

    private mutating func literal(_ word: String, _ v: JSONValue) throws(JSONError) -> JSONValue {
        let w = Array(word.utf8)
        guard i + w.count <= b.count, Array(b[i..<(i + w.count)]) == w else { throw fail("invalid literal") }
        i += w.count
        return v
    }

    private mutating func value() throws(JSONError) -> JSONValue {
        guard i < b.count else { throw fail("unexpected end of input") }
        switch b[i] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw fail("unexpected character")
        }
    }

    private mutating func nest() throws(JSONError) {
        depth += 1
        if depth > 256 { throw fail("nesting deeper than 256") }
    }

    private mutating func object() throws(JSONError) -> JSONValue {
        try nest()
        i += 1
        var kv: [(String, JSONValue)] = []
        ws()
        if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; depth -= 1; return .object(kv) }
        while true {
            ws()
            guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let k = try string()
            ws()
            guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            i += 1
            ws()
            kv.append((k, try value()))
            ws()
            guard i < b.count else { throw fail("unexpected end of input") }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "}") { i += 1; depth -= 1; return .object(kv) }
            throw fail("expected ',' or '}'")
        }
    }

    private mutating func array() throws(JSONError) -> JSONValue {
        try nest()
        i += 1
        var out: [JSONValue] = []
        ws()
        if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; depth -= 1; return .array(out) }
        while true {
            ws()
            out.append(try value())
            ws()
            guard i < b.count else { throw fail("unexpected end of input") }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "]") { i += 1; depth -= 1; return .array(out) }
            throw fail("expected ',' or ']'")
        }
    }

    private mutating func hex4() throws(JSONError) -> UInt32 {
        guard i + 4 <= b.count else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = b[i]
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: throw fail("bad hex digit in \\u escape")
            }
            v = v << 4 | UInt32(d)
            i += 1
        }
        return v
    }

    private mutating func string() throws(JSONError) -> String {
        i += 1
        var out: [UInt8] = []
        while true {
            guard i < b.count else { throw fail("unterminated string") }
            let c = b[i]
            if c == UInt8(ascii: "\"") { i += 1; break }
            if c < 0x20 { throw fail("control character in string") }
            if c == UInt8(ascii: "\\") {
                i += 1
                guard i < b.count else { throw fail("unterminated escape") }
                let e = b[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var cp = try hex4()
                    if (0xD800..<0xDC00).contains(cp) {
                        guard i + 1 < b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") else { throw fail("lone surrogate") }
                        i += 2
                        let lo = try hex4()
                        guard (0xDC00..<0xE000).contains(lo) else { throw fail("bad low surrogate") }
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(cp) {
                        throw fail("lone surrogate")
                    }
                    out.append(contentsOf: String(Character(Unicode.Scalar(cp)!)).utf8)
                default: throw fail("bad escape")
                }
                continue
            }
            out.append(c)
            i += 1
        }
        guard let s = String(validating: out, as: UTF8.self) else { throw fail("invalid UTF-8 in string") }
        return s
    }

    private mutating func digits() -> Int {
        let d = i
        while i < b.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[i]) { i += 1 }
        return i - d
    }

    /// RFC 8259 `number`: no leading zeros, digits on both sides of `.`, digits in the
    /// exponent. Without fraction or exponent it is an exact Int64 when it fits.
    private mutating func number() throws(JSONError) -> JSONValue {
        let s = i
        var isFloat = false
        if b[i] == UInt8(ascii: "-") { i += 1 }
        guard i < b.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[i]) else { throw fail("bad number") }
        if b[i] == UInt8(ascii: "0") { i += 1 } else { _ = digits() }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            isFloat = true
            guard digits() > 0 else { throw fail("bad number: digits must follow '.'") }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            isFloat = true
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { throw fail("bad number: digits must follow the exponent") }
        }
        let text = String(decoding: b[s..<i], as: UTF8.self)
        if !isFloat, let v = Int64(text) { return .integer(v) }
        guard let d = Double(text), d.isFinite else { throw JSONError(reason: "number out of range", offset: s) }
        return .double(d)
    }
}

/// JSON text output helpers.
enum JSONWriter {
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `s` as a JSON string; invalid UTF-8 becomes U+FFFD.
    static func appendString(_ out: inout [UInt8], _ bytes: some Collection<UInt8>) {
        out.append(0x22)
        let valid = String(validating: bytes, as: UTF8.self) ?? String(decoding: bytes, as: UTF8.self)
        for c in valid.utf8 {
            switch c {
            case 0x22: out.append(contentsOf: [0x5C, 0x22])
            case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20, 0x7F:
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(hex[Int(c >> 4)])
                out.append(hex[Int(c & 15)])
            default: out.append(c)
            }
        }
        out.append(0x22)
    }

    static func appendString(_ out: inout [UInt8], _ s: String) {
        appendString(&out, s.utf8)
    }

    /// A double always with a fraction or an exponent, so readers keep it a double;
    /// NaN and infinities, which JSON lacks, become `null`.
    static func appendDouble(_ out: inout [UInt8], _ d: Double) {
        guard d.isFinite else { out.append(contentsOf: Array("null".utf8)); return }
        var s = "\(d)"
        if !s.contains(".") && !s.contains("e") && !s.contains("E") { s += ".0" }
        out.append(contentsOf: s.utf8)
    }

    static func appendInteger(_ out: inout [UInt8], _ v: Int64) {
        out.append(contentsOf: String(v).utf8)
    }

    static func hexString(_ bytes: some Collection<UInt8>) -> String {
        var out: [UInt8] = []
        for b in bytes { out.append(hex[Int(b >> 4)]); out.append(hex[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}

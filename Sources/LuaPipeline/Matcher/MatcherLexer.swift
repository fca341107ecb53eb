/// A token of the message matcher language.
enum MatcherToken: Equatable {
    case variable(MatcherVariable)
    case trueConstant, falseConstant, nilConstant
    case relation(MatcherRelation)
    /// `=~` (false) or `!~` (true).
    case match(negated: Bool)
    case and, or, open, close
    /// A quoted string, escapes resolved.
    case string([UInt8])
    case number(MatcherNumber)
    /// The text between the slashes of `/…/`, with `\/` turned into `/`.
    case regex([UInt8])
    case end

    /// How error messages name the token.
    var description: String {
        switch self {
        case .variable(let v):
            switch v {
            case .uuid: "'Uuid'"
            case .timestamp: "'Timestamp'"
            case .severity: "'Severity'"
            case .pid: "'Pid'"
            case .stringHeader(let h): "'\(h.rawValue)'"
            case .field(let name, _, _): "'Fields[\(String(decoding: name, as: UTF8.self))]'"
            }
        case .trueConstant: "'TRUE'"
        case .falseConstant: "'FALSE'"
        case .nilConstant: "'NIL'"
        case .relation(let r):
            switch r {
            case .equal: "'=='"
            case .notEqual: "'!='"
            case .less: "'<'"
            case .lessOrEqual: "'<='"
            case .greater: "'>'"
            case .greaterOrEqual: "'>='"
            }
        case .match(let negated): negated ? "'!~'" : "'=~'"
        case .and: "'&&'"
        case .or: "'||'"
        case .open: "'('"
        case .close: "')'"
        case .string: "a quoted string"
        case .number: "a number"
        case .regex: "a /regex/"
        case .end: "the end of the expression"
        }
    }
}

/// Splits an expression into tokens; works on UTF-8 bytes and keeps byte offsets so
/// errors can point at the offending column.
struct MatcherLexer {
    let source: [UInt8]
    private(set) var offset = 0

    init(_ expression: String) {
        source = Array(expression.utf8)
    }

    /// The 1-based column (in characters) of byte `offset`.
    func column(of offset: Int) -> Int {
        // Count the bytes that start a UTF-8 character.
        source[..<min(offset, source.count)].reduce(1) { $1 & 0xC0 == 0x80 ? $0 : $0 + 1 }
    }

    func error(_ reason: String, at offset: Int, kind: MatcherError.Kind = .syntax) -> MatcherError {
        MatcherError(kind: kind, column: column(of: offset), reason: reason)
    }

    private func byte(_ i: Int) -> UInt8? { i < source.count ? source[i] : nil }

    private static func isLetter(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
    }

    private static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    /// Reads the next token and the byte offset where it starts.
    mutating func next() throws(MatcherError) -> (token: MatcherToken, offset: Int) {
        while let b = byte(offset), b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { offset += 1 }
        let start = offset
        guard let b = byte(offset) else { return (.end, start) }
        let two = byte(offset + 1)
        func op(_ token: MatcherToken, _ length: Int) -> (token: MatcherToken, offset: Int) {
            offset += length
            return (token, start)
        }
        switch b {
        case UInt8(ascii: "("): return op(.open, 1)
        case UInt8(ascii: ")"): return op(.close, 1)
        case UInt8(ascii: "="):
            if two == UInt8(ascii: "=") { return op(.relation(.equal), 2) }
            if two == UInt8(ascii: "~") { return op(.match(negated: false), 2) }
            throw error("invalid operator '='; use '==' to compare", at: start)
        case UInt8(ascii: "!"):
            if two == UInt8(ascii: "=") { return op(.relation(.notEqual), 2) }
            if two == UInt8(ascii: "~") { return op(.match(negated: true), 2) }
            throw error("invalid operator '!'; expected '!=' or '!~'", at: start)
        case UInt8(ascii: "<"):
            return two == UInt8(ascii: "=") ? op(.relation(.lessOrEqual), 2) : op(.relation(.less), 1)
        case UInt8(ascii: ">"):
            return two == UInt8(ascii: "=") ? op(.relation(.greaterOrEqual), 2) : op(.relation(.greater), 1)
        case UInt8(ascii: "&"):
            if two == UInt8(ascii: "&") { return op(.and, 2) }
            throw error("invalid operator '&'; use '&&'", at: start)
        case UInt8(ascii: "|"):
            if two == UInt8(ascii: "|") { return op(.or, 2) }
            throw error("invalid operator '|'; use '||'", at: start)
        case UInt8(ascii: "'"), UInt8(ascii: "\""):
            return (.string(try quoted(b)), start)
        case UInt8(ascii: "/"):
            return (.regex(try regexLiteral()), start)
        case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return (.number(try number()), start)
        default:
            if Self.isLetter(b) { return (try word(), start) }
            let scalar = String(decoding: source[start...].prefix(4), as: UTF8.self).unicodeScalars.first.map(String.init) ?? "?"
            throw error("unexpected character '\(scalar)'", at: start)
        }
    }

    /// A variable name or constant; `Fields` must be followed directly by `[name]`.
    private mutating func word() throws(MatcherError) -> MatcherToken {
        let start = offset
        while let b = byte(offset), Self.isLetter(b) { offset += 1 }
        let word = String(decoding: source[start..<offset], as: UTF8.self)
        switch word {
        case "TRUE": return .trueConstant
        case "FALSE": return .falseConstant
        case "NIL": return .nilConstant
        case "Uuid": return .variable(.uuid)
        case "Timestamp": return .variable(.timestamp)
        case "Severity": return .variable(.severity)
        case "Pid": return .variable(.pid)
        case "Fields": return .variable(try fieldReference(at: start))
        default:
            if let header = Header(rawValue: word) { return .variable(.stringHeader(header)) }
            throw error("unknown variable '\(word)'", at: start)
        }
    }

    /// `[name]`, then up to two `[digits]`, right after `Fields`.
    private mutating func fieldReference(at start: Int) throws(MatcherError) -> MatcherVariable {
        guard byte(offset) == UInt8(ascii: "[") else {
            throw error("expected '[' right after 'Fields'", at: offset)
        }
        let nameStart = offset + 1
        guard let close = source[nameStart...].firstIndex(of: UInt8(ascii: "]")) else {
            throw error("unterminated field name; expected ']'", at: offset)
        }
        guard close > nameStart else { throw error("empty field name in 'Fields[]'", at: offset) }
        let name = Array(source[nameStart..<close])
        offset = close + 1
        var indices: [Int] = []
        while byte(offset) == UInt8(ascii: "[") {
            let what = indices.isEmpty ? "field index" : "array index"
            guard indices.count < 2 else {
                throw error("too many indices; use Fields[name][field_index][array_index]", at: offset)
            }
            let digitsStart = offset + 1
            var end = digitsStart
            while let b = byte(end), Self.isDigit(b) { end += 1 }
            guard byte(end) == UInt8(ascii: "]"), end > digitsStart else {
                throw error("\(what) must be a non-negative integer in brackets", at: offset)
            }
            guard end - digitsStart <= 9, let value = Int(String(decoding: source[digitsStart..<end], as: UTF8.self)) else {
                throw error("\(what) is too large", at: offset)
            }
            indices.append(value)
            offset = end + 1
        }
        return .field(name: name, fieldIndex: indices.first ?? 0, arrayIndex: indices.count > 1 ? indices[1] : 0)
    }

    /// A string in `quote`s. `\` before the quote character or another `\` escapes it;
    /// any other backslash is kept as written (so Windows paths and regex-like text need
    /// no doubling, as in Heka).
    private mutating func quoted(_ quote: UInt8) throws(MatcherError) -> [UInt8] {
        let start = offset
        offset += 1
        var out: [UInt8] = []
        while let b = byte(offset) {
            if b == quote {
                offset += 1
                return out
            }
            if b == UInt8(ascii: "\\"), let n = byte(offset + 1), n == quote || n == UInt8(ascii: "\\") {
                out.append(n)
                offset += 2
                continue
            }
            out.append(b)
            offset += 1
        }
        throw error("unterminated string; expected a closing \(quote == UInt8(ascii: "'") ? "'" : "\"")", at: start)
    }

    /// `/pattern/`: `\/` stands for `/`; every other escape is passed on to PCRE2 intact.
    private mutating func regexLiteral() throws(MatcherError) -> [UInt8] {
        let start = offset
        offset += 1
        var out: [UInt8] = []
        while let b = byte(offset) {
            if b == UInt8(ascii: "/") {
                offset += 1
                return out
            }
            if b == UInt8(ascii: "\\"), let n = byte(offset + 1) {
                if n != UInt8(ascii: "/") { out.append(b) }
                out.append(n)
                offset += 2
                continue
            }
            out.append(b)
            offset += 1
        }
        throw error("unterminated regular expression; expected a closing '/'", at: start)
    }

    /// `[+-]? (digits ('.' digits*)? | '.' digits) ([eE] [+-]? digits)?`
    private mutating func number() throws(MatcherError) -> MatcherNumber {
        let start = offset
        if let b = byte(offset), b == UInt8(ascii: "+") || b == UInt8(ascii: "-") { offset += 1 }
        let intStart = offset
        while let b = byte(offset), Self.isDigit(b) { offset += 1 }
        var digits = offset - intStart
        var integral = true
        if byte(offset) == UInt8(ascii: ".") {
            integral = false
            offset += 1
            let fracStart = offset
            while let b = byte(offset), Self.isDigit(b) { offset += 1 }
            digits += offset - fracStart
        }
        if digits > 0, let e = byte(offset), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            integral = false
            offset += 1
            if let b = byte(offset), b == UInt8(ascii: "+") || b == UInt8(ascii: "-") { offset += 1 }
            let expStart = offset
            while let b = byte(offset), Self.isDigit(b) { offset += 1 }
            if offset == expStart { digits = 0 }
        }
        // A number glued to letters or more dots ("12ab", "1.2.3") is a typo, not two tokens.
        if let b = byte(offset), Self.isLetter(b) || Self.isDigit(b) || b == UInt8(ascii: ".") { digits = 0 }
        let text = String(decoding: source[start..<offset], as: UTF8.self)
        guard digits > 0, let value = Double(text) else {
            while let b = byte(offset), Self.isLetter(b) || Self.isDigit(b) || b == UInt8(ascii: ".") { offset += 1 }
            throw error("malformed number '\(String(decoding: source[start..<offset], as: UTF8.self))'", at: start)
        }
        let exact = integral ? Int64(text.first == "+" ? String(text.dropFirst()) : text) : nil
        return MatcherNumber(double: value, integer: exact)
    }
}

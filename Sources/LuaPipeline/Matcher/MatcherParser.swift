/// Recursive-descent parser for Heka's message matcher language.
///
/// Grammar (`&&` binds tighter than `||`; both associate left, and evaluation
/// short-circuits left to right, so the grouping does not change results):
///
///     expression := or END
///     or         := and ('||' and)*
///     and        := primary ('&&' primary)*
///     primary    := '(' or ')' | 'TRUE' | 'FALSE' | test
///     test       := variable operator constant
///
/// Which operators and constants a variable accepts is checked here, so a matcher that
/// compiles can only fail to match, never fail. The rules follow Heka, plus the
/// lua_sandbox/Hindsight extensions (RFC 3339 timestamps, `NIL` on optional headers):
///
/// | variable                                   | operators and constants                          |
/// |--------------------------------------------|--------------------------------------------------|
/// | Type, Logger, Payload, EnvVersion, Hostname| relational + 'string'; `=~`/`!~` + /re/; `==`/`!=` NIL |
/// | Uuid                                       | relational + 'string'; `=~`/`!~` + /re/          |
/// | Timestamp                                  | relational + number or 'RFC 3339 string'         |
/// | Severity                                   | relational + number                              |
/// | Pid                                        | relational + number; `==`/`!=` NIL               |
/// | Fields[…]                                  | relational + 'string' or number; `=~`/`!~` + /re/; `==`/`!=` TRUE, FALSE, NIL |
struct MatcherParser {
    /// Parentheses nest at most this deep: the evaluator recurses once per level, and
    /// no real matcher comes close.
    static let maxDepth = 64

    private var lexer: MatcherLexer
    private var current: (token: MatcherToken, offset: Int) = (.end, 0)
    private var depth = 0

    /// Parses `expression` into an (unoptimised) tree.
    static func parse(_ expression: String) throws(MatcherError) -> MatcherNode {
        var parser = MatcherParser(lexer: MatcherLexer(expression))
        try parser.advance()
        if parser.current.token == .end {
            throw parser.lexer.error("empty expression", at: 0)
        }
        let node = try parser.parseOr()
        guard parser.current.token == .end else {
            throw parser.error("expected '&&', '||' or the end of the expression, found \(parser.current.token.description)")
        }
        return node
    }

    private init(lexer: MatcherLexer) {
        self.lexer = lexer
    }

    private mutating func advance() throws(MatcherError) {
        current = try lexer.next()
    }

    /// An error pointing at the current token.
    private func error(_ reason: String) -> MatcherError {
        lexer.error(reason, at: current.offset)
    }

    private mutating func parseOr() throws(MatcherError) -> MatcherNode {
        var nodes = [try parseAnd()]
        while current.token == .or {
            try advance()
            nodes.append(try parseAnd())
        }
        return nodes.count == 1 ? nodes[0] : .any(nodes)
    }

    private mutating func parseAnd() throws(MatcherError) -> MatcherNode {
        var nodes = [try parsePrimary()]
        while current.token == .and {
            try advance()
            nodes.append(try parsePrimary())
        }
        return nodes.count == 1 ? nodes[0] : .all(nodes)
    }

    private mutating func parsePrimary() throws(MatcherError) -> MatcherNode {
        switch current.token {
        case .open:
            depth += 1
            guard depth <= Self.maxDepth else {
                throw error("parentheses nested more than \(Self.maxDepth) deep")
            }
            try advance()
            let node = try parseOr()
            guard current.token == .close else {
                throw error("expected ')', found \(current.token.description)")
            }
            depth -= 1
            try advance()
            return node
        case .trueConstant:
            try advance()
            return .constant(true)
        case .falseConstant:
            try advance()
            return .constant(false)
        case .variable(let variable):
            try advance()
            return .test(try parseTest(variable))
        case .nilConstant:
            throw error("NIL can only appear on the right of '==' or '!=' after a variable")
        default:
            throw error("expected a comparison, TRUE, FALSE or '(', found \(current.token.description)")
        }
    }

    /// The operator and constant after `variable`; the current token is the operator.
    private mutating func parseTest(_ variable: MatcherVariable) throws(MatcherError) -> MatcherTest {
        let name = MatcherToken.variable(variable).description
        let op = current
        switch op.token {
        case .relation, .match: break
        default:
            throw error("expected a relational operator (==, !=, <, <=, >, >=, =~, !~) after \(name), found \(op.token.description)")
        }
        try advance()
        let value = current
        let predicate = try predicate(for: variable, named: name, op: op.token, at: op.offset, value: value.token)
        try advance()
        return MatcherTest(variable: variable, predicate: predicate)
    }

    private enum Kind { case string, uuid, timestamp, severity, pid, field }

    private func predicate(
        for variable: MatcherVariable, named name: String, op: MatcherToken, at opOffset: Int, value: MatcherToken
    ) throws(MatcherError) -> MatcherPredicate {
        let kind: Kind =
            switch variable {
            case .stringHeader: .string
            case .uuid: .uuid
            case .timestamp: .timestamp
            case .severity: .severity
            case .pid: .pid
            case .field: .field
            }
        let isString = kind == .string || kind == .uuid
        let isNumeric = kind == .timestamp || kind == .severity || kind == .pid

        // Regex operators: string variables and fields only, and only with /…/.
        if case .match(let negated) = op {
            guard !isNumeric else {
                throw lexer.error("\(op.description) needs a string variable; \(name) is numeric", at: opOffset)
            }
            guard case .regex(let pattern) = value else {
                throw error("expected a /regex/ after \(op.description), found \(value.description)")
            }
            do throws(MatcherRegex.CompileError) {
                return .regex(try MatcherRegex(pattern: pattern), negated: negated)
            } catch {
                throw lexer.error(
                    "/\(String(decoding: pattern, as: UTF8.self))/: \(error.message) at offset \(error.offset) of the pattern",
                    at: current.offset, kind: .regex)
            }
        }
        guard case .relation(let relation) = op else { preconditionFailure("operator checked by parseTest") }
        let equality = relation == .equal || relation == .notEqual

        switch value {
        case .string(let bytes):
            if isString || kind == .field { return .string(relation, bytes) }
            if kind == .timestamp {
                guard let ns = MatcherTimestamp.nanoseconds(bytes) else {
                    throw error("invalid timestamp '\(String(decoding: bytes, as: UTF8.self))'; expected RFC 3339, e.g. '2016-05-24T21:51:00Z'")
                }
                return .number(relation, MatcherNumber(double: Double(ns), integer: ns))
            }
            throw error("\(name) is numeric; compare it with a number, found \(value.description)")
        case .number(let number):
            if isNumeric || kind == .field { return .number(relation, number) }
            throw error("\(name) is a string; compare it with a quoted string, found \(value.description)")
        case .nilConstant:
            guard kind == .string || kind == .pid || kind == .field else {
                throw error("\(name) is always present; it cannot be compared with NIL")
            }
            guard equality else { throw error("NIL can only be compared with '==' or '!='") }
            return .isNil(wantAbsent: relation == .equal)
        case .trueConstant, .falseConstant:
            guard kind == .field else {
                throw error("\(value.description) can only be compared with a field, not \(name)")
            }
            guard equality else { throw error("\(value.description) can only be compared with '==' or '!='") }
            return .boolean(value == .trueConstant, negated: relation == .notEqual)
        case .regex:
            throw error("a /regex/ needs '=~' or '!~', not \(op.description)")
        case .end:
            throw error("expected a value after \(op.description), but the expression ended")
        default:
            throw error("expected a value after \(op.description), found \(value.description)")
        }
    }
}

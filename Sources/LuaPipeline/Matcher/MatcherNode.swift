/// The syntax tree of a message matcher expression.
///
/// The parser builds it once, ``MatcherNode/optimized()`` tidies it, and
/// ``MatcherEvalNode/make(_:)`` turns it into the tree that runs for every message.
/// Everything evaluation needs is resolved at parse time (constants are bytes or
/// numbers, regexes are compiled, the operand kinds are known to fit the variable), so
/// evaluation does no string work and cannot fail.
indirect enum MatcherNode: Sendable {
    /// `TRUE` or `FALSE`.
    case constant(Bool)
    /// `a && b && …`: operands in source order; stops at the first false one.
    case all([MatcherNode])
    /// `a || b || …`: operands in source order; stops at the first true one.
    case any([MatcherNode])
    /// One comparison, e.g. `Fields[foo][1] =~ /bar/`.
    case test(MatcherTest)
    /// Fast path for the most common test, `Type == 'x'` (or `!=`) on a string header:
    /// a length check and one `memcmp` against the view's bytes.
    case headerEquals(fieldNumber: Int, value: [UInt8], negated: Bool)
}

/// A relational operator.
enum MatcherRelation: Sendable, Equatable {
    case equal, notEqual, less, lessOrEqual, greater, greaterOrEqual

    /// Applies the relation to two comparable values.
    @inline(__always)
    func holds<T: Comparable>(_ lhs: T, _ rhs: T) -> Bool {
        switch self {
        case .equal: lhs == rhs
        case .notEqual: lhs != rhs
        case .less: lhs < rhs
        case .lessOrEqual: lhs <= rhs
        case .greater: lhs > rhs
        case .greaterOrEqual: lhs >= rhs
        }
    }

    /// Result for a value that is absent, which sorts below every present value
    /// (lua_sandbox's rule for optional headers): only `!=`, `<` and `<=` hold.
    var holdsForAbsent: Bool {
        switch self {
        case .notEqual, .less, .lessOrEqual: true
        case .equal, .greater, .greaterOrEqual: false
        }
    }
}

/// The message variable on the left of a comparison.
enum MatcherVariable: Sendable, Equatable {
    /// The 16-byte Uuid, compared as its canonical lowercase text
    /// (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`), as Heka did.
    case uuid
    /// Nanoseconds since the epoch; always present.
    case timestamp
    /// Reads as 7 when absent, as everywhere else in Heka.
    case severity
    /// Optional.
    case pid
    /// Type, Logger, Payload, EnvVersion or Hostname; optional.
    case stringHeader(Header)
    /// `Fields[name][fieldIndex][arrayIndex]`: the `arrayIndex`-th value of the
    /// `fieldIndex`-th field called `name` (both 0-based).
    case field(name: [UInt8], fieldIndex: Int, arrayIndex: Int)
}

/// A numeric constant. Heka compares numbers as doubles; an integer literal also keeps
/// its exact value so that integer variables (Timestamp above 2^53 ns, i.e. any
/// real timestamp) compare exactly instead of after rounding.
struct MatcherNumber: Sendable, Equatable {
    var double: Double
    /// Set for integer literals that fit in Int64 and for RFC 3339 timestamps.
    var integer: Int64?
}

/// What a test checks about the variable's value.
enum MatcherPredicate: Sendable {
    /// Byte-wise comparison with a string constant (Go/`memcmp` ordering).
    case string(MatcherRelation, [UInt8])
    /// Numeric comparison.
    case number(MatcherRelation, MatcherNumber)
    /// `=~ /re/` (`negated` false) or `!~ /re/` (true).
    case regex(MatcherRegex, negated: Bool)
    /// `== TRUE`, `!= FALSE`, …: holds for bool fields and, as in lua_sandbox, for
    /// numeric fields (TRUE is 1, FALSE is 0).
    case boolean(Bool, negated: Bool)
    /// `== NIL` (`wantAbsent` true) or `!= NIL`.
    case isNil(wantAbsent: Bool)
}

/// One comparison: a variable and what to check about it.
struct MatcherTest: Sendable {
    var variable: MatcherVariable
    var predicate: MatcherPredicate
}

extension MatcherNode {
    /// The tree with chains flattened and fast paths substituted.
    ///
    /// Flattening `a && (b && c)` into one `all` lets the evaluator balance the whole
    /// chain, whatever parentheses the user wrote.
    func optimized() -> MatcherNode {
        switch self {
        case .constant, .headerEquals:
            return self
        case .all(let nodes):
            return Self.flatten(nodes, and: true)
        case .any(let nodes):
            return Self.flatten(nodes, and: false)
        case .test(let test):
            if case .stringHeader(let header) = test.variable,
               case .string(let relation, let value) = test.predicate,
               relation == .equal || relation == .notEqual {
                return .headerEquals(fieldNumber: header.fieldNumber, value: value, negated: relation == .notEqual)
            }
            return self
        }
    }

    /// The Type every message the expression accepts has, when it requires one:
    /// `Type == 'x'` alone or as one operand of an `&&` chain (of an optimised tree).
    var requiredType: [UInt8]? {
        if case .all(let nodes) = self { return nodes.lazy.compactMap(\.requiredType).first }
        return typeEquality
    }

    /// Whether the expression is `Type == 'x'` and nothing else: a message of that Type
    /// is accepted without testing anything more.
    var isTypeAlone: Bool { typeEquality != nil }

    /// The 'x' of a `Type == 'x'` node.
    private var typeEquality: [UInt8]? {
        if case .headerEquals(let fieldNumber, let value, false) = self, fieldNumber == Header.type.fieldNumber { return value }
        return nil
    }

    private static func flatten(_ nodes: [MatcherNode], and: Bool) -> MatcherNode {
        var out: [MatcherNode] = []
        out.reserveCapacity(nodes.count)
        for node in nodes {
            switch (node.optimized(), and) {
            case (.all(let inner), true), (.any(let inner), false):
                out.append(contentsOf: inner)
            case (let other, _):
                out.append(other)
            }
        }
        if out.count == 1 { return out[0] }
        return and ? .all(out) : .any(out)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The executable form of a matcher: a tree of final classes built once from the
/// ``MatcherNode`` AST.
///
/// Why not walk the enum AST directly: switching over enums whose payloads hold arrays
/// and class references copies those payloads, and the retain/release pairs cost more
/// than the comparisons themselves (measured: about two thirds of the time of
/// `Type == 'TEST' && Severity == 6`). Here every node keeps its data in `let`
/// properties of plain types (enums without payloads, raw byte buffers it owns), so a
/// match runs with no reference counting at all.
///
/// `&&`/`||` chains become balanced binary trees: left-to-right order and
/// short-circuiting are kept, and recursion depth grows with log2 of a chain's length.
class MatcherEvalNode: @unchecked Sendable {  // immutable once the matcher is built; evaluation only reads it
    /// Whether the message satisfies this node.
    func evaluate(_ view: MessageView) -> Bool {
        preconditionFailure("MatcherEvalNode is abstract")
    }

    /// Compiles an (optimised) AST.
    static func make(_ node: MatcherNode) -> MatcherEvalNode {
        switch node {
        case .constant(let value):
            return ConstantEval(value)
        case .all(let nodes):
            return chain(nodes.map(make)[...], and: true)
        case .any(let nodes):
            return chain(nodes.map(make)[...], and: false)
        case .headerEquals(let fieldNumber, let value, let negated):
            return HeaderEqualsEval(fieldNumber: fieldNumber, value: value, negated: negated)
        case .test(let test):
            return TestEval(test)
        }
    }

    private static func chain(_ nodes: ArraySlice<MatcherEvalNode>, and: Bool) -> MatcherEvalNode {
        if nodes.count == 1 { return nodes[nodes.startIndex] }
        let middle = nodes.startIndex + nodes.count / 2
        let left = chain(nodes[..<middle], and: and)
        let right = chain(nodes[middle...], and: and)
        return and ? AndEval(left, right) : OrEval(left, right)
    }

    /// A copy of `bytes` in memory the node owns (freed by ``freeBytes(_:)``).
    static func ownedBytes(_ bytes: [UInt8]) -> UnsafeRawBufferPointer {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(bytes.count, 1), alignment: 1)
        buffer.copyBytes(from: bytes)
        return UnsafeRawBufferPointer(rebasing: buffer[0..<bytes.count])
    }

    static func freeBytes(_ bytes: UnsafeRawBufferPointer) {
        UnsafeMutableRawBufferPointer(mutating: bytes).deallocate()
    }

    /// `memcmp` order of two byte strings (a proper prefix sorts first): -1, 0 or 1.
    @inline(__always)
    static func compareBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        let n = Swift.min(a.count, b.count)
        if n > 0 {
            let c = memcmp(a.baseAddress!, b.baseAddress!, n)
            if c != 0 { return c < 0 ? -1 : 1 }
        }
        return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
    }
}

private final class ConstantEval: MatcherEvalNode, @unchecked Sendable {  // immutable once the matcher is built; evaluation only reads it
    let value: Bool
    init(_ value: Bool) { self.value = value }
    override func evaluate(_ view: MessageView) -> Bool { value }
}

private final class AndEval: MatcherEvalNode, @unchecked Sendable {  // immutable once the matcher is built; evaluation only reads it
    let left: MatcherEvalNode
    let right: MatcherEvalNode
    init(_ left: MatcherEvalNode, _ right: MatcherEvalNode) {
        self.left = left
        self.right = right
    }
    override func evaluate(_ view: MessageView) -> Bool { left.evaluate(view) && right.evaluate(view) }
}

private final class OrEval: MatcherEvalNode, @unchecked Sendable {  // immutable once the matcher is built; evaluation only reads it
    let left: MatcherEvalNode
    let right: MatcherEvalNode
    init(_ left: MatcherEvalNode, _ right: MatcherEvalNode) {
        self.left = left
        self.right = right
    }
    override func evaluate(_ view: MessageView) -> Bool { left.evaluate(view) || right.evaluate(view) }
}

/// `Type == 'x'` / `Type != 'x'`: a length check and one `memcmp`.
private final class HeaderEqualsEval: MatcherEvalNode, @unchecked Sendable {  // immutable once the matcher is built; evaluation only reads it
    let fieldNumber: Int
    let value: UnsafeRawBufferPointer
    let negated: Bool

    init(fieldNumber: Int, value: [UInt8], negated: Bool) {
        self.fieldNumber = fieldNumber
        self.value = Self.ownedBytes(value)
        self.negated = negated
    }

    deinit { Self.freeBytes(value) }

    override func evaluate(_ view: MessageView) -> Bool {
        // Absent: not equal to anything.
        guard let r = view.rangeOfHeader(fieldNumber: fieldNumber) else { return negated }
        guard r.count == value.count else { return negated }
        if r.count == 0 { return !negated }
        return (memcmp(view.bytes.baseAddress! + r.lowerBound, value.baseAddress!, r.count) == 0) != negated
    }
}

/// Any other comparison, with the variable and the predicate unpacked into plain fields.
private final class TestEval: MatcherEvalNode, @unchecked Sendable {  // immutable once the matcher is built; evaluation only reads it
    private enum Source { case uuid, timestamp, severity, pid, header, field }
    private enum Check { case string, number, regex, boolean, isNil }

    private let source: Source
    /// Protobuf field number, for `.header`.
    private let headerField: Int
    /// For `.field`: the name, the field index and the array index.
    private let fieldName: UnsafeRawBufferPointer
    private let fieldIndex: Int
    private let arrayIndex: Int

    private let check: Check
    private let relation: MatcherRelation
    /// `.string`: the constant.
    private let text: UnsafeRawBufferPointer
    /// `.number`: the constant.
    private let number: MatcherNumber
    /// `.regex`: the pattern.
    private let regex: MatcherRegex?
    /// `.regex`, `.boolean`: `!~` / `!=`.
    private let negated: Bool
    /// `.boolean`: TRUE or FALSE; `.isNil`: true for `== NIL`.
    private let flag: Bool

    init(_ test: MatcherTest) {
        var name: [UInt8] = []
        var header = 0, fi = 0, ai = 0
        switch test.variable {
        case .uuid: source = .uuid
        case .timestamp: source = .timestamp
        case .severity: source = .severity
        case .pid: source = .pid
        case .stringHeader(let h):
            source = .header
            header = h.fieldNumber
        case .field(let n, let f, let a):
            source = .field
            (name, fi, ai) = (n, f, a)
        }
        headerField = header
        fieldName = Self.ownedBytes(name)
        fieldIndex = fi
        arrayIndex = ai

        var rel = MatcherRelation.equal, bytes: [UInt8] = [], num = MatcherNumber(double: 0, integer: nil)
        var re: MatcherRegex?, neg = false, flg = false
        switch test.predicate {
        case .string(let r, let b): (check, rel, bytes) = (.string, r, b)
        case .number(let r, let n): (check, rel, num) = (.number, r, n)
        case .regex(let p, let n): (check, re, neg) = (.regex, p, n)
        case .boolean(let v, let n): (check, flg, neg) = (.boolean, v, n)
        case .isNil(let want): (check, flg) = (.isNil, want)
        }
        relation = rel
        text = Self.ownedBytes(bytes)
        number = num
        regex = re
        negated = neg
        flag = flg
    }

    deinit {
        Self.freeBytes(fieldName)
        Self.freeBytes(text)
    }

    override func evaluate(_ view: MessageView) -> Bool {
        switch source {
        case .header:
            guard let r = view.rangeOfHeader(fieldNumber: headerField) else { return absent(field: false) }
            return test(bytes: UnsafeRawBufferPointer(rebasing: view.bytes[r]))
        case .uuid:
            return withUuidText(view) { test(bytes: $0) }
        case .timestamp:
            return test(integer: view.timestamp)
        case .severity:
            return test(integer: Int64(view.severity))
        case .pid:
            guard let pid = view.pid else { return absent(field: false) }
            return test(integer: Int64(pid))
        case .field:
            guard let index = view.fieldIndex(named: fieldName, occurrence: fieldIndex),
                  let value = view.value(ofField: index, arrayIndex: arrayIndex)
            else { return absent(field: true) }
            switch value {
            case .bytes(let r): return test(bytes: UnsafeRawBufferPointer(rebasing: view.bytes[r]))
            case .integer(let i): return test(integer: i)
            case .double(let d): return test(double: d)
            case .bool(let b):
                switch check {
                case .boolean: return (b == flag) != negated
                case .isNil: return !flag
                case .string, .number, .regex: return false
                }
            }
        }
    }

    /// The variable is absent. A field then satisfies only `== NIL`; an optional header
    /// sorts below every value (lua_sandbox's rule), so `!=`, `<`, `<=` and `!~` hold.
    private func absent(field: Bool) -> Bool {
        switch check {
        case .isNil: flag
        case .string, .number: !field && relation.holdsForAbsent
        case .regex: !field && negated
        case .boolean: false
        }
    }

    private func test(bytes: UnsafeRawBufferPointer) -> Bool {
        switch check {
        case .string: relation.holds(Self.compareBytes(bytes, text), 0)
        case .regex: regex!.matches(bytes) != negated
        case .isNil: !flag
        case .number, .boolean: false
        }
    }

    private func test(integer: Int64) -> Bool {
        switch check {
        case .number:
            if let exact = number.integer { return relation.holds(integer, exact) }
            return relation.holds(Double(integer), number.double)
        case .boolean: return (integer == (flag ? 1 : 0)) != negated
        case .isNil: return !flag
        case .string, .regex: return false
        }
    }

    private func test(double: Double) -> Bool {
        switch check {
        case .number: relation.holds(double, number.double)
        case .boolean: (double == (flag ? 1 : 0)) != negated
        case .isNil: !flag
        case .string, .regex: false
        }
    }

    /// Runs `body` on the Uuid's canonical text (36 lowercase characters, on the stack).
    private func withUuidText(_ view: MessageView, _ body: (UnsafeRawBufferPointer) -> Bool) -> Bool {
        // MessageView guarantees a 16-byte Uuid.
        guard let r = view.range(of: .uuid), r.count == 16 else { return false }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 36) { out in
            let hex: StaticString = "0123456789abcdef"
            var o = 0
            for i in 0..<16 {
                if i == 4 || i == 6 || i == 8 || i == 10 {
                    out[o] = UInt8(ascii: "-")
                    o += 1
                }
                let b = view.bytes[r.lowerBound + i]
                out[o] = hex.utf8Start[Int(b >> 4)]
                out[o + 1] = hex.utf8Start[Int(b & 0x0F)]
                o += 2
            }
            return body(UnsafeRawBufferPointer(out))
        }
    }
}

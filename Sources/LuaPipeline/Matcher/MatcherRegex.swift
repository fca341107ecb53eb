import CLua

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A regular expression from a matcher, compiled once with PCRE2 (see `clp_regex.h`).
///
/// Syntax is PCRE2's, in UTF mode, with `$` anchoring only at the very end of the
/// subject (as in Go's RE2, which Heka used; PCRE's default also accepts a final
/// newline). Subjects need not be valid UTF-8. Captures are ignored.
///
/// Patterns that are plain literals, optionally anchored (`/TEST/`, `/^TE/`, `/ST$/`,
/// `/^TEST$/`), skip PCRE2 and use `memcmp`/`memchr`: Heka special-cased the anchored
/// forms for speed, and these are most of the regexes found in real configurations.
///
/// Immutable, and PCRE2 keeps its scratch space per thread, so `matches` may be called
/// from any number of threads at once.
final class MatcherRegex: @unchecked Sendable {  // the compiled pattern is immutable after init; matching only reads it
    /// Why a pattern did not compile.
    struct CompileError: Error {
        /// PCRE2's explanation.
        var message: String
        /// Byte offset in the pattern where PCRE2 noticed the problem.
        var offset: Int
    }

    private enum Strategy {
        case contains([UInt8])
        case prefix([UInt8])
        case suffix([UInt8])
        case exact([UInt8])
        case pcre(OpaquePointer)
    }

    /// The pattern as written between the slashes (after `\/` became `/`).
    let pattern: String
    private let strategy: Strategy

    /// Compiles `pattern` (UTF-8 bytes).
    init(pattern: [UInt8]) throws(CompileError) {
        self.pattern = String(decoding: pattern, as: UTF8.self)
        if let literal = Self.literalStrategy(pattern) {
            strategy = literal
            return
        }
        var message = [CChar](repeating: 0, count: 256)
        var offset = 0
        let compiled = pattern.withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { c in
                clp_regex_compile(c.baseAddress, c.count, &message, message.count, &offset)
            }
        }
        guard let compiled else {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw CompileError(message: text, offset: offset)
        }
        strategy = .pcre(compiled)
    }

    deinit {
        if case .pcre(let compiled) = strategy { clp_regex_free(compiled) }
    }

    /// Whether the pattern matches anywhere in `subject`.
    func matches(_ subject: UnsafeRawBufferPointer) -> Bool {
        switch strategy {
        case .pcre(let compiled):
            // -1 (a resource limit hit) counts as no match: routing must not fail.
            return clp_regex_match(compiled, subject.baseAddress, subject.count) == 1
        case .exact(let literal):
            return literal.count == subject.count && Self.equal(subject, at: 0, literal)
        case .prefix(let literal):
            return literal.count <= subject.count && Self.equal(subject, at: 0, literal)
        case .suffix(let literal):
            return literal.count <= subject.count && Self.equal(subject, at: subject.count - literal.count, literal)
        case .contains(let literal):
            if literal.isEmpty { return true }
            return literal.withUnsafeBytes { Self.contains(subject, $0) }
        }
    }

    /// Whether PCRE2 (rather than a literal comparison) evaluates this pattern.
    var usesPCRE: Bool {
        if case .pcre = strategy { return true }
        return false
    }

    private static func equal(_ subject: UnsafeRawBufferPointer, at offset: Int, _ literal: [UInt8]) -> Bool {
        if literal.isEmpty { return true }
        return literal.withUnsafeBytes { memcmp(subject.baseAddress! + offset, $0.baseAddress!, $0.count) == 0 }
    }

    /// Whether `needle` (not empty) occurs in `haystack`: `memchr` for the first byte,
    /// then `memcmp` (glibc's `memmem` is a GNU extension Swift's Glibc module hides).
    private static func contains(_ haystack: UnsafeRawBufferPointer, _ needle: UnsafeRawBufferPointer) -> Bool {
        guard needle.count <= haystack.count, let base = haystack.baseAddress else { return false }
        let first = Int32(needle[0])
        var at = base
        let lastStart = base + (haystack.count - needle.count)
        while at <= lastStart {
            guard let hit = memchr(at, first, lastStart - at + 1) else { return false }
            if memcmp(hit, needle.baseAddress!, needle.count) == 0 { return true }
            at = UnsafeRawPointer(hit) + 1
        }
        return false
    }

    /// Bytes with a meaning in PCRE2 outside a character class. Anything else, including
    /// every byte of a multi-byte UTF-8 character, stands for itself, and UTF-8 is
    /// self-synchronising, so a byte search finds exactly what PCRE2 would.
    private static func isMeta(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "\\"), UInt8(ascii: "^"), UInt8(ascii: "$"), UInt8(ascii: "."),
             UInt8(ascii: "|"), UInt8(ascii: "?"), UInt8(ascii: "*"), UInt8(ascii: "+"),
             UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "["), UInt8(ascii: "]"),
             UInt8(ascii: "{"), UInt8(ascii: "}"):
            true
        default:
            false
        }
    }

    /// The literal fast path for `pattern`, or `nil` when it needs a real regex engine.
    private static func literalStrategy(_ pattern: [UInt8]) -> Strategy? {
        var body = pattern[...]
        let anchoredStart = body.first == UInt8(ascii: "^")
        if anchoredStart { body = body.dropFirst() }
        // No backslashes survive in a literal, so a final `$` is always an anchor.
        let anchoredEnd = body.last == UInt8(ascii: "$")
        if anchoredEnd { body = body.dropLast() }
        guard !body.contains(where: isMeta) else { return nil }
        let literal = Array(body)
        switch (anchoredStart, anchoredEnd) {
        case (true, true): return .exact(literal)
        case (true, false): return .prefix(literal)
        case (false, true): return .suffix(literal)
        case (false, false): return .contains(literal)
        }
    }
}

import CLua

/// A PCRE2 pattern compiled once; shared by every splitter or scan that uses it (match data
/// is per call).
final class CompiledRegex: @unchecked Sendable {  // the compiled pattern is immutable after init
    let re: OpaquePointer
    let pattern: String

    /// - Throws: the PCRE2 error text and offset when `pattern` does not compile.
    init(_ pattern: String) throws(ConfigError) {
        var message = [CChar](repeating: 0, count: 256)
        var offset = 0
        let bytes = Array(pattern.utf8)
        let compiled = bytes.withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { clp_regex_compile($0.baseAddress, $0.count, &message, message.count, &offset) }
        }
        guard let compiled else {
            throw ConfigError("\(String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)) at offset \(offset)")
        }
        re = compiled
        self.pattern = pattern
    }

    deinit { clp_regex_free(re) }
}

/// An option holding a regular expression: compiled when the config is read, so a bad
/// pattern is a config error naming the key, and the plugin's builder gets it compiled.
public struct RegexOption: OptionValue {
    let compiled: CompiledRegex
    public var source: String { compiled.pattern }

    init(compiling source: String) throws(ConfigError) { compiled = try CompiledRegex(source) }

    /// The empty pattern (matches everywhere): the placeholder of a required key.
    static let empty = try! RegexOption(compiling: "")  // a constant pattern

    public static var typeDoc: String { "PCRE2 regex" }
    public static func read(_ node: ConfigNode) -> Result<RegexOption, OptionProblem> {
        guard case .string(let s) = node else { return .failure(.expected("a string", node)) }
        do throws(ConfigError) {
            return .success(try RegexOption(compiling: s))
        } catch {
            return .failure(OptionProblem("bad regular expression: \(error.reason)"))
        }
    }
    public var literal: String? { source.literal }
}

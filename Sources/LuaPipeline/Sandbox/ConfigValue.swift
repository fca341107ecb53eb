/// A value `read_config` returns: the plugin's settings (TOML `[NAME.config]`, or
/// `luapiped test --config KEY=VALUE`).
public enum ConfigValue: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case double(Double)
    case bool(Bool)

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

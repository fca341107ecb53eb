#if canImport(Glibc)
import Glibc
#endif

/// Reads a file or standard input in large chunks.
struct ChunkReader {
    private let fd: Int32
    private let owned: Bool

    /// - Throws: a message when the file cannot be opened.
    init(path: String?) throws(ScriptTestError) {
        if path == nil || path == "-" {
            fd = 0
            owned = false
        } else {
            fd = open(path!, O_RDONLY)
            guard fd >= 0 else { throw ScriptTestError("cannot open \(path!): \(String(cString: strerror(errno)))") }
            owned = true
        }
    }

    /// The next chunk, empty at end of input.
    func read(max: Int = 1 << 20) -> [UInt8] {
        while true {
            var n = 0
            // Not zeroed first: read(2) fills what is kept (zeroing 1 MiB a chunk was about
            // 1% of a decoder's time under `luapiped test`).
            let buf = [UInt8](unsafeUninitializedCapacity: max) { raw, count in
                n = Glibc.read(fd, raw.baseAddress, max)
                count = Swift.max(n, 0)
            }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return [] }
            return buf
        }
    }

    func close() { if owned { _ = Glibc.close(fd) } }
}

/// A harness problem outside the script (unreadable input file, bad state file).
public struct ScriptTestError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

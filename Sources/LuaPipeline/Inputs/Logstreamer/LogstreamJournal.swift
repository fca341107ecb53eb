import FoundationEssentials

/// Where a log stream was: the file (by inode), how far it was read, and a fingerprint of
/// the bytes just before that offset (Heka's `last_hash`), so a restart finds the same
/// file again even after it was renamed, and notices when it was replaced.
struct LogstreamJournal: Codable, Equatable {
    var path: String
    var inode: UInt64
    var offset: Int64
    var hash: String

    /// Bytes the fingerprint covers.
    static let window = 512

    /// FNV-1a 64 over the `window` bytes before `offset` of the open file `fd`.
    static func fingerprint(fd: Int32, offset: Int64) -> String? {
        let start = max(0, offset - Int64(window))
        let count = Int(offset - start)
        var buf = [UInt8](repeating: 0, count: count)
        let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(start)) }
        guard n == count else { return nil }
        return fingerprint(of: buf)
    }

    /// FNV-1a 64 of `bytes`, in hex: the fingerprint's form (the checkpoints' checksum).
    static func fingerprint<C: Collection<UInt8>>(of bytes: C) -> String { CheckpointStore.checksum(bytes) }

    static func load(_ path: String) -> LogstreamJournal? {
        guard let bytes = FileSystem.contents(path) else { return nil }
        return try? JSONDecoder().decode(LogstreamJournal.self, from: Data(bytes))
    }

    /// Never half a journal (``CheckpointWriter``).
    func save(_ path: String) throws {
        try CheckpointWriter.write(Array(try JSONEncoder().encode(self)), to: path)
    }
}

#if canImport(Glibc)
import Glibc
#endif

import FoundationEssentials
import Glibc

/// The readers' positions in the ``DurableLog``: one file, `position<TAB>reader` per line
/// and a last line `crc<TAB>N` (CRC-32 of the lines before it), replaced atomically
/// (written beside, then renamed). A file that does not check out is reported and read as
/// no cursors at all: every reader starts again at the oldest record kept, so a damaged
/// file costs duplicates, never a loss.
public enum DurableCursors {
    public struct Loaded: Equatable, Sendable {
        public var positions: [String: UInt64] = [:]
        /// Readers the file named that the config no longer has; their cursors are dropped.
        public var dropped: [String] = []
        /// Why the file was not used, when it was damaged.
        public var problem: String?
    }

    /// Reads `path`; `readers` are the names the config has now. A missing file is no
    /// cursors and no problem.
    public static func load(path: String, readers: Set<String>) -> Loaded {
        var loaded = Loaded()
        guard let bytes = readWholeFile(path) else {
            if errno != ENOENT { loaded.problem = "\(path): \(errnoText())" }
            return loaded
        }
        let damaged = "; every reader starts at the oldest record kept"
        // The checksum line is the last one; the lines before it are what it covers.
        let bodyEnd = bytes.dropLast().lastIndex(of: 0x0A).map { $0 + 1 } ?? 0
        let last = String(decoding: bytes[bodyEnd...], as: UTF8.self)
        guard last.hasPrefix("crc\t"), last.hasSuffix("\n"), let crc = UInt32(last.dropFirst(4).dropLast()) else {
            loaded.problem = "\(path): damaged (no checksum line)" + damaged
            return loaded
        }
        let body = Array(bytes[..<bodyEnd])
        guard body.withUnsafeBytes({ CRC32.checksum($0) }) == crc else {
            loaded.problem = "\(path): damaged (checksum mismatch)" + damaged
            return loaded
        }
        for line in String(decoding: body, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: "\t", maxSplits: 1)
            guard parts.count == 2, let position = UInt64(parts[0]) else {
                return Loaded(problem: "\(path): damaged line \"\(line)\"" + damaged)
            }
            let name = String(parts[1])
            if readers.contains(name) { loaded.positions[name] = position } else { loaded.dropped.append(name) }
        }
        loaded.dropped.sort()
        return loaded
    }

    /// Replaces `path` with `positions` (``CheckpointWriter``); with `sync` the file and its
    /// name are on stable storage when it returns.
    public static func save(_ positions: [String: UInt64], path: String, sync: Bool) throws(DurableLogError) {
        var text = ""
        for name in positions.keys.sorted() { text += "\(positions[name]!)\t\(name)\n" }
        let body = Array(text.utf8)
        text += "crc\t\(body.withUnsafeBytes { CRC32.checksum($0) })\n"
        do throws(CheckpointWriter.Failure) {
            try CheckpointWriter.write(Array(text.utf8), to: path, sync: sync)
        } catch {
            throw DurableLogError(path, error.description)
        }
    }
}

import FoundationEssentials
import Glibc

/// What a committed checkpoint names: each filter's snapshot and each input's stream
/// positions, all taken at one cut (``Cut``).
struct CheckpointManifest: Codable, Equatable {
    struct Snapshot: Codable, Equatable {
        /// Relative to the checkpoint directory.
        var file: String
        var bytes: Int
        var checksum: String
    }

    var number: UInt64
    /// The cut's sequence number (what the snapshots have read up to, exclusive).
    var cut: UInt64
    /// Seconds since 1970.
    var created: Double
    /// Taken at a clean stop, after everything drained.
    var final: Bool
    var filters: [String: Snapshot]
    /// Input name → stream key → position.
    var inputs: [String: [String: LogstreamJournal]]
    /// Filter name → its position in the durable queue (what its snapshot has read).
    var durable: [String: UInt64]? = nil
}

/// A checkpoint loaded at start: its manifest and the snapshots' bytes, all checked.
struct RestoredCheckpoint: Sendable {
    let manifest: CheckpointManifest
    let snapshots: [String: [UInt8]]

    /// The positions of an input's streams (nil: the checkpoint does not cover it).
    func positions(of input: String) -> [String: LogstreamJournal]? { manifest.inputs[input] }
}

/// The checkpoint directory (`base_dir/checkpoints`): a manifest per checkpoint,
/// `NUMBER.manifest`, and its snapshots in the folder `NUMBER/`. A manifest is committed
/// with ``CheckpointWriter`` (temp file, fsync, rename), after its snapshots were; it
/// starts with a line holding a checksum of the rest, and names each snapshot's size and
/// checksum, so a torn or corrupt file is found at start and the previous checkpoint used.
/// The newest two checkpoints are kept.
struct CheckpointStore: Sendable {
    let directory: String

    static let header = "luapiped checkpoint 1"

    func manifestPath(_ number: UInt64) -> String { Path.join(directory, Self.name(number) + ".manifest") }
    func snapshotFolder(_ number: UInt64) -> String { Path.join(directory, Self.name(number)) }

    static func name(_ number: UInt64) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, 12 - digits.count)) + digits
    }

    /// A snapshot's file name (relative to the directory).
    static func snapshotFile(_ number: UInt64, filter: String) -> String {
        name(number) + "/" + filter.replacing("/", with: "_") + ".data"
    }

    /// FNV-1a 64 in hex.
    static func checksum<C: Collection<UInt8>>(_ bytes: C) -> String {
        func fnv(_ p: UnsafeBufferPointer<UInt8>) -> UInt64 {
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for b in p {
                h ^= UInt64(b)
                h = h &* 0x100_0000_01b3
            }
            return h
        }
        let h = bytes.withContiguousStorageIfAvailable(fnv) ?? Array(bytes).withUnsafeBufferPointer(fnv)
        return String(h, radix: 16)
    }

    /// Writes a filter's snapshot of checkpoint `number` (synced before it returns).
    func writeSnapshot(_ bytes: [UInt8], number: UInt64, filter: String) throws(CheckpointWriter.Failure) -> CheckpointManifest.Snapshot {
        let file = Self.snapshotFile(number, filter: filter)
        try CheckpointWriter.write(bytes, to: Path.join(directory, file))
        return .init(file: file, bytes: bytes.count, checksum: Self.checksum(bytes))
    }

    /// Commits a checkpoint: its manifest, atomically. Then forgets every checkpoint but it
    /// and `keeping` (the previous good one).
    func commit(_ m: CheckpointManifest, keeping previous: UInt64?) throws {
        let body = Array(try JSONEncoder().encode(m))
        let text = Array("\(Self.header) \(Self.checksum(body))\n".utf8) + body
        try CheckpointWriter.write(text, to: manifestPath(m.number))
        prune(keeping: [m.number, previous].compactMap { $0 })
    }

    /// Removes the manifests and snapshot folders of every other checkpoint (abandoned cuts
    /// and older commits included).
    func prune(keeping: [UInt64]) {
        let keep = Set(keeping.map(Self.name))
        for entry in FileSystem.contentsOfDirectory(directory) ?? [] {
            let stem = entry.hasSuffix(".manifest") ? String(entry.dropLast(9)) : entry.hasSuffix(".manifest.tmp") ? "" : entry
            guard UInt64(stem) != nil || entry.hasSuffix(".tmp") else { continue }
            if keep.contains(stem) { continue }
            FileSystem.remove(Path.join(directory, entry))
        }
    }

    /// Every checkpoint number present (manifest or folder), newest first.
    func numbers() -> [UInt64] {
        let entries = FileSystem.contentsOfDirectory(directory) ?? []
        let all = entries.compactMap { e -> UInt64? in UInt64(e.hasSuffix(".manifest") ? String(e.dropLast(9)) : e) }
        return Array(Set(all)).sorted(by: >)
    }

    /// The newest checkpoint whose manifest and snapshots are whole; each one found unusable
    /// on the way is passed to `rejected` with the reason.
    func loadNewest(rejected: (UInt64, String) -> Void) -> RestoredCheckpoint? {
        for n in numbers() where FileSystem.exists(manifestPath(n)) {
            do throws(Unusable) {
                return try load(n)
            } catch {
                rejected(n, error.reason)
            }
        }
        return nil
    }

    struct Unusable: Error {
        let reason: String
    }

    func load(_ n: UInt64) throws(Unusable) -> RestoredCheckpoint {
        guard let bytes = FileSystem.contents(manifestPath(n)) else { throw Unusable(reason: "its manifest cannot be read") }
        guard let nl = bytes.firstIndex(of: 0x0A) else { throw Unusable(reason: "its manifest is truncated (no header line)") }
        let header = String(decoding: bytes[..<nl], as: UTF8.self).split(separator: " ")
        guard header.count == 4, header.prefix(3).joined(separator: " ") == Self.header else {
            throw Unusable(reason: "its manifest does not start with \"\(Self.header)\"")
        }
        let body = bytes[(nl + 1)...]
        guard Self.checksum(body) == header[3] else { throw Unusable(reason: "its manifest is torn or corrupt (checksum mismatch)") }
        let m: CheckpointManifest
        do {
            m = try JSONDecoder().decode(CheckpointManifest.self, from: Data(body))
        } catch {
            throw Unusable(reason: "its manifest does not decode: \(error)")
        }
        var snapshots: [String: [UInt8]] = [:]
        for (filter, s) in m.filters {
            let path = Path.join(directory, s.file)
            guard let d = FileSystem.contents(path) else { throw Unusable(reason: "the snapshot of \(filter) (\(path)) is missing") }
            guard d.count == s.bytes else { throw Unusable(reason: "the snapshot of \(filter) (\(path)) has \(d.count) bytes, not \(s.bytes) (truncated)") }
            guard Self.checksum(d) == s.checksum else { throw Unusable(reason: "the snapshot of \(filter) (\(path)) is corrupt (checksum mismatch)") }
            snapshots[filter] = d
        }
        return RestoredCheckpoint(manifest: m, snapshots: snapshots)
    }
}

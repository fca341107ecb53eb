#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials

/// Writes a state file so that a crash at any point leaves the old version or the new one,
/// never half of one: the bytes go to `PATH.tmp`, are synced to disk, and the file is
/// renamed over `PATH` (then the directory is synced, so the rename survives a power cut).
/// Logstreamer journals, filters' preserved globals, TcpInput's Uuid sets and the durable
/// log's cursors use it. Without `sync` the rename still replaces the file whole, but only
/// a crash of the process (not of the machine) is survived.
enum CheckpointWriter {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func write(_ bytes: [UInt8], to path: String, sync: Bool = true) throws(Failure) {
        let dir = Path.parent(path)
        do throws(FileSystemError) {
            try FileSystem.createDirectories(dir.isEmpty ? "." : dir)
        } catch {
            throw Failure(description: error.description)
        }
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Failure(description: "cannot write \(tmp): \(String(cString: strerror(errno)))") }
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, bytes.count - off) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let why = String(cString: strerror(errno))
                close(fd)
                unlink(tmp)
                throw Failure(description: "cannot write \(tmp): \(why)")
            }
            off += n
        }
        guard !sync || fsync(fd) == 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            unlink(tmp)
            throw Failure(description: "cannot sync \(tmp): \(why)")
        }
        close(fd)
        guard rename(tmp, path) == 0 else {
            let why = String(cString: strerror(errno))
            unlink(tmp)
            throw Failure(description: "cannot rename \(tmp) to \(path): \(why)")
        }
        guard sync else { return }
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }
}

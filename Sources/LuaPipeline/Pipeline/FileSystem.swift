import CLua
import Glibc

// The file-system and process facts that start-up, checkpoints and the drop-in directory
// need, over the C library. FoundationEssentials' FileManager, URL and ProcessInfo bring
// in about 0.5 MiB of resident code the first time they run (their objects are one code
// section each, so a call maps its neighbours too: docs/performance.md), which the idle
// daemon does not need.

/// Files and directories (paths as given; relative ones against the working directory).
public enum FileSystem {
    /// Whether `path` exists (following links), as FileManager's `fileExists(atPath:)`.
    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    /// The working directory ("." when it cannot be named).
    public static func currentDirectory() -> String {
        guard let raw = getcwd(nil, 0) else { return "." }
        defer { free(raw) }
        return String(cString: raw)
    }

    /// The names in a directory, without `.` and `..`, in no particular order: nil when
    /// it cannot be read (errno set).
    public static func contentsOfDirectory(_ path: String) -> [String]? {
        guard let dir = opendir(path) else { return nil }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// A whole file's bytes, read to its end (a /proc file's size reads 0): nil when it
    /// cannot be read (errno set).
    public static func contents(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { let saved = errno; close(fd); errno = saved }
        var all: [UInt8] = []
        while true {
            guard let chunk = readChunk(fd, limit: 1 << 16) else { return nil }
            if chunk.isEmpty { return all }
            all += chunk
        }
    }

    /// A whole file as UTF-8 text: nil when it cannot be read or is not UTF-8.
    public static func text(_ path: String) -> String? {
        contents(path).flatMap { String(validating: $0, as: UTF8.self) }
    }

    /// Where a symbolic link points: nil when `path` is not one (errno set).
    public static func symbolicLinkDestination(_ path: String) -> String? {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = buffer.withUnsafeMutableBufferPointer { b in
            b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) { readlink(path, $0, b.count - 1) }
        }
        guard n >= 0 else { return nil }
        return String(decoding: buffer[..<n], as: UTF8.self)
    }

    /// Creates `path` and any missing parents (`mkdir -p`).
    /// - Throws: ``FileSystemError`` naming the directory that could not be made.
    public static func createDirectories(_ path: String) throws(FileSystemError) {
        if path.isEmpty || Path.isDirectory(path) { return }
        let parent = Path.parent(path)
        if !parent.isEmpty && parent != path { try createDirectories(parent) }
        if mkdir(path, 0o755) != 0 {
            let code = errno
            if code == EEXIST && Path.isDirectory(path) { return }  // made meanwhile
            throw FileSystemError(path: path, reason: code == EEXIST ? "a file of that name is in the way" : errnoText(code))
        }
    }

    /// Removes a file, or a directory with everything in it; a missing path is no error.
    /// - Returns: false when something could not be removed.
    @discardableResult
    public static func remove(_ path: String) -> Bool {
        var st = stat()
        guard lstat(path, &st) == 0 else { return errno == ENOENT }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            var ok = true
            for name in contentsOfDirectory(path) ?? [] where !remove(Path.join(path, name)) { ok = false }
            return rmdir(path) == 0 && ok
        }
        return unlink(path) == 0
    }
}

/// A directory that could not be created, and why.
public struct FileSystemError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "cannot create \(path): \(reason)" }
}

/// Facts about this process.
public enum ProcessFacts {
    /// The environment variables (the last of a repeated name wins, as ProcessInfo's).
    public static func environment() -> [String: String] {
        var env: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let pair = String(cString: entry)
            if let eq = pair.utf8.firstIndex(of: UInt8(ascii: "=")) {
                let key = String(pair[..<eq])
                env[key] = String(pair[pair.index(after: eq)...])
            }
            p += 1
        }
        return env
    }

    /// The processors this process may use: its affinity mask, capped by the CPU quota of
    /// its cgroup v2 (`cpu.max`, rounded up: a container's limit or systemd's CPUQuota=);
    /// at least 1.
    public static func activeProcessorCount() -> Int {
        var count = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let n = Int(clp_affinity_cpu_count())
        if n > 0 { count = n }
        if let text = FileSystem.text(Path.join("/sys/fs/cgroup" + cgroupPath(), "cpu.max")) ?? FileSystem.text("/sys/fs/cgroup/cpu.max") {
            let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
            if fields.count >= 2, let quota = Int(fields[0]), let period = Int(fields[1]), quota > 0, period > 0 {
                count = min(count, max(1, (quota + period - 1) / period))
            }
        }
        return count
    }

    /// This process's cgroup v2 path ("/system.slice/x.service"), "" when unknown.
    private static func cgroupPath() -> String {
        guard let text = FileSystem.text("/proc/self/cgroup") else { return "" }
        for line in text.split(separator: "\n") where line.hasPrefix("0::") {
            let path = String(line.dropFirst(3))
            return path == "/" ? "" : path
        }
        return ""
    }
}

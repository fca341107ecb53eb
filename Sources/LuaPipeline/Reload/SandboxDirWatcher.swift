#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Synchronization

/// Watches the drop-in directory (`sandbox_dir`) and calls `onChange` once it has changed
/// and then stayed quiet for `debounce` seconds: an editor's temp file + rename, or several
/// writes, make one reload.
///
/// inotify wakes it at once; a scan every `pollInterval` (file names, sizes, modification
/// times and inodes) is the truth either way, so it also works where inotify is missing or
/// out of watches (`mode` "poll"), and notices a directory created after start-up.
final class SandboxDirWatcher: @unchecked Sendable {  // its state is used on its own thread; stop() and setDirectory() go through atomics and locks
    struct FileState: Equatable {
        let size: Int64
        let mtime: Int64
        let inode: UInt64
    }

    let mode: String
    let pollInterval: Double
    let debounce: Double
    private let directory: Mutex<String>
    private let stopFlag = Atomic<Bool>(false)
    private let finished = DoneFlag()
    /// Called on the watcher's thread with the module names whose files changed.
    let onChange: (Set<String>) -> Void
    private var inotifyFD: Int32 = -1

    init(directory: String, mode: String, pollInterval: Double, debounce: Double, onChange: @escaping (Set<String>) -> Void) {
        self.directory = Mutex(directory)
        self.mode = mode
        self.pollInterval = max(0.05, pollInterval)
        self.debounce = max(0, debounce)
        self.onChange = onChange
    }

    /// A new `sandbox_dir` (SIGHUP changed it).
    func setDirectory(_ d: String) { directory.withLock { $0 = d } }

    private var known: [String: FileState] = [:]

    /// Takes the first snapshot now (changes from here on are noticed) and starts watching.
    func start() {
        if mode == "inotify" { inotifyFD = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC)) }
        known = scan()
        Threads.start { [self] in
            ThreadName.set("sandbox-dir-watcher")
            run()
            finished.set()
        }
    }

    func stop() {
        stopFlag.store(true, ordering: .relaxed)
        finished.wait()
        if inotifyFD >= 0 { close(inotifyFD) }
    }

    /// Every file under the directory (three levels: folders, module packages).
    func scan() -> [String: FileState] {
        var out: [String: FileState] = [:]
        let root = directory.withLock { $0 }
        func walk(_ dir: String, depth: Int) {
            guard let names = FileSystem.contentsOfDirectory(dir) else { return }
            if inotifyFD >= 0 {
                let mask = UInt32(IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)
                _ = inotify_add_watch(inotifyFD, dir, mask)
            }
            for n in names {
                let path = Path.join(dir, n)
                var st = stat()
                guard stat(path, &st) == 0 else { continue }
                if (st.st_mode & S_IFMT) == S_IFDIR {
                    if depth < 4 { walk(path, depth: depth + 1) }
                } else {
                    out[path] = FileState(size: Int64(st.st_size), mtime: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
                                          inode: UInt64(st.st_ino))
                }
            }
        }
        walk(root, depth: 0)
        return out
    }

    /// Waits up to `seconds` for an inotify event (or just sleeps); true if one came.
    private func wait(_ seconds: Double) -> Bool {
        guard inotifyFD >= 0 else {
            Threads.sleep(seconds)
            return false
        }
        var p = pollfd(fd: inotifyFD, events: Int16(POLLIN), revents: 0)
        let r = poll(&p, 1, Int32(seconds * 1000))
        guard r > 0 else { return false }
        drainEvents()
        return true
    }

    private func drainEvents() {
        guard inotifyFD >= 0 else { return }
        var buf = [UInt8](repeating: 0, count: 16384)
        while read(inotifyFD, &buf, buf.count) > 0 {}
    }

    private func run() {
        while !stopFlag.load(ordering: .relaxed) {
            _ = wait(min(pollInterval, 0.25))
            if stopFlag.load(ordering: .relaxed) { return }
            if inotifyFD < 0 || mode == "poll" {
                // Polling: the interval is the wait (checked in short steps to stop quickly).
                if !pollDue() { continue }
            }
            var now = scan()
            guard now != known else { continue }
            // Debounce: until the directory stays the same for `debounce` seconds (a sleep,
            // not a wait for the next event: the event of the write just seen is pending).
            while !stopFlag.load(ordering: .relaxed) {
                Threads.sleep(debounce)
                drainEvents()
                let again = scan()
                if again == now { break }
                now = again
            }
            let root = directory.withLock { $0 }
            let changed = Set(now.keys).symmetricDifference(known.keys).union(now.keys.filter { known[$0] != nil && known[$0] != now[$0] })
            known = now
            onChange(Self.moduleNames(changed, root: root))
        }
    }

    private var lastPoll = Date()
    private func pollDue() -> Bool {
        guard Date().timeIntervalSince(lastPoll) >= pollInterval else { return false }
        lastPoll = Date()
        return true
    }

    /// `ROOT/modules/a/b.lua` → `a.b`.
    static func moduleNames(_ paths: Set<String>, root: String) -> Set<String> {
        let prefix = Path.join(root, "modules") + "/"
        return Set(paths.compactMap { p in
            guard p.hasPrefix(prefix), p.hasSuffix(".lua") else { return nil }
            return String(p.dropFirst(prefix.count).dropLast(4)).replacing("/", with: ".")
        })
    }
}

import FoundationEssentials
import Glibc

// Threads, conditions and paths over the C library. Full Foundation (Thread, NSCondition,
// NSString) costs about 6 MiB of RSS at start through CoreFoundation's initialisation;
// FoundationEssentials plus these few helpers cost nothing until used.

/// A mutex with its condition variable (what NSCondition gave): `lock`/`unlock`,
/// `wait`, `wait(until:)`, `signal`, `broadcast`. A second condition under the same mutex,
/// `quiet`, is for waiters only some events concern (the router's readers of a Type
/// nobody is appending): `broadcast` wakes both, `broadcastMain` and `broadcastQuiet` one.
public final class Condition: @unchecked Sendable {  // the pthread objects are the synchronisation
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let quiet = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)  // deadlines immune to clock steps
        pthread_cond_init(cond, &attributes)
        pthread_cond_init(quiet, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_cond_destroy(quiet)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        quiet.deallocate()
        mutex.deallocate()
    }

    // The mutex, and the condition waited on under it, as NSCondition's methods.
    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }
    public func signal() { pthread_cond_signal(cond) }
    /// Wakes every waiter, on either condition.
    public func broadcast() {
        pthread_cond_broadcast(cond)
        pthread_cond_broadcast(quiet)
    }
    /// Wakes the waiters of the main condition only.
    public func broadcastMain() { pthread_cond_broadcast(cond) }
    /// Wakes the waiters of the quiet condition only.
    public func broadcastQuiet() { pthread_cond_broadcast(quiet) }
    public func wait() { pthread_cond_wait(cond, mutex) }
    /// Waits on the quiet condition.
    public func waitQuiet() { pthread_cond_wait(quiet, mutex) }

    /// Waits until signalled or until `deadline` (wall-clock, as NSCondition took it).
    /// - Returns: false when the deadline passed.
    @discardableResult
    public func wait(until deadline: Date) -> Bool { wait(on: cond, until: deadline) }

    /// ``wait(until:)`` on the quiet condition.
    @discardableResult
    public func waitQuiet(until deadline: Date) -> Bool { wait(on: quiet, until: deadline) }

    private func wait(on cond: UnsafeMutablePointer<pthread_cond_t>, until deadline: Date) -> Bool {
        let seconds = max(0, deadline.timeIntervalSinceNow)
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let whole = seconds.rounded(.down)
        var nanos = Int(now.tv_nsec) + Int((seconds - whole) * 1e9)
        var secs = Int(now.tv_sec) + Int(min(whole, 1e9))
        if nanos >= 1_000_000_000 { secs += 1; nanos -= 1_000_000_000 }
        var until = timespec(tv_sec: secs, tv_nsec: nanos)
        return pthread_cond_timedwait(cond, mutex, &until) == 0
    }

    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// Starting and pausing threads without Foundation's Thread.
public enum Threads {
    /// Starts a detached thread running `body`.
    public static func start(_ body: @escaping @Sendable () -> Void) {
        final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        let attributes = UnsafeMutablePointer<pthread_attr_t>.allocate(capacity: 1)
        defer { attributes.deallocate() }
        pthread_attr_init(attributes)
        pthread_attr_setdetachstate(attributes, Int32(PTHREAD_CREATE_DETACHED))
        var id: pthread_t = 0
        let rc = pthread_create(&id, attributes, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, box)
        pthread_attr_destroy(attributes)
        precondition(rc == 0, "cannot start a thread: \(String(cString: strerror(rc)))")
    }

    /// Sleeps the calling thread.
    public static func sleep(_ seconds: Double) {
        guard seconds > 0 else { return }
        var left = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - seconds.rounded(.down)) * 1e9))
        var rest = timespec()
        while nanosleep(&left, &rest) == -1 && errno == EINTR { left = rest }
    }
}

/// Path arithmetic as NSString did it, for the few operations the pipeline needs.
public enum Path {
    /// `a/b`, with one slash between; `b` alone when `a` is empty.
    public static func join(_ a: String, _ b: String) -> String {
        if a.isEmpty { return b }
        if b.isEmpty { return a }
        return a.hasSuffix("/") ? a + b : a + "/" + b
    }

    /// The path without its last component: `/a/b` → `/a`, `/a` → `/`, `a` → ``.
    public static func parent(_ p: String) -> String {
        var s = Substring(p)
        while s.count > 1 && s.hasSuffix("/") { s = s.dropLast() }
        guard let slash = s.lastIndex(of: "/") else { return "" }
        if slash == s.startIndex { return "/" }
        return String(s[..<slash])
    }

    /// The last component: `a/b/` → `b`.
    public static func lastComponent(_ p: String) -> String {
        var s = Substring(p)
        while s.count > 1 && s.hasSuffix("/") { s = s.dropLast() }
        guard let slash = s.lastIndex(of: "/"), s.count > 1 else { return String(s) }
        return String(s[s.index(after: slash)...])
    }

    /// Whether `p` names a directory (following links).
    public static func isDirectory(_ p: String) -> Bool {
        var st = stat()
        return stat(p, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }
}

/// `x` with `places` decimals, as printf's `%.Nf` writes it.
public func fixed(_ x: Double, _ places: Int) -> String {
    var buffer = [CChar](repeating: 0, count: 64)
    _ = withVaList([x]) { vsnprintf(&buffer, buffer.count, "%.\(places)f", $0) }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// The text of an errno value (by default the last failed call's).
public func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

/// Up to `limit` bytes read from `fd`: empty at the end, nil on an error (errno set).
public func readChunk(_ fd: Int32, limit: Int = 1 << 20) -> [UInt8]? {
    while true {
        var n = 0
        let buffer = [UInt8](unsafeUninitializedCapacity: limit) { raw, count in  // read(2) fills what is kept
            n = read(fd, raw.baseAddress, limit)
            count = max(n, 0)
        }
        if n < 0 && errno == EINTR { continue }
        if n < 0 { return nil }
        return buffer
    }
}

/// Writes to standard error in one write(2) call.
public func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress! + offset, $0.count - offset) }
        if n < 0 { if errno == EINTR { continue }; return }
        offset += n
    }
}

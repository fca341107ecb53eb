import CLua
import FoundationEssentials
import Glibc
import Synchronization

/// The one owner of a ``Sandbox``'s `lua_State`: every entry checks that it comes from the
/// owning thread (like swift-nio's `NIOLoopBound`), so a state never runs on two threads
/// and never hops threads per message (DESIGN §3).
///
/// The first entry claims the sandbox for its thread. A hand-over to another thread (the
/// reloader building a version that a worker then runs, an input's decode thread taking
/// over) is explicit, at a call boundary: the owner calls ``release()``, and the next entry
/// claims it.
public final class PinnedSandbox: @unchecked Sendable {  // the state is only touched in enter(), which checks the owning thread
    private let sandbox: Sandbox
    private let owner: ThreadOwner

    public init(_ sandbox: Sandbox) {
        self.sandbox = sandbox
        owner = ThreadOwner(sandbox.name)
    }

    /// The plugin's name.
    public var name: String { sandbox.name }

    /// Runs `body` with the sandbox, on the owning thread (claiming it when unclaimed).
    /// - Throws: ``WrongThread`` naming both threads when another thread owns it.
    public func enter<T>(_ body: (Sandbox) throws(SandboxError) -> T) throws(WrongThread) -> Result<T, SandboxError> {
        try owner.check()
        do {
            return .success(try body(sandbox))
        } catch {
            return .failure(error)
        }
    }

    /// Gives the sandbox up, at a call boundary, so that another thread may claim it.
    /// - Throws: ``WrongThread`` when called from a thread that does not own it.
    public func release() throws(WrongThread) { try owner.release() }
}

/// Which thread may use a Lua state: claimed by the first entry, checked on every entry,
/// handed over explicitly at a call boundary. ``PinnedSandbox`` wraps one sandbox with it;
/// a filter runner (whose sandbox changes with restarts and new versions) checks it on
/// every step, and the worker pool hands it over when its watchdog moves the filter.
final class ThreadOwner: Sendable {
    private let what: String
    /// The owning thread (0: unclaimed).
    private let owner = Atomic<UInt>(0)
    private let ownerName = Mutex<String>("")

    init(_ what: String) { self.what = what }

    /// Claims for the calling thread when unclaimed; refuses another thread.
    func check() throws(WrongThread) {
        let me = ThreadIdentity.current
        // The owner's own entries: only the owner changes the slot away from itself.
        if owner.load(ordering: .relaxed) == me { return }
        let (claimed, current) = owner.compareExchange(expected: 0, desired: me, ordering: .acquiringAndReleasing)
        if claimed {
            ownerName.withLock { $0 = Self.threadName() }
        } else if current != me {
            throw WrongThread(sandbox: what, owner: "\(ownerName.withLock { $0 }) (\(current))", caller: "\(Self.threadName()) (\(me))")
        }
    }

    /// The owner gives it up; the next entry claims it.
    func release() throws(WrongThread) {
        let me = ThreadIdentity.current
        let current = owner.load(ordering: .acquiring)
        guard current == 0 || current == me else {
            throw WrongThread(sandbox: what, owner: "\(ownerName.withLock { $0 }) (\(current))", caller: "\(Self.threadName()) (\(me))")
        }
        owner.store(0, ordering: .releasing)
    }

    /// A hand-over decided by a third party that knows no call is running (the worker
    /// pool, under its lock, between two calls): the next entry claims it.
    func handOver() { owner.store(0, ordering: .releasing) }

    static func threadName() -> String {
        let name = ThreadName.current
        return name.isEmpty ? "thread" : "thread '\(name)'"
    }
}

/// Names of the daemon's threads, for errors that name a thread: threads register their
/// name here when they start (the kernel's copy, for `top -H`, keeps 15 bytes).
public enum ThreadName {
    private static let names = Mutex<[UInt: String]>([:])

    /// Names the calling thread.
    public static func set(_ name: String) {
        names.withLock { $0[ThreadIdentity.current] = name }
        clp_set_thread_name(name)
    }

    /// The calling thread's name ("" when it has none).
    public static var current: String { names.withLock { $0[ThreadIdentity.current] } ?? "" }
}

/// A number per thread, never reused: `pthread_self()` values are reused once a thread
/// has ended, so they cannot tell an owner that ended from its successor.
enum ThreadIdentity {
    private static let next = Atomic<UInt>(1)
    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()

    static var current: UInt {
        if let p = pthread_getspecific(key) { return UInt(bitPattern: p) }
        let id = next.wrappingAdd(1, ordering: .relaxed).oldValue
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: id))
        return id
    }
}

/// A sandbox entered from a thread that does not own it: a programming error, refused
/// before any Lua runs.
public struct WrongThread: Error, CustomStringConvertible {
    public let sandbox: String
    public let owner: String
    public let caller: String
    public var description: String { "sandbox \(sandbox) is owned by \(owner) and was entered from \(caller)" }
}

#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A listening input's socket, bound by ``open()`` before the input's thread starts (so a
/// port already taken is a start-up error, or a rejected reload) and taken by its `run()`,
/// which closes it when it ends.
final class BoundSocket: Sendable {
    private let fd = Mutex<Int32>(-1)
    private let make: @Sendable () throws(Socket.Failure) -> Int32

    init(_ make: @escaping @Sendable () throws(Socket.Failure) -> Int32) { self.make = make }

    /// Binds now (nothing when already bound).
    func open() throws(Socket.Failure) {
        guard fd.withLock({ $0 }) < 0 else { return }
        let made = try make()
        fd.withLock { $0 = made }
    }

    /// The bound socket, now owned by the caller; bound now if ``open()`` was not called.
    func take() throws(Socket.Failure) -> Int32 {
        try open()
        return fd.withLock { f in
            defer { f = -1 }
            return f
        }
    }

    deinit {
        let f = fd.withLock { $0 }
        if f >= 0 { close(f) }
    }
}

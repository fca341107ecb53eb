import FoundationEssentials
import Glibc

/// The few socket calls the client needs (it links neither Foundation's networking nor
/// the daemon's library).
enum DaemonSocket {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }

    /// host and port of "host:port" ("[v6]:port" too).
    static func split(_ address: String) throws(Failure) -> (String, String) {
        guard let colon = address.lastIndex(of: ":") else { throw Failure(description: "\(address) is not host:port") }
        var host = String(address[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, String(address[address.index(after: colon)...]))
    }

    /// A connected socket of `type` (SOCK_STREAM or SOCK_DGRAM), within `timeout` seconds.
    static func connect(_ address: String, type: Int32, timeout: Double = 5) throws(Failure) -> Int32 {
        let (host, port) = try split(address)
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = type
        var res: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host.isEmpty ? nil : host, port, &hints, &res)
        guard rc == 0, let first = res else { throw Failure(description: "cannot resolve \(address): \(String(cString: gai_strerror(rc)))") }
        defer { freeaddrinfo(res) }
        var why = "no address"
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            let fd = socket(a.pointee.ai_family, type | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            if fd >= 0 {
                if Glibc.connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 || (errno == EINPROGRESS && wait(fd, POLLOUT, timeout) && soError(fd) == 0) {
                    let flags = fcntl(fd, F_GETFL)
                    if type == Int32(SOCK_STREAM.rawValue) { _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
                    return fd
                }
                why = errnoText()
                close(fd)
            }
            ai = a.pointee.ai_next
        }
        throw Failure(description: "cannot connect to \(address): \(why)")
    }

    private static func soError(_ fd: Int32) -> Int32 {
        var e: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len)
        errno = e
        return e
    }

    /// Waits until `fd` has `events` (POLLIN, POLLOUT), up to `seconds`.
    static func wait(_ fd: Int32, _ events: Int32, _ seconds: Double) -> Bool {
        var p = pollfd(fd: fd, events: Int16(events), revents: 0)
        return poll(&p, 1, Int32(seconds * 1000)) > 0
    }

    /// Writes all of `bytes`, waiting at most `seconds` for room; false on failure.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], timeout seconds: Double = 10) -> Bool {
        var off = 0
        return bytes.withUnsafeBytes { raw in
            while off < raw.count {
                let n = send(fd, raw.baseAddress! + off, raw.count - off, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                if n > 0 {
                    off += n
                } else if n < 0 && (errno == EAGAIN || errno == EINTR) {
                    if !wait(fd, POLLOUT, seconds) { return false }
                } else {
                    return false
                }
            }
            return true
        }
    }
}

/// A thread of the client's own (pthread: no Foundation Thread needed).
enum ClientThread {
    static func start(_ body: @escaping @Sendable () -> Void) {
        final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var id: pthread_t = 0
        let rc = pthread_create(&id, nil, { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, box)
        precondition(rc == 0, "cannot start a thread")
        pthread_detach(id)
    }

    static func sleep(_ seconds: Double) {
        guard seconds > 0 else { return }
        var t = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - seconds.rounded(.down)) * 1e9))
        var rest = timespec()
        while nanosleep(&t, &rest) == -1 && errno == EINTR { t = rest }
    }
}

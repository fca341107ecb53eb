import FoundationEssentials
import Glibc

/// Small blocking-socket helpers (IPv4/IPv6 via getaddrinfo). luapiped's plugins run on
/// their own threads, so blocking I/O with poll timeouts is enough here.
enum Socket {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Splits "host:port" (IPv6 as "[::1]:5565").
    static func split(_ address: String) throws(Failure) -> (String, String) {
        guard let colon = address.lastIndex(of: ":") else { throw Failure(description: "address \"\(address)\" has no port") }
        var host = String(address[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, String(address[address.index(after: colon)...]))
    }

    private static func resolve(_ address: String, passive: Bool) throws(Failure) -> UnsafeMutablePointer<addrinfo> {
        let (host, port) = try split(address)
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        if passive { hints.ai_flags = AI_PASSIVE }
        var res: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host.isEmpty ? nil : host, port, &hints, &res)
        guard rc == 0, let res else { throw Failure(description: "cannot resolve \(address): \(String(cString: gai_strerror(rc)))") }
        return res
    }

    /// A bound UDP socket.
    static func bindUDP(_ address: String) throws(Failure) -> Int32 {
        let (host, port) = try split(address)
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var res: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host.isEmpty ? nil : host, port, &hints, &res)
        guard rc == 0, let ai = res else { throw Failure(description: "cannot resolve \(address): \(String(cString: gai_strerror(rc)))") }
        defer { freeaddrinfo(ai) }
        let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), ai.pointee.ai_protocol)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        guard bind(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 else {
            let e = String(cString: strerror(errno))
            close(fd)
            throw Failure(description: "cannot bind \(address): \(e)")
        }
        return fd
    }

    /// A socket for the first address `address` resolves to, handed to `setUp` (bind,
    /// connect…), which returns false on failure; the socket is closed then.
    private static func open(_ address: String, passive: Bool, _ action: String,
                             _ setUp: (Int32, UnsafeMutablePointer<addrinfo>) -> Bool) throws(Failure) -> Int32 {
        let ai = try resolve(address, passive: passive)
        defer { freeaddrinfo(ai) }
        let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), ai.pointee.ai_protocol)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        guard setUp(fd, ai) else {
            let e = String(cString: strerror(errno))
            close(fd)
            throw Failure(description: "cannot \(action) \(address): \(e)")
        }
        return fd
    }

    static func listen(_ address: String) throws(Failure) -> Int32 {
        try open(address, passive: true, "listen on") { fd, ai in
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            return bind(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 && Glibc.listen(fd, 128) == 0
        }
    }

    static func connect(_ address: String) throws(Failure) -> Int32 {
        try open(address, passive: false, "connect to") { fd, ai in
            guard Glibc.connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 else { return false }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            return true
        }
    }

    /// The address of a connected socket's peer, as "host:port".
    static func peerName(_ fd: Int32) -> String {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST)), port = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let ok = withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getpeername(fd, $0, &len) == 0
                    && getnameinfo($0, len, &host, socklen_t(host.count), &port, socklen_t(port.count), NI_NUMERICHOST | NI_NUMERICSERV) == 0
            }
        }
        guard ok else { return "an unknown peer" }
        func text(_ c: [CChar]) -> String { String(decoding: c.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        let h = text(host)
        return (h.contains(":") ? "[\(h)]" : h) + ":" + text(port)
    }

    /// Waits up to `ms` for `fd` to be readable.
    static func readable(_ fd: Int32, ms: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, ms) > 0
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = send(fd, raw.baseAddress! + off, raw.count - off, Int32(MSG_NOSIGNAL))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                off += n
            }
            return true
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
@testable import LuaPipeline

/// The port a bound IPv4 socket got.
func boundPort(_ fd: Int32) -> Int {
    var addr = sockaddr_in()
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// A TCP port nobody listens on now.
func freeTcpPort() throws -> Int {
    let fd = try Socket.listen("127.0.0.1:0")
    defer { close(fd) }
    return boundPort(fd)
}

/// A UDP port nobody is bound to now.
func freeUdpPort() throws -> Int {
    let fd = try Socket.bindUDP("127.0.0.1:0")
    defer { close(fd) }
    return boundPort(fd)
}

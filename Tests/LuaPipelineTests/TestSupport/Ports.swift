#if canImport(Glibc)
import Glibc
#endif
@testable import LuaPipeline
import Foundation
import Synchronization

/// The port a bound IPv4 socket got.
func boundPort(_ fd: Int32) -> Int {
    var addr = sockaddr_in()
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// A TCP port nobody listens on now, from below the kernel's ephemeral range (see the UDP
/// picker below): a port picked inside it could become the local port of any outgoing
/// connection between the check and the server's bind. That happened once: a store
/// server's line port taken, the test's points sent to whatever held it.
func freeTcpPort() throws -> Int {
    for _ in 0..<1000 where !pickRange.isEmpty {
        let p = Int.random(in: pickRange)
        guard handedOutTcp.withLock({ $0.insert(p).inserted }) else { continue }
        if let fd = try? Socket.listen("127.0.0.1:\(p)") {
            close(fd)
            return p
        }
    }
    let fd = try Socket.listen("127.0.0.1:0")
    defer { close(fd) }
    return boundPort(fd)
}
private let handedOutTcp = Mutex<Set<Int>>([])

/// UDP ports for the tests come from below the kernel's ephemeral range (the ports it
/// hands out to unbound senders and connected sockets, 32768-60999 by default). A port
/// picked inside it could be taken by any datagram socket between the check and the
/// daemon's bind: under load that happened ("StatsdInput: cannot bind 127.0.0.1:49793:
/// Address already in use", the port free again a moment later). Below the range only
/// another picker can take it, and within this process each port is handed out once.
private let handedOutUdp = Mutex<Set<Int>>([])

private let pickRange: Range<Int> = {
    let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
    let low = text.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } ?? 32768
    return low > 12000 ? 10000..<low : 0..<0
}()

/// A UDP port nobody is bound to now.
func freeUdpPort() throws -> Int {
    for _ in 0..<1000 where !pickRange.isEmpty {
        let p = Int.random(in: pickRange)
        guard handedOutUdp.withLock({ $0.insert(p).inserted }) else { continue }
        if let fd = try? Socket.bindUDP("127.0.0.1:\(p)") {
            close(fd)
            return p
        }
    }
    // No room below the ephemeral range on this machine: the kernel's pick.
    let fd = try Socket.bindUDP("127.0.0.1:0")
    defer { close(fd) }
    return boundPort(fd)
}

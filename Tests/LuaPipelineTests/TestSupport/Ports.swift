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

/// Test ports come from below the kernel's ephemeral range (the ports it hands out to
/// unbound senders and connected sockets, 32768-60999 by default). A port picked inside
/// it could be taken by any socket between the check and the server's bind. Under load
/// that happened for UDP ("StatsdInput: cannot bind 127.0.0.1:49793: Address already in
/// use", the port free again a moment later) and for TCP (a store server's line port
/// taken, the test's points sent to whatever held it). Below the range only another
/// picker can take it, and within this process each port is handed out once.
private let pickRange: Range<Int> = {
    let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
    let low = text.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } ?? 32768
    return low > 12000 ? 10000..<low : 0..<0
}()
private let handedOutTcp = Mutex<Set<Int>>([])
private let handedOutUdp = Mutex<Set<Int>>([])

/// A port from below the ephemeral range that `bind` (a socket's bind to "127.0.0.1:P",
/// returning its descriptor) takes now; with no room there, the kernel's pick (":0").
private func freePort(_ handedOut: borrowing Mutex<Set<Int>>, _ bind: (String) throws -> Int32) throws -> Int {
    for _ in 0..<1000 where !pickRange.isEmpty {
        let p = Int.random(in: pickRange)
        guard handedOut.withLock({ $0.insert(p).inserted }) else { continue }
        if let fd = try? bind("127.0.0.1:\(p)") {
            close(fd)
            return p
        }
    }
    let fd = try bind("127.0.0.1:0")
    defer { close(fd) }
    return boundPort(fd)
}

/// A TCP port nobody listens on now.
func freeTcpPort() throws -> Int { try freePort(handedOutTcp) { try Socket.listen($0) } }

/// A UDP port nobody is bound to now.
func freeUdpPort() throws -> Int { try freePort(handedOutUdp) { try Socket.bindUDP($0) } }

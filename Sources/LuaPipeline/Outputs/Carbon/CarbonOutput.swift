import FoundationEssentials
import Glibc

struct CarbonOutputOptions: PluginOptions {
    var reader = ReaderOptions()
    var address = "127.0.0.1:2003"
    var proto = "tcp"
    var tcpKeepAlive = false
    var tcpKeepAlivePeriod = 7200
    var flushCount = 64
    static let options: [OptionSpec<Self>] = .flatten(\.reader) + [
        .init("address", \.address, "host:port of the carbon daemon (plaintext protocol)"),
        .init("protocol", \.proto, allowed: ["tcp", "udp"], "tcp (lines on one connection, reconnected with backoff) or udp (datagrams of whole lines)"),
        .init("tcp_keep_alive", \.tcpKeepAlive, "TCP keep-alive probes on the connection"),
        .init("tcp_keep_alive_period", \.tcpKeepAlivePeriod, "seconds of idleness before keep-alive probes"),
        .init("flush_count", \.flushCount, "messages sent in one write"),
    ]
    var readerOptions: ReaderOptions? { reader }
}

/// Heka's CarbonOutput: the Payload of each message (carbon's plaintext lines `path value
/// timestamp`, as StatAccumInput emits them, or as a filter writes them) to a Graphite
/// carbon daemon over TCP or UDP. A failed write is retried with backoff and the messages
/// stay unacknowledged until it succeeds (TCP); over UDP what the network loses is lost.
final class CarbonSink: OutputSink {
    let address: String
    let udp: Bool
    let keepAlive: Int?
    private var fd: Int32 = -1
    static let datagramBytes = 1400

    init(address: String, udp: Bool, keepAlive: Int?) {
        self.address = address
        self.udp = udp
        self.keepAlive = keepAlive
    }

    deinit { if fd >= 0 { close(fd) } }

    func write(_ bytes: [UInt8]) throws(EncodeError) {
        if fd < 0 { try connectNow() }
        if udp {
            // Datagrams of whole lines, each under a typical MTU.
            var start = 0
            while start < bytes.count {
                var end = min(bytes.count, start + Self.datagramBytes)
                if end < bytes.count, let nl = bytes[start..<end].lastIndex(of: 0x0A) { end = nl + 1 }
                let n = bytes[start..<end].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n < 0 { throw failed("send") }
                start = end
            }
            return
        }
        guard Socket.writeAll(fd, bytes) else { throw failed("send") }
    }

    private func failed(_ what: String) -> EncodeError {
        let e = EncodeError(description: "\(what) to carbon at \(address) (\(udp ? "udp" : "tcp")) failed: \(errnoText())")
        close(fd)
        fd = -1
        return e
    }

    private func connectNow() throws(EncodeError) {
        if !udp {
            do throws(Socket.Failure) {
                fd = try Socket.connect(address)
            } catch {
                throw EncodeError(description: "carbon at \(address): \(error)")
            }
            if let keepAlive {
                var on: Int32 = 1, idle = Int32(keepAlive)
                setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, socklen_t(MemoryLayout<Int32>.size))
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, &idle, socklen_t(MemoryLayout<Int32>.size))
            }
            return
        }
        let (host, port): (String, String)
        do throws(Socket.Failure) { (host, port) = try Socket.split(address) } catch { throw EncodeError(description: "\(error)") }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host.isEmpty ? nil : host, port, &hints, &res)
        guard rc == 0, let res else { throw EncodeError(description: "cannot resolve \(address): \(String(cString: gai_strerror(rc)))") }
        defer { freeaddrinfo(res) }
        let s = socket(res.pointee.ai_family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0, Glibc.connect(s, res.pointee.ai_addr, res.pointee.ai_addrlen) == 0 else {
            let e = EncodeError(description: "carbon at \(address) (udp): \(errnoText())")
            if s >= 0 { close(s) }
            throw e
        }
        fd = s
    }
}

/// Each message's Payload as carbon lines (a last newline added when missing; a message
/// without a Payload sends nothing).
final class CarbonLinesEncoder: MessageEncoder {
    var framesByDefault: Bool { false }
    func encode(_ view: MessageView) throws(EncodeError) -> [UInt8]? {
        guard let r = view.range(of: .payload), !r.isEmpty else { return nil }
        var out = Array(view.bytes[r])
        if out.last != 0x0A { out.append(0x0A) }
        return out
    }
}

extension CarbonSink {
    static let plugin = PluginType.output("CarbonOutput", "sends the Payload's carbon lines (path value timestamp) to Graphite's carbon over TCP or UDP",
                                          CarbonOutputOptions.self) { o, ctx, reader throws(ConfigError) in
        let sink = CarbonSink(address: o.address, udp: o.proto == "udp", keepAlive: o.tcpKeepAlive ? max(1, o.tcpKeepAlivePeriod) : nil)
        return OutputRunner(name: ctx.name, reader: reader, encoder: CarbonLinesEncoder(), framing: false, sink: sink,
                            counters: ctx.counters, log: ctx.log, flushCount: max(1, o.flushCount), flushInterval: 0.2)
    }
}

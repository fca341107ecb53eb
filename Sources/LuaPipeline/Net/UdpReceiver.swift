#if canImport(Glibc)
import Glibc
#endif
import CLua
import FoundationEssentials

/// Reads datagrams from a bound UDP socket whose receive buffer is sized for bursts, and
/// counts the datagrams the kernel dropped on it for want of room (SO_RXQ_OVFL) as the
/// input's `kernel_drops`, logging when that count grows (at most once a second).
struct UdpReceiver {
    /// The receive buffer asked for by default: a burst of a few thousand metrics.
    static let defaultBufferBytes = 8 << 20

    let fd: Int32
    let name: String
    let counters: PluginCounters
    let log: PipelineLog
    private var kernelDrops: UInt32 = 0
    private var unreported = 0
    private var lastReport = Date.distantPast

    /// Sizes the buffer and reports what the kernel granted (net.core.rmem_max caps it
    /// unless the process may force it).
    init(fd: Int32, bufferBytes: Int, name: String, counters: PluginCounters, log: PipelineLog) {
        self.fd = fd
        self.name = name
        self.counters = counters
        self.log = log
        let granted = clp_udp_prepare(fd, Int32(clamping: bufferBytes))
        if granted < 0 {
            log.error(name, "receive buffer of \(bufferBytes) bytes and drop counting: \(String(cString: strerror(errno)))")
        } else {
            // Linux reports twice the size asked (the other half is its bookkeeping).
            let note = Int(granted) / 2 < bufferBytes ? " (capped by net.core.rmem_max; raise it, or run with CAP_NET_ADMIN)" : ""
            log.info(name, "receive buffer: asked \(bufferBytes) bytes, the kernel granted \(granted)\(note)")
        }
    }

    /// One datagram into `buf`: its full length (over `buf.count` when cut), or nil when
    /// none is waiting (with `MSG_DONTWAIT`) or on error.
    mutating func receive(into buf: inout [UInt8], flags: Int32 = 0) -> Int? {
        var drops: UInt32 = 0
        var has: Int32 = 0
        let n = buf.withUnsafeMutableBytes { clp_udp_recv(fd, $0.baseAddress, $0.count, flags, &drops, &has) }
        if has != 0 && drops != kernelDrops {
            let grew = Int(drops &- kernelDrops)
            kernelDrops = drops
            counters.add(.kernelDrops, Int64(grew))
            unreported += grew
        }
        if unreported > 0 && Date().timeIntervalSince(lastReport) >= 1 {
            log.error(name, "the kernel dropped \(unreported) datagrams (receive buffer full; \(kernelDrops) in all)")
            unreported = 0
            lastReport = Date()
        }
        return n > 0 ? n : nil
    }
}

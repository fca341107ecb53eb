#if canImport(Glibc)
import Glibc
#endif

/// A buffered writer to a file descriptor (or to memory, for tests).
public final class ByteSink {
    private var buffer: [UInt8] = []
    private let fd: Int32?
    /// What was written, when the sink has no descriptor.
    public private(set) var captured: [UInt8] = []

    /// Writes to `fd`; `nil` keeps everything in ``captured``.
    public init(fd: Int32?) {
        self.fd = fd
        buffer.reserveCapacity(1 << 16)
    }

    public func write(_ bytes: some Collection<UInt8>) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 16 { flush() }
    }

    public func write(_ s: String) { write(s.utf8) }

    public func flush() {
        guard !buffer.isEmpty else { return }
        if let fd {
            buffer.withUnsafeBytes { raw in
                var off = 0
                while off < raw.count {
                    let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                    if n <= 0 { if errno == EINTR { continue }; break }
                    off += n
                }
            }
        } else {
            captured.append(contentsOf: buffer)
        }
        buffer.removeAll(keepingCapacity: true)
    }

    deinit { flush() }
}

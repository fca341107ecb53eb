import FoundationEssentials
import Glibc
@_exported import LuapipedCore

/// A field value of a message sent to luapiped (Heka's typed fields).
public enum LuapipedValue: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case double(Double)
    case bool(Bool)
}

/// One message for the daemon, in Heka's model: the headers and typed fields. Encoded as
/// Heka's protobuf, framed, as the daemon's TcpInput reads by default.
public struct LuapipedMessage: Sendable {
    public var uuid: [UInt8]
    /// Nanoseconds since the epoch.
    public var timestamp: Int64
    public var type: String
    public var logger: String
    /// Syslog severity, 0 (emergency) to 7 (debug).
    public var severity: Int32
    public var payload: String
    public var hostname: String
    public var pid: Int32
    public var fields: [(String, LuapipedValue)]

    public init(type: String, payload: String = "", logger: String = "", severity: Int32 = 6,
                fields: [(String, LuapipedValue)] = [], timestamp: Int64? = nil) {
        var g = SystemRandomNumberGenerator()
        var u = (0..<2).flatMap { _ in withUnsafeBytes(of: g.next() as UInt64) { Array($0) } }
        u[6] = (u[6] & 0x0F) | 0x40  // version 4
        u[8] = (u[8] & 0x3F) | 0x80  // RFC 4122 variant
        self.uuid = u
        self.timestamp = timestamp ?? Self.now()
        self.type = type
        self.logger = logger
        self.severity = severity
        self.payload = payload
        self.hostname = Self.hostname
        self.pid = Int32(getpid())
        self.fields = fields
    }

    static func now() -> Int64 {
        var t = timespec()
        clock_gettime(CLOCK_REALTIME, &t)
        return Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec)
    }

    static let hostname: String = {
        var buf = [CChar](repeating: 0, count: 256)
        gethostname(&buf, buf.count)
        return buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }()

    /// The same message in the daemon's model (LuapipedCore's ``Message``).
    public var message: Message {
        Message(uuid: uuid, timestamp: timestamp, type: type.isEmpty ? nil : type,
                logger: logger.isEmpty ? nil : logger, severity: severity,
                payload: payload.isEmpty ? nil : payload, pid: pid,
                hostname: hostname.isEmpty ? nil : hostname,
                fields: fields.map { name, value in
                    switch value {
                    case .string(let s): Field(name: name, value: .string([s]))
                    case .integer(let i): Field(name: name, value: .integer([i]))
                    case .double(let d): Field(name: name, value: .double([d]))
                    case .bool(let b): Field(name: name, value: .bool([b]))
                    }
                })
    }

    /// The protobuf bytes of Heka's Message, by the daemon's own encoder.
    public func encoded() -> [UInt8] { message.encoded() }

    /// The message with Heka's stream framing, as TcpInput reads it.
    public func framed() -> [UInt8] { StreamFraming.frame(encoded()) }
}

import CHekaWire
import FoundationEssentials
import Glibc

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

    /// The protobuf bytes of Heka's Message.
    public func encoded() -> [UInt8] {
        var w = Writer()
        w.bytes(HEKA_MESSAGE_UUID, uuid)
        w.varint(HEKA_MESSAGE_TIMESTAMP, UInt64(bitPattern: timestamp))
        if !type.isEmpty { w.bytes(HEKA_MESSAGE_TYPE, Array(type.utf8)) }
        if !logger.isEmpty { w.bytes(HEKA_MESSAGE_LOGGER, Array(logger.utf8)) }
        w.varint(HEKA_MESSAGE_SEVERITY, UInt64(bitPattern: Int64(severity)))
        if !payload.isEmpty { w.bytes(HEKA_MESSAGE_PAYLOAD, Array(payload.utf8)) }
        w.varint(HEKA_MESSAGE_PID, UInt64(bitPattern: Int64(pid)))
        if !hostname.isEmpty { w.bytes(HEKA_MESSAGE_HOSTNAME, Array(hostname.utf8)) }
        for (name, value) in fields {
            var f = Writer()
            f.bytes(HEKA_FIELD_NAME, Array(name.utf8))
            switch value {
            case .string(let s):
                f.bytes(HEKA_FIELD_VALUE_STRING, Array(s.utf8))
            case .integer(let i):
                f.varint(HEKA_FIELD_VALUE_TYPE, UInt64(HEKA_VALUE_INTEGER))
                var p = Writer()
                p.rawVarint(UInt64(bitPattern: i))
                f.bytes(HEKA_FIELD_VALUE_INTEGER, p.out)
            case .double(let d):
                f.varint(HEKA_FIELD_VALUE_TYPE, UInt64(HEKA_VALUE_DOUBLE))
                f.bytes(HEKA_FIELD_VALUE_DOUBLE, withUnsafeBytes(of: d.bitPattern.littleEndian) { Array($0) })
            case .bool(let b):
                f.varint(HEKA_FIELD_VALUE_TYPE, UInt64(HEKA_VALUE_BOOL))
                f.bytes(HEKA_FIELD_VALUE_BOOL, [b ? 1 : 0])
            }
            w.bytes(HEKA_MESSAGE_FIELDS, f.out)
        }
        return w.out
    }

    /// The message with Heka's stream framing, as TcpInput reads it.
    public func framed() -> [UInt8] {
        let body = encoded()
        var header = [UInt8](repeating: 0, count: Int(HEKA_FRAME_HEADER_MAX))
        let n = header.withUnsafeMutableBufferPointer { heka_frame_header($0.baseAddress, UInt64(body.count)) }
        return Array(header[0..<n]) + body
    }

    private struct Writer {
        var out: [UInt8] = []
        mutating func rawVarint(_ v: UInt64) {
            var v = v
            while v >= 0x80 {
                out.append(UInt8(v & 0x7F) | 0x80)
                v >>= 7
            }
            out.append(UInt8(v))
        }
        mutating func key(_ field: Int, _ wire: Int) { rawVarint(UInt64(field << 3 | wire)) }
        mutating func varint(_ field: Int, _ v: UInt64) {
            key(field, Int(HEKA_WIRE_VARINT))
            rawVarint(v)
        }
        mutating func bytes(_ field: Int, _ b: [UInt8]) {
            key(field, Int(HEKA_WIRE_BYTES))
            rawVarint(UInt64(b.count))
            out += b
        }
    }
}

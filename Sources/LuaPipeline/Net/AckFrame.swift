/// The acknowledgement a TcpInput with `ack = true` sends for each message once it is in
/// its log: 0x06 (ASCII ACK) then the message's 16-byte Uuid. docs/tcp-ack.md.
enum AckFrame {
    static let marker: UInt8 = 0x06
    static let size = 17

    static func make(_ uuid: UnsafeRawBufferPointer) -> [UInt8] { [marker] + Array(uuid) }
}

#if canImport(Glibc)
import Glibc
#endif

/// The few protobuf wire-format primitives Heka's schema needs.
///
/// Wire types used: 0 (varint), 1 (64-bit, doubles), 2 (length-delimited).
package enum WireType: UInt8 {
    case varint = 0, fixed64 = 1, lengthDelimited = 2, fixed32 = 5
}

/// Why a byte sequence is not a Heka message.
public struct ProtobufError: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String
    public let offset: Int
    public var description: String { "invalid protobuf at byte \(offset): \(reason)" }
}

extension Array where Element == UInt8 {

    package mutating func appendVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        append(UInt8(v))
    }


    package mutating func appendTag(_ field: Int, _ wire: WireType) {
        appendVarint(UInt64(field << 3) | UInt64(wire.rawValue))
    }


    package mutating func appendLengthDelimited(_ field: Int, _ bytes: some Collection<UInt8>) {
        appendTag(field, .lengthDelimited)
        appendVarint(UInt64(bytes.count))
        append(contentsOf: bytes)
    }


    package mutating func appendFixed64(_ value: UInt64) {
        var v = value.littleEndian
        Swift.withUnsafeBytes(of: &v) { append(contentsOf: $0) }
    }
}

/// Reads protobuf primitives from a byte region; every read is bounds-checked.
package struct WireReader {
    package let bytes: UnsafeRawBufferPointer
    package var offset: Int
    package let end: Int

    package init(_ bytes: UnsafeRawBufferPointer, from: Int = 0, to: Int? = nil) {
        self.bytes = bytes
        self.offset = from
        self.end = to ?? bytes.count
    }

    package var atEnd: Bool { offset >= end }

    package mutating func readVarint() throws(ProtobufError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while offset < end {
            let b = bytes[offset]
            offset += 1
            if shift == 63 && b > 1 { throw ProtobufError(reason: "varint overflows 64 bits", offset: offset - 1) }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw ProtobufError(reason: "varint too long", offset: offset) }
        }
        throw ProtobufError(reason: "truncated varint", offset: offset)
    }

    package mutating func readFixed64() throws(ProtobufError) -> UInt64 {
        guard end - offset >= 8 else { throw ProtobufError(reason: "truncated fixed64", offset: offset) }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
        offset += 8
        return v
    }

    /// Reads a length prefix and returns the range of the bytes it covers.
    package mutating func readLengthDelimited() throws(ProtobufError) -> Range<Int> {
        let len = try readVarint()
        guard len <= UInt64(end - offset) else {
            throw ProtobufError(reason: "length \(len) runs past the end", offset: offset)
        }
        let r = offset..<(offset + Int(len))
        offset += Int(len)
        return r
    }

    /// Returns (field number, wire type).
    package mutating func readTag() throws(ProtobufError) -> (Int, UInt8) {
        let at = offset
        let t = try readVarint()
        let field = t >> 3
        guard field > 0, field < (1 << 29) else { throw ProtobufError(reason: "bad field number", offset: at) }
        return (Int(field), UInt8(t & 7))
    }

    package mutating func skip(wire: UInt8) throws(ProtobufError) {
        switch wire {
        case 0: _ = try readVarint()
        case 1:
            guard end - offset >= 8 else { throw ProtobufError(reason: "truncated fixed64", offset: offset) }
            offset += 8
        case 2: _ = try readLengthDelimited()
        case 5:
            guard end - offset >= 4 else { throw ProtobufError(reason: "truncated fixed32", offset: offset) }
            offset += 4
        default: throw ProtobufError(reason: "unsupported wire type \(wire)", offset: offset)
        }
    }
}

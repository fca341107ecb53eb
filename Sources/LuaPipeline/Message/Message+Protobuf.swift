/// Heka's protobuf schema (`message.proto`), encoded by hand.
///
/// Field order follows the field numbers, as every protobuf library writes them, so the
/// bytes equal those of a real protobuf implementation (checked against golden files).
/// A `Field`'s `value_type` is written only when it is not `STRING` (its default);
/// integer, double and bool arrays are packed, as the schema declares.
extension Message {
    /// The message as Heka protobuf bytes.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + (payload?.utf8.count ?? 0) + fields.count * 24)
        out.appendLengthDelimited(1, uuid)
        out.appendTag(2, .varint)
        out.appendVarint(UInt64(bitPattern: timestamp))
        if let type { out.appendLengthDelimited(3, type.utf8) }
        if let logger { out.appendLengthDelimited(4, logger.utf8) }
        if let severity {
            out.appendTag(5, .varint)
            out.appendVarint(UInt64(bitPattern: Int64(severity)))
        }
        if let payload { out.appendLengthDelimited(6, payload.utf8) }
        if let envVersion { out.appendLengthDelimited(7, envVersion.utf8) }
        if let pid {
            out.appendTag(8, .varint)
            out.appendVarint(UInt64(bitPattern: Int64(pid)))
        }
        if let hostname { out.appendLengthDelimited(9, hostname.utf8) }
        for field in fields {
            let body = field.encoded()
            out.appendLengthDelimited(10, body)
        }
        return out
    }

    /// Decodes Heka protobuf bytes into the tree form.
    ///
    /// - Throws: ``ProtobufError`` when the bytes are not a well-formed message or lack
    ///   the required `uuid` (16 bytes) or `timestamp`.
    public init(protobuf bytes: some Collection<UInt8>) throws(ProtobufError) {
        let array = Array(bytes)
        var result: Result<Message, ProtobufError> = .failure(ProtobufError(reason: "empty", offset: 0))
        array.withUnsafeBytes { raw in
            do throws(ProtobufError) {
                result = .success(try Message.decode(raw))
            } catch {
                result = .failure(error)
            }
        }
        self = try result.get()
    }

    private static func string(_ raw: UnsafeRawBufferPointer, _ r: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: raw[r]), as: UTF8.self)
    }

    private static func decode(_ raw: UnsafeRawBufferPointer) throws(ProtobufError) -> Message {
        var m = Message()
        var reader = WireReader(raw)
        var haveUuid = false, haveTimestamp = false
        while !reader.atEnd {
            let (field, wire) = try reader.readTag()
            switch (field, wire) {
            case (1, 2):
                let r = try reader.readLengthDelimited()
                m.uuid = Array(raw[r])
                haveUuid = true
            case (2, 0):
                m.timestamp = Int64(bitPattern: try reader.readVarint())
                haveTimestamp = true
            case (3, 2): m.type = string(raw, try reader.readLengthDelimited())
            case (4, 2): m.logger = string(raw, try reader.readLengthDelimited())
            case (5, 0): m.severity = Int32(truncatingIfNeeded: Int64(bitPattern: try reader.readVarint()))
            case (6, 2): m.payload = string(raw, try reader.readLengthDelimited())
            case (7, 2): m.envVersion = string(raw, try reader.readLengthDelimited())
            case (8, 0): m.pid = Int32(truncatingIfNeeded: Int64(bitPattern: try reader.readVarint()))
            case (9, 2): m.hostname = string(raw, try reader.readLengthDelimited())
            case (10, 2):
                let r = try reader.readLengthDelimited()
                m.fields.append(try Field.decode(raw, r))
            default:
                try reader.skip(wire: wire)
            }
        }
        guard haveUuid, m.uuid.count == 16 else { throw ProtobufError(reason: "missing or malformed Uuid", offset: 0) }
        guard haveTimestamp else { throw ProtobufError(reason: "missing Timestamp", offset: 0) }
        return m
    }
}

extension Field {
    /// The `Field` submessage's bytes (without the enclosing tag and length).
    func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.appendLengthDelimited(1, name.utf8)
        if value.valueType != 0 {
            out.appendTag(2, .varint)
            out.appendVarint(UInt64(value.valueType))
        }
        if let representation { out.appendLengthDelimited(3, representation.utf8) }
        switch value {
        case .string(let vs):
            for v in vs { out.appendLengthDelimited(4, v.utf8) }
        case .bytes(let vs):
            for v in vs { out.appendLengthDelimited(5, v) }
        case .integer(let vs) where !vs.isEmpty:
            var packed: [UInt8] = []
            for v in vs { packed.appendVarint(UInt64(bitPattern: v)) }
            out.appendLengthDelimited(6, packed)
        case .double(let vs) where !vs.isEmpty:
            out.appendTag(7, .lengthDelimited)
            out.appendVarint(UInt64(vs.count * 8))
            for v in vs { out.appendFixed64(v.bitPattern) }
        case .bool(let vs) where !vs.isEmpty:
            out.appendTag(8, .lengthDelimited)
            out.appendVarint(UInt64(vs.count))
            for v in vs { out.append(v ? 1 : 0) }
        default:
            break
        }
        return out
    }

    static func decode(_ raw: UnsafeRawBufferPointer, _ range: Range<Int>) throws(ProtobufError) -> Field {
        var reader = WireReader(raw, from: range.lowerBound, to: range.upperBound)
        var name: String?
        var valueType = 0
        var representation: String?
        var strings: [String] = [], bytes: [[UInt8]] = [], ints: [Int64] = [], doubles: [Double] = [], bools: [Bool] = []
        while !reader.atEnd {
            let (field, wire) = try reader.readTag()
            switch (field, wire) {
            case (1, 2): name = String(decoding: UnsafeRawBufferPointer(rebasing: raw[try reader.readLengthDelimited()]), as: UTF8.self)
            case (2, 0):
                let at = reader.offset
                let t = try reader.readVarint()
                guard t <= 4 else { throw ProtobufError(reason: "unknown value_type \(t)", offset: at) }
                valueType = Int(t)
            case (3, 2): representation = String(decoding: UnsafeRawBufferPointer(rebasing: raw[try reader.readLengthDelimited()]), as: UTF8.self)
            case (4, 2): strings.append(String(decoding: UnsafeRawBufferPointer(rebasing: raw[try reader.readLengthDelimited()]), as: UTF8.self))
            case (5, 2): bytes.append(Array(raw[try reader.readLengthDelimited()]))
            case (6, 0): ints.append(Int64(bitPattern: try reader.readVarint()))
            case (6, 2):
                let r = try reader.readLengthDelimited()
                var sub = WireReader(raw, from: r.lowerBound, to: r.upperBound)
                while !sub.atEnd { ints.append(Int64(bitPattern: try sub.readVarint())) }
            case (7, 1): doubles.append(Double(bitPattern: try reader.readFixed64()))
            case (7, 2):
                let r = try reader.readLengthDelimited()
                var sub = WireReader(raw, from: r.lowerBound, to: r.upperBound)
                while !sub.atEnd { doubles.append(Double(bitPattern: try sub.readFixed64())) }
            case (8, 0): bools.append(try reader.readVarint() != 0)
            case (8, 2):
                let r = try reader.readLengthDelimited()
                var sub = WireReader(raw, from: r.lowerBound, to: r.upperBound)
                while !sub.atEnd { bools.append(try sub.readVarint() != 0) }
            default:
                try reader.skip(wire: wire)
            }
        }
        guard let name else { throw ProtobufError(reason: "field without a name", offset: range.lowerBound) }
        let value: FieldValue
        switch valueType {
        case 0: value = .string(strings)
        case 1: value = .bytes(bytes)
        case 2: value = .integer(ints)
        case 3: value = .double(doubles)
        default: value = .bool(bools)
        }
        return Field(name: name, value: value, representation: representation)
    }
}

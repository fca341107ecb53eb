import CHekaWire
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
        out.appendLengthDelimited(HEKA_MESSAGE_UUID, uuid)
        out.appendTag(HEKA_MESSAGE_TIMESTAMP, .varint)
        out.appendVarint(UInt64(bitPattern: timestamp))
        if let type { out.appendLengthDelimited(HEKA_MESSAGE_TYPE, type.utf8) }
        if let logger { out.appendLengthDelimited(HEKA_MESSAGE_LOGGER, logger.utf8) }
        if let severity {
            out.appendTag(HEKA_MESSAGE_SEVERITY, .varint)
            out.appendVarint(UInt64(bitPattern: Int64(severity)))
        }
        if let payload { out.appendLengthDelimited(HEKA_MESSAGE_PAYLOAD, payload.utf8) }
        if let envVersion { out.appendLengthDelimited(HEKA_MESSAGE_ENV_VERSION, envVersion.utf8) }
        if let pid {
            out.appendTag(HEKA_MESSAGE_PID, .varint)
            out.appendVarint(UInt64(bitPattern: Int64(pid)))
        }
        if let hostname { out.appendLengthDelimited(HEKA_MESSAGE_HOSTNAME, hostname.utf8) }
        for field in fields {
            let body = field.encoded()
            out.appendLengthDelimited(HEKA_MESSAGE_FIELDS, body)
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
            case (HEKA_MESSAGE_UUID, 2):
                let r = try reader.readLengthDelimited()
                m.uuid = Array(raw[r])
                haveUuid = true
            case (HEKA_MESSAGE_TIMESTAMP, 0):
                m.timestamp = Int64(bitPattern: try reader.readVarint())
                haveTimestamp = true
            case (HEKA_MESSAGE_TYPE, 2): m.type = string(raw, try reader.readLengthDelimited())
            case (HEKA_MESSAGE_LOGGER, 2): m.logger = string(raw, try reader.readLengthDelimited())
            case (HEKA_MESSAGE_SEVERITY, 0): m.severity = Int32(truncatingIfNeeded: Int64(bitPattern: try reader.readVarint()))
            case (HEKA_MESSAGE_PAYLOAD, 2): m.payload = string(raw, try reader.readLengthDelimited())
            case (HEKA_MESSAGE_ENV_VERSION, 2): m.envVersion = string(raw, try reader.readLengthDelimited())
            case (HEKA_MESSAGE_PID, 0): m.pid = Int32(truncatingIfNeeded: Int64(bitPattern: try reader.readVarint()))
            case (HEKA_MESSAGE_HOSTNAME, 2): m.hostname = string(raw, try reader.readLengthDelimited())
            case (HEKA_MESSAGE_FIELDS, 2):
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
    package func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.appendLengthDelimited(HEKA_FIELD_NAME, name.utf8)
        if value.valueType != HEKA_VALUE_STRING {
            out.appendTag(HEKA_FIELD_VALUE_TYPE, .varint)
            out.appendVarint(UInt64(value.valueType))
        }
        if let representation { out.appendLengthDelimited(HEKA_FIELD_REPRESENTATION, representation.utf8) }
        switch value {
        case .string(let vs):
            for v in vs { out.appendLengthDelimited(HEKA_FIELD_VALUE_STRING, v.utf8) }
        case .bytes(let vs):
            for v in vs { out.appendLengthDelimited(HEKA_FIELD_VALUE_BYTES, v) }
        case .integer(let vs) where !vs.isEmpty:
            var packed: [UInt8] = []
            for v in vs { packed.appendVarint(UInt64(bitPattern: v)) }
            out.appendLengthDelimited(HEKA_FIELD_VALUE_INTEGER, packed)
        case .double(let vs) where !vs.isEmpty:
            out.appendTag(HEKA_FIELD_VALUE_DOUBLE, .lengthDelimited)
            out.appendVarint(UInt64(vs.count * 8))
            for v in vs { out.appendFixed64(v.bitPattern) }
        case .bool(let vs) where !vs.isEmpty:
            out.appendTag(HEKA_FIELD_VALUE_BOOL, .lengthDelimited)
            out.appendVarint(UInt64(vs.count))
            for v in vs { out.append(v ? 1 : 0) }
        default:
            break
        }
        return out
    }

    package static func decode(_ raw: UnsafeRawBufferPointer, _ range: Range<Int>) throws(ProtobufError) -> Field {
        var reader = WireReader(raw, from: range.lowerBound, to: range.upperBound)
        var name: String?
        var valueType = 0
        var representation: String?
        var strings: [String] = [], bytes: [[UInt8]] = [], ints: [Int64] = [], doubles: [Double] = [], bools: [Bool] = []
        while !reader.atEnd {
            let (field, wire) = try reader.readTag()
            switch (field, wire) {
            case (HEKA_FIELD_NAME, 2): name = String(decoding: UnsafeRawBufferPointer(rebasing: raw[try reader.readLengthDelimited()]), as: UTF8.self)
            case (HEKA_FIELD_VALUE_TYPE, 0):
                let at = reader.offset
                let t = try reader.readVarint()
                guard t <= 4 else { throw ProtobufError(reason: "unknown value_type \(t)", offset: at) }
                valueType = Int(t)
            case (HEKA_FIELD_REPRESENTATION, 2): representation = String(decoding: UnsafeRawBufferPointer(rebasing: raw[try reader.readLengthDelimited()]), as: UTF8.self)
            case (HEKA_FIELD_VALUE_STRING, 2): strings.append(String(decoding: UnsafeRawBufferPointer(rebasing: raw[try reader.readLengthDelimited()]), as: UTF8.self))
            case (HEKA_FIELD_VALUE_BYTES, 2): bytes.append(Array(raw[try reader.readLengthDelimited()]))
            case (HEKA_FIELD_VALUE_INTEGER, 0): ints.append(Int64(bitPattern: try reader.readVarint()))
            case (HEKA_FIELD_VALUE_INTEGER, 2):
                let r = try reader.readLengthDelimited()
                var sub = WireReader(raw, from: r.lowerBound, to: r.upperBound)
                while !sub.atEnd { ints.append(Int64(bitPattern: try sub.readVarint())) }
            case (HEKA_FIELD_VALUE_DOUBLE, 1): doubles.append(Double(bitPattern: try reader.readFixed64()))
            case (HEKA_FIELD_VALUE_DOUBLE, 2):
                let r = try reader.readLengthDelimited()
                var sub = WireReader(raw, from: r.lowerBound, to: r.upperBound)
                while !sub.atEnd { doubles.append(Double(bitPattern: try sub.readFixed64())) }
            case (HEKA_FIELD_VALUE_BOOL, 0): bools.append(try reader.readVarint() != 0)
            case (HEKA_FIELD_VALUE_BOOL, 2):
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
        case HEKA_VALUE_STRING: value = .string(strings)
        case HEKA_VALUE_BYTES: value = .bytes(bytes)
        case HEKA_VALUE_INTEGER: value = .integer(ints)
        case HEKA_VALUE_DOUBLE: value = .double(doubles)
        default: value = .bool(bools)
        }
        return Field(name: name, value: value, representation: representation)
    }
}

/// An encoded message plus the offsets of its headers and fields: the hot-path form.
///
/// Creating a view scans the top level of the protobuf once (no strings, no arrays of
/// values are built); `read_message` and the matcher then read values straight from the
/// bytes. The bytes live in memory owned by the view and never move, so C code may hold
/// pointers into them for as long as it holds the view.
///
/// Immutable after `init`, hence `@unchecked Sendable`: any thread may read it.
public final class MessageView: @unchecked Sendable {
    /// The encoded protobuf message (no framing).
    public let bytes: UnsafeRawBufferPointer
    /// Byte ranges of the string/bytes headers, indexed by protobuf field number (1…9).
    private var headerRanges: [Range<Int>?] = Array(repeating: nil, count: 10)
    public private(set) var timestamp: Int64 = 0
    /// `nil` when absent (readers then see 7).
    public private(set) var severityValue: Int32?
    public private(set) var pidValue: Int32?
    /// Ranges of the `Field` submessages, in order.
    public private(set) var fieldRanges: [Range<Int>] = []

    /// Copies `encoded` and scans it.
    /// - Throws: ``ProtobufError`` when the bytes are not a Heka message.
    public init(encoded: some Collection<UInt8>) throws(ProtobufError) {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(encoded.count, 1), alignment: 8)
        _ = buf.initializeMemory(as: UInt8.self, from: encoded)
        bytes = UnsafeRawBufferPointer(rebasing: buf[0..<encoded.count])
        // Every stored property is set by now, so when scan() throws Swift releases the
        // half-made object and `deinit` frees the buffer: freeing it here too would be a
        // double free.
        try scan()
    }

    /// Encodes `message` and views the result.
    public convenience init(_ message: Message) {
        // The encoder only writes well-formed messages.
        try! self.init(encoded: message.encoded())
    }

    deinit {
        UnsafeMutableRawBufferPointer(mutating: bytes).deallocate()
    }

    private func scan() throws(ProtobufError) {
        var reader = WireReader(bytes)
        var haveTimestamp = false
        while !reader.atEnd {
            let (field, wire) = try reader.readTag()
            switch (field, wire) {
            case (1, 2), (3, 2), (4, 2), (6, 2), (7, 2), (9, 2):
                headerRanges[field] = try reader.readLengthDelimited()
            case (2, 0):
                timestamp = Int64(bitPattern: try reader.readVarint())
                haveTimestamp = true
            case (5, 0): severityValue = Int32(truncatingIfNeeded: Int64(bitPattern: try reader.readVarint()))
            case (8, 0): pidValue = Int32(truncatingIfNeeded: Int64(bitPattern: try reader.readVarint()))
            case (10, 2):
                let r = try reader.readLengthDelimited()
                try Self.validateField(bytes, r)
                fieldRanges.append(r)
            default:
                try reader.skip(wire: wire)
            }
        }
        guard let u = headerRanges[1], u.count == 16 else { throw ProtobufError(reason: "missing or malformed Uuid", offset: 0) }
        guard haveTimestamp else { throw ProtobufError(reason: "missing Timestamp", offset: 0) }
    }

    /// Checks a field's wire structure once so later reads cannot fail.
    private static func validateField(_ bytes: UnsafeRawBufferPointer, _ r: Range<Int>) throws(ProtobufError) {
        var reader = WireReader(bytes, from: r.lowerBound, to: r.upperBound)
        var named = false
        while !reader.atEnd {
            let (f, wire) = try reader.readTag()
            if f == 1 && wire == 2 { named = true }
            if f == 2 && wire == 0 {
                // As Message(protobuf:) does: a view that `decoded()` could not decode
                // would trap there.
                let at = reader.offset
                guard try reader.readVarint() <= 4 else { throw ProtobufError(reason: "unknown value_type", offset: at) }
            } else if wire == 2 && (f == 6 || f == 7 || f == 8) {
                let sub = try reader.readLengthDelimited()
                if f == 7 && sub.count % 8 != 0 { throw ProtobufError(reason: "packed doubles not a multiple of 8 bytes", offset: sub.lowerBound) }
                if f != 7 {
                    var s = WireReader(bytes, from: sub.lowerBound, to: sub.upperBound)
                    while !s.atEnd { _ = try s.readVarint() }
                }
            } else {
                try reader.skip(wire: wire)
            }
        }
        if !named { throw ProtobufError(reason: "field without a name", offset: r.lowerBound) }
    }

    /// The byte range of a string header (Type, Logger, Payload, EnvVersion, Hostname) or
    /// of the Uuid; `nil` when absent or not a byte-valued header.

    public func range(of header: Header) -> Range<Int>? {
        rangeOfHeader(fieldNumber: header.fieldNumber)
    }


    func rangeOfHeader(fieldNumber: Int) -> Range<Int>? {
        headerRanges[fieldNumber]
    }

    /// Severity as readers see it (7 when absent).
    public var severity: Int32 { severityValue ?? 7 }
    public var pid: Int32? { pidValue }

    /// A header's bytes as a String (lossy for invalid UTF-8); for tools and tests.
    public func string(_ header: Header) -> String? {
        range(of: header).map { String(decoding: UnsafeRawBufferPointer(rebasing: bytes[$0]), as: UTF8.self) }
    }

    /// The whole message in tree form.
    public func decoded() -> Message {
        // The scan already validated the structure.
        try! Message(protobuf: bytes)
    }
}

import CHekaWire
/// An encoded message plus the offsets of its headers and fields: the hot-path form.
///
/// Creating a view scans the top level of the protobuf once (no strings, no arrays of
/// values are built); `read_message` and the matcher then read values straight from the
/// bytes. The bytes live in memory owned by the view and never move, so C code may hold
/// pointers into them for as long as it holds the view.
///
/// Immutable after `init`, hence `@unchecked Sendable`: any thread may read it.
public final class MessageView: @unchecked Sendable {  // immutable after init
    /// The encoded protobuf message (no framing).
    public let bytes: UnsafeRawBufferPointer
    /// The headers' offsets (the slots below say where the fields are).
    private let layout: Layout
    /// Where the fields are, in message order: in the same allocation as the bytes, after
    /// them (one allocation and one free per message, wherever it is freed).
    private let slots: UnsafeBufferPointer<heka_field_slot>
    /// The key of the Type header (heka_type_key.h: exact, 128...255, for a Type a matcher
    /// names, else a 7-bit hash; 0, a hash key, without a Type), taken where the view is
    /// made: the router copies it into its entry, so a reader whose matcher requires one
    /// Type tells messages apart without touching their views. One byte keeps the
    /// router's entry at seven words.
    package let typeKey: UInt8
    public var timestamp: Int64 { layout.timestamp }
    /// `nil` when absent (readers then see 7).
    public var severityValue: Int32? { layout.severity }
    public var pidValue: Int32? { layout.pid }
    /// Ranges of the `Field` submessages, in order.
    public var fieldRanges: [Range<Int>] { slots.map { Int($0.start)..<Int($0.end) } }
    /// How many fields the message has.
    public var fieldCount: Int { slots.count }
    /// The field slots, for C code that reads fields in place; valid as long as the view.
    package var fieldSlots: UnsafeBufferPointer<heka_field_slot> { slots }
    /// (start, end) of Uuid, Type, Logger, Payload, EnvVersion and Hostname in `bytes`
    /// (start -1: absent): for C code that reads headers in place (`int32_t spans[12]`).
    package var headerSpans: HeaderSpans { layout.headerSpans }
    package typealias HeaderSpans = (Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32)

    /// Where a field and its name are.
    package struct FieldSlot: Equatable {
        package var range: Range<Int>
        package var name: Range<Int>

        package init(range: Range<Int>, name: Range<Int>) {
            self.range = range
            self.name = name
        }
    }

    /// The headers' offsets a scan finds (or an encoder noted as it wrote); a plain value
    /// (no reference inside: copying it touches no reference count) that a view holds in
    /// one `let`. The byte-valued headers' ranges are kept as 32-bit pairs
    /// (a message is far under 2 GiB: max_message_size bounds it), so that the view of a
    /// message in flight stays small.
    package struct Layout: Equatable {
        /// (start, end) of Uuid, Type, Logger, Payload, EnvVersion, Hostname; start -1:
        /// absent. Pairs of 8 bytes, not one SIMD16: a field aligned to more than 8 bytes
        /// makes Swift allocate the view object with `posix_memalign`, glibc's slow path,
        /// once per message.
        private var uuidSpan = Self.absent, typeSpan = Self.absent, loggerSpan = Self.absent
        private var payloadSpan = Self.absent, envVersionSpan = Self.absent, hostnameSpan = Self.absent
        package var timestamp: Int64 = 0
        package var severity: Int32?
        package var pid: Int32?

        package init() {}

        /// From an encoder's notes, in one call: each byte-valued header as (start, count),
        /// a negative count when it is absent.
        package init(uuid: (Int, Int), type: (Int, Int), logger: (Int, Int), payload: (Int, Int), envVersion: (Int, Int),
                     hostname: (Int, Int), timestamp: Int64, severity: Int32?, pid: Int32?) {
            uuidSpan = Self.span(uuid)
            typeSpan = Self.span(type)
            loggerSpan = Self.span(logger)
            payloadSpan = Self.span(payload)
            envVersionSpan = Self.span(envVersion)
            hostnameSpan = Self.span(hostname)
            self.timestamp = timestamp
            self.severity = severity
            self.pid = pid
        }

        package var headerSpans: HeaderSpans {
            (uuidSpan[0], uuidSpan[1], typeSpan[0], typeSpan[1], loggerSpan[0], loggerSpan[1],
             payloadSpan[0], payloadSpan[1], envVersionSpan[0], envVersionSpan[1], hostnameSpan[0], hostnameSpan[1])
        }
        package var uuid: Range<Int>? { get { Self.range(uuidSpan) } set { uuidSpan = Self.span(newValue) } }
        package var type: Range<Int>? { get { Self.range(typeSpan) } set { typeSpan = Self.span(newValue) } }
        package var logger: Range<Int>? { get { Self.range(loggerSpan) } set { loggerSpan = Self.span(newValue) } }
        package var payload: Range<Int>? { get { Self.range(payloadSpan) } set { payloadSpan = Self.span(newValue) } }
        package var envVersion: Range<Int>? { get { Self.range(envVersionSpan) } set { envVersionSpan = Self.span(newValue) } }
        package var hostname: Range<Int>? { get { Self.range(hostnameSpan) } set { hostnameSpan = Self.span(newValue) } }

        private static var absent: SIMD2<Int32> { SIMD2(repeating: -1) }

        private static func range(_ s: SIMD2<Int32>) -> Range<Int>? {
            s[0] < 0 ? nil : Int(s[0])..<Int(s[1])
        }

        @inline(__always)
        private static func span(_ s: (start: Int, count: Int)) -> SIMD2<Int32> {
            // Trapping conversions, as the range setter's: an offset past 2 GiB (never, under
            // max_message_size) must not wrap into another header's bytes.
            s.count < 0 ? absent : SIMD2(Int32(s.start), Int32(s.start + s.count))
        }

        private static func span(_ r: Range<Int>?) -> SIMD2<Int32> {
            guard let r else { return absent }
            return SIMD2(Int32(r.lowerBound), Int32(r.upperBound))
        }
    }

    /// Copies `encoded` and scans it.
    /// - Throws: ``ProtobufError`` when the bytes are not a Heka message.
    public convenience init(encoded: some Collection<UInt8>) throws(ProtobufError) {
        let count = encoded.count
        let buf = Self.allocateBlock(count)
        let copied = encoded.withContiguousStorageIfAvailable { src -> Bool in
            if let base = src.baseAddress { buf.baseAddress!.copyMemory(from: base, byteCount: count) }
            return true
        }
        if copied == nil { _ = buf.initializeMemory(as: UInt8.self, from: encoded) }
        try self.init(owning: buf, count: count)
    }

    /// Copies raw bytes (from C) and scans them (the scan first, so the copy is made once,
    /// with room for the field slots).
    public convenience init(copying raw: UnsafeRawBufferPointer) throws(ProtobufError) {
        self.init(copying: raw, scan: try Self.scan(raw, valid: false))
    }

    /// Copies bytes already known to be a valid message (a sandbox's injection: encoded by
    /// our encoder, or checked when it was injected) and finds their offsets without
    /// checking them again.
    package convenience init(copyingValid raw: UnsafeRawBufferPointer) throws(ProtobufError) {
        self.init(copying: raw, scan: try Self.scan(raw, valid: true))
    }

    /// What a scan finds: the headers' offsets and where the fields are.
    private struct Scan: Equatable {
        var layout = Layout()
        var fields: [FieldSlot] = []
    }

    /// Copies `raw`, its fields where the scan found them.
    private convenience init(copying raw: UnsafeRawBufferPointer, scan: Scan) {
        let fields = scan.fields
        self.init(copying: raw, layout: scan.layout, fieldCount: fields.count) { s in
            for (i, f) in fields.enumerated() { (s + i).initialize(to: Self.slot(f)) }
        }
    }

    private static func slot(_ f: FieldSlot) -> heka_field_slot {
        heka_field_slot(start: Int32(f.range.lowerBound), end: Int32(f.range.upperBound), name_start: Int32(f.name.lowerBound),
                        name_end: Int32(f.name.upperBound))
    }

    /// Takes ownership of `buffer`, a block of ``allocateBlock(_:)`` (freed by the view,
    /// also when the scan throws).
    private convenience init(owning buffer: UnsafeMutableRawBufferPointer, count: Int, valid: Bool = false) throws(ProtobufError) {
        let scan: Scan
        do throws(ProtobufError) {
            scan = try Self.scan(UnsafeRawBufferPointer(rebasing: buffer[0..<count]), valid: valid)
        } catch {
            Self.free(buffer)
            throw error
        }
        if scan.fields.isEmpty {
            self.init(owning: buffer, count: count, layout: scan.layout)
            return
        }
        // The bytes move to a block that has room for their slots.
        self.init(copying: UnsafeRawBufferPointer(rebasing: buffer[0..<count]), scan: scan)
        Self.free(buffer)
    }

    /// Copies bytes whose layout their encoder noted as it wrote them, the fields at
    /// `slots` (copied as they are): no scan. Debug builds check the layout against a scan.
    package convenience init(copying raw: UnsafeRawBufferPointer, layout: Layout, slots: UnsafeBufferPointer<heka_field_slot>) {
        self.init(copying: raw, layout: layout, fieldCount: slots.count) { s in
            if let from = slots.baseAddress { s.initialize(from: from, count: slots.count) }
        }
        assert(fullScan == (try? Self.scan(raw, valid: true)), "an encoder's layout differs from the scan of its bytes")
    }

    /// Copies `raw` into a block with room for `fieldCount` slots, which `writeSlots`
    /// initializes.
    private convenience init(copying raw: UnsafeRawBufferPointer, layout: Layout, fieldCount: Int,
                             writeSlots: (UnsafeMutablePointer<heka_field_slot>) -> Void) {
        let block = Self.allocate(count: raw.count, fields: fieldCount)
        if let base = raw.baseAddress { block.baseAddress!.copyMemory(from: base, byteCount: raw.count) }
        let s = (block.baseAddress! + Self.slotOffset(raw.count)).bindMemory(to: heka_field_slot.self, capacity: fieldCount)
        writeSlots(s)
        self.init(block: block, count: raw.count, layout: layout, slots: UnsafeBufferPointer(start: s, count: fieldCount))
    }

    /// Takes ownership of `buffer`, a block of ``allocateBlock(_:)`` holding a message
    /// without fields whose layout the caller wrote itself (no scan).
    package convenience init(owning buffer: UnsafeMutableRawBufferPointer, count: Int, layout: Layout) {
        self.init(block: buffer, count: count, layout: layout, slots: UnsafeBufferPointer(start: nil, count: 0))
    }

    /// Takes `block`: the bytes at 0..<count, the slots (if any) after them.
    private init(block: UnsafeMutableRawBufferPointer, count: Int, layout: Layout, slots: UnsafeBufferPointer<heka_field_slot>) {
        self.layout = layout
        self.slots = slots
        let bytes = UnsafeRawBufferPointer(rebasing: block[0..<count])
        self.bytes = bytes
        typeKey = layout.type.map { r in
            let type = UnsafeRawBufferPointer(rebasing: bytes[r])
            return heka_type_key(type.baseAddress, type.count)
        } ?? 0
    }

    /// Where a block's field slots start: after `count` bytes, aligned.
    private static func slotOffset(_ count: Int) -> Int { (count + 7) & ~7 }

    private static func allocate(count: Int, fields: Int) -> UnsafeMutableRawBufferPointer {
        allocateBlock(slotOffset(count) + fields * MemoryLayout<heka_field_slot>.stride)
    }

    /// A block for a view's bytes (see heka_block.h: it goes back to the thread that
    /// made it, whichever thread frees it). Every block a view owns comes from here.
    package static func allocateBlock(_ count: Int) -> UnsafeMutableRawBufferPointer {
        guard let p = heka_block_alloc(count) else { fatalError("out of memory for a message block of \(count) bytes") }
        return UnsafeMutableRawBufferPointer(start: p, count: count)
    }

    private static func free(_ block: UnsafeMutableRawBufferPointer) {
        heka_block_free(block.baseAddress)
    }

    /// The layout with its field slots, as a scan finds it.
    private var fullScan: Scan {
        Scan(layout: layout, fields: slots.map { FieldSlot(range: Int($0.start)..<Int($0.end), name: Int($0.name_start)..<Int($0.name_end)) })
    }

    /// Encodes `message` and views the result.
    public convenience init(_ message: Message) {
        // The encoder only writes well-formed messages.
        try! self.init(encoded: message.encoded())
    }

    deinit {
        heka_block_free(UnsafeMutableRawPointer(mutating: bytes.baseAddress))
    }

    private static func scan(_ bytes: UnsafeRawBufferPointer, valid: Bool) throws(ProtobufError) -> Scan {
        var l = Layout()
        var fields: [FieldSlot] = []
        var reader = WireReader(bytes)
        var haveTimestamp = false
        while !reader.atEnd {
            let (field, wire) = try reader.readTag()
            switch (field, wire) {
            case (1, 2): l.uuid = try reader.readLengthDelimited()
            case (3, 2): l.type = try reader.readLengthDelimited()
            case (4, 2): l.logger = try reader.readLengthDelimited()
            case (6, 2): l.payload = try reader.readLengthDelimited()
            case (7, 2): l.envVersion = try reader.readLengthDelimited()
            case (9, 2): l.hostname = try reader.readLengthDelimited()
            case (2, 0):
                l.timestamp = Int64(bitPattern: try reader.readVarint())
                haveTimestamp = true
            case (5, 0): l.severity = Int32(truncatingIfNeeded: Int64(bitPattern: try reader.readVarint()))
            case (8, 0): l.pid = Int32(truncatingIfNeeded: Int64(bitPattern: try reader.readVarint()))
            case (10, 2):
                let r = try reader.readLengthDelimited()
                if fields.isEmpty { fields.reserveCapacity(8) }  // one allocation for most messages
                fields.append(FieldSlot(range: r, name: valid ? try nameOfField(bytes, r) : try validateField(bytes, r)))
            default:
                try reader.skip(wire: wire)
            }
        }
        guard let u = l.uuid, u.count == 16 else { throw ProtobufError(reason: "missing or malformed Uuid", offset: 0) }
        guard haveTimestamp else { throw ProtobufError(reason: "missing Timestamp", offset: 0) }
        return Scan(layout: l, fields: fields)
    }

    /// The name of a field already checked (the last one, as protobuf and the checked
    /// path read a repeated name).
    private static func nameOfField(_ bytes: UnsafeRawBufferPointer, _ r: Range<Int>) throws(ProtobufError) -> Range<Int> {
        var reader = WireReader(bytes, from: r.lowerBound, to: r.upperBound)
        var name: Range<Int>?
        while !reader.atEnd {
            let (f, wire) = try reader.readTag()
            if f == 1 && wire == 2 { name = try reader.readLengthDelimited() } else { try reader.skip(wire: wire) }
        }
        guard let name else { throw ProtobufError(reason: "field without a name", offset: r.lowerBound) }
        return name
    }

    /// Checks a field's wire structure once so later reads cannot fail.
    private static func validateField(_ bytes: UnsafeRawBufferPointer, _ r: Range<Int>) throws(ProtobufError) -> Range<Int> {
        var reader = WireReader(bytes, from: r.lowerBound, to: r.upperBound)
        var name: Range<Int>?
        while !reader.atEnd {
            let (f, wire) = try reader.readTag()
            if f == 1 && wire == 2 {
                name = try reader.readLengthDelimited()
            } else if f == 2 && wire == 0 {
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
        guard let name else { throw ProtobufError(reason: "field without a name", offset: r.lowerBound) }
        return name
    }

    /// The byte range of a string header (Type, Logger, Payload, EnvVersion, Hostname) or
    /// of the Uuid; `nil` when absent or not a byte-valued header.

    public func range(of header: Header) -> Range<Int>? {
        rangeOfHeader(fieldNumber: header.fieldNumber)
    }


    package func rangeOfHeader(fieldNumber: Int) -> Range<Int>? {
        switch fieldNumber {
        case HEKA_MESSAGE_UUID: layout.uuid
        case HEKA_MESSAGE_TYPE: layout.type
        case HEKA_MESSAGE_LOGGER: layout.logger
        case HEKA_MESSAGE_PAYLOAD: layout.payload
        case HEKA_MESSAGE_ENV_VERSION: layout.envVersion
        case HEKA_MESSAGE_HOSTNAME: layout.hostname
        default: nil
        }
    }

    /// The byte range of the name of the field at `index`.
    package func nameRange(ofField index: Int) -> Range<Int> { Int(slots[index].name_start)..<Int(slots[index].name_end) }
    package func rangeOfField(_ index: Int) -> Range<Int> { Int(slots[index].start)..<Int(slots[index].end) }

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

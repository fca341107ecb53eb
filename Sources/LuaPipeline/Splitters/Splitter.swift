/// Cuts an input's byte stream into records. Any chunking of the stream gives the same
/// records.
public protocol Splitter {
    /// Feeds a chunk; `emit` gets each complete record (valid during the call only).
    mutating func feed(_ chunk: [UInt8], _ emit: (UnsafeRawBufferPointer) -> Void)
    /// End of stream: a last incomplete record, if the splitter delivers those.
    mutating func finish(_ emit: (UnsafeRawBufferPointer) -> Void)
    /// Problems found so far (bad frames), reported and counted by the input.
    mutating func takeErrors() -> [String]
    /// Bytes fed but not yet part of a delivered record (a partial line): what a file
    /// input must read again after a restart.
    var buffered: Int { get }
}

/// Records end with a delimiter byte (Heka's TokenSplitter; lines by default).
public struct TokenSplitter: Splitter {
    let delimiter: UInt8
    let deliverIncompleteFinal: Bool
    let limit: RecordLimit
    private var pending: [UInt8] = []
    private var errors: [String] = []
    /// Inside an over-long record already reported: skip to its delimiter.
    private var skipping = false

    public init(delimiter: UInt8 = 0x0A, deliverIncompleteFinal: Bool = true,
                maxRecordSize: Int = StreamFraming.defaultMaxMessageSize, keepTruncated: Bool = false) {
        self.delimiter = delimiter
        self.deliverIncompleteFinal = deliverIncompleteFinal
        self.limit = RecordLimit(max: maxRecordSize, keepTruncated: keepTruncated)
    }

    private mutating func deliver(_ record: UnsafeRawBufferPointer, _ emit: (UnsafeRawBufferPointer) -> Void) {
        if skipping {
            skipping = false  // the tail of a record already cut or dropped
            return
        }
        limit.deliver(record, emit, &errors)
    }

    public mutating func feed(_ chunk: [UInt8], _ emit: (UnsafeRawBufferPointer) -> Void) {
        chunk.withUnsafeBytes { raw in
            var start = 0
            while start < raw.count, let hit = memchr(raw.baseAddress! + start, Int32(delimiter), raw.count - start) {
                let end = raw.baseAddress!.distance(to: UnsafeRawPointer(hit))
                if pending.isEmpty {
                    let record = UnsafeRawBufferPointer(rebasing: raw[start..<end])
                    // Within the bound and not being skipped (the common case), straight to
                    // emit: through `deliver`, which takes the splitter's state, every record
                    // cost a retain/release pair.
                    if !skipping && record.count <= limit.max { emit(record) } else { deliver(record, emit) }
                } else {
                    pending.append(contentsOf: raw[start..<end])
                    let whole = pending
                    pending.removeAll(keepingCapacity: true)
                    whole.withUnsafeBytes { deliver($0, emit) }
                }
                start = end + 1
            }
            if start < raw.count { pending.append(contentsOf: raw[start...]) }
        }
        // A record longer than the limit with no delimiter in sight: cut or drop it now
        // rather than buffer without bound.
        if pending.count > limit.max && !skipping {
            let whole = pending
            pending.removeAll()
            whole.withUnsafeBytes { limit.deliver($0, emit, &errors) }
            skipping = true
        } else if skipping && pending.count > limit.max {
            pending.removeAll()
        }
    }

    public mutating func finish(_ emit: (UnsafeRawBufferPointer) -> Void) {
        let whole = pending
        pending.removeAll()
        if deliverIncompleteFinal && !whole.isEmpty { whole.withUnsafeBytes { deliver($0, emit) } }
        skipping = false
    }

    public mutating func takeErrors() -> [String] {
        defer { errors.removeAll() }
        return errors
    }

    public var buffered: Int { pending.count }
}

/// Heka stream framing (Heka's HekaFramingSplitter): each record is one framed message.
public struct HekaFramingSplitter: Splitter {
    private var reader: FramedStreamReader
    private var errors: [String] = []

    public init(maxMessageSize: Int) { reader = FramedStreamReader(maxMessageSize: maxMessageSize) }

    private mutating func deliver(_ records: [FramedRecord], _ emit: (UnsafeRawBufferPointer) -> Void) {
        for r in records {
            switch r {
            case .message(let bytes): bytes.withUnsafeBytes { emit($0) }
            case .error(let e): errors.append("\(e)")
            }
        }
    }

    public mutating func feed(_ chunk: [UInt8], _ emit: (UnsafeRawBufferPointer) -> Void) { deliver(reader.feed(chunk), emit) }
    public mutating func finish(_ emit: (UnsafeRawBufferPointer) -> Void) { deliver(reader.finish(), emit) }

    public mutating func takeErrors() -> [String] {
        defer { errors.removeAll() }
        return errors
    }

    public var buffered: Int { reader.buffered }
}

/// Each chunk read is one record (Heka's NullSplitter).
public struct NullSplitter: Splitter {
    public init() {}
    public mutating func feed(_ chunk: [UInt8], _ emit: (UnsafeRawBufferPointer) -> Void) { chunk.withUnsafeBytes { emit($0) } }
    public mutating func finish(_ emit: (UnsafeRawBufferPointer) -> Void) {}
    public mutating func takeErrors() -> [String] { [] }
    public var buffered: Int { 0 }
}

#if canImport(Glibc)
import Glibc
#endif

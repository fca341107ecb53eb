import CHekaWire

/// Heka's stream framing: `0x1E`, one byte of header length, a `Header` protobuf whose
/// field 1 is the message length, `0x1F`, then the message. The constants and the frame
/// header writer are CHekaWire's (`heka_wire.h`), shared with the sandbox's C.
public enum StreamFraming {
    // Computed, not stored: they fold to constants in the reader's byte loop.
    public static var recordSeparator: UInt8 { UInt8(truncatingIfNeeded: HEKA_RECORD_SEPARATOR) }
    public static var unitSeparator: UInt8 { UInt8(truncatingIfNeeded: HEKA_UNIT_SEPARATOR) }
    /// Heka's default `max_message_size`.
    public static var defaultMaxMessageSize: Int { Int(HEKA_DEFAULT_MAX_MESSAGE_SIZE) }

    /// Frames one encoded message: the same bytes as `encode_message(msg, true)` in Lua,
    /// whose C calls the same `heka_frame_header`.
    public static func frame(_ message: some Collection<UInt8>) -> [UInt8] {
        let count = message.count
        var out = [UInt8](unsafeUninitializedCapacity: Int(HEKA_FRAME_HEADER_MAX) + count) { buf, initialized in
            initialized = heka_frame_header(buf.baseAddress!, UInt64(count))
        }
        out.append(contentsOf: message)
        return out
    }
}

/// What a framed stream yields: a message, or a stretch of bytes it had to skip and why.
public enum FramedRecord: Equatable, Sendable {
    case message([UInt8])
    case error(FrameError)
}

/// A framing problem; the reader resynchronises on the next `0x1E` and goes on.
public struct FrameError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        case garbage
        case badHeader
        case oversize(length: Int, max: Int)
        case truncated
    }
    public let kind: Kind
    /// Offset in the stream where the bad frame or garbage began.
    public let offset: Int
    /// Bytes skipped.
    public let skipped: Int

    public var description: String {
        switch kind {
        case .garbage: "\(skipped) bytes of garbage at byte \(offset)"
        case .badHeader: "bad frame header at byte \(offset)"
        case .oversize(let length, let max): "frame at byte \(offset) declares \(length) bytes, over max_message_size \(max)"
        case .truncated: "stream ended inside a frame at byte \(offset)"
        }
    }
}

/// Splits a byte stream into framed messages, chunk by chunk.
///
/// Feed any chunking of the stream: the records come out the same. A bad header or an
/// oversize frame costs only the bytes up to the next record separator.
public struct FramedStreamReader: Sendable {
    public let maxMessageSize: Int
    private var buffer: [UInt8] = []
    private var start = 0
    /// Stream offset of `buffer[0]`.
    private var base = 0
    /// A skip in progress (garbage, or a bad or oversize frame): its error is reported once
    /// the next record separator, or the end of the stream, shows how long it is, so that
    /// it comes out once and the same whatever the chunking.
    private var skipping: Skip?

    private struct Skip: Sendable {
        let kind: FrameError.Kind
        /// Stream offset where the skipped bytes begin.
        let offset: Int
    }

    public init(maxMessageSize: Int = StreamFraming.defaultMaxMessageSize) {
        self.maxMessageSize = maxMessageSize
    }

    /// Bytes held that are not yet part of a returned record.
    public var buffered: Int { buffer.count - start }

    /// Appends `chunk` and returns every record now complete.
    public mutating func feed(_ chunk: some Collection<UInt8>) -> [FramedRecord] {
        buffer.append(contentsOf: chunk)
        var out: [FramedRecord] = []
        while let r = next() { out.append(r) }
        if start > 65536 || start == buffer.count {
            buffer.removeFirst(start)
            base += start
            start = 0
        }
        return out
    }

    /// Call at end of stream: reports what is left over (a partial frame, or bytes being
    /// skipped), if anything.
    public mutating func finish() -> [FramedRecord] {
        var out: [FramedRecord] = []
        if let skip = skipping {
            out.append(.error(FrameError(kind: skip.kind, offset: skip.offset, skipped: base + buffer.count - skip.offset)))
        } else if start < buffer.count {
            out.append(.error(FrameError(kind: .truncated, offset: base + start, skipped: buffer.count - start)))
        }
        base += buffer.count
        buffer.removeAll()
        start = 0
        skipping = nil
        return out
    }

    private func separator(from: Int) -> Int {
        var i = from
        while i < buffer.count && buffer[i] != StreamFraming.recordSeparator { i += 1 }
        return i
    }

    private mutating func next() -> FramedRecord? {
        if let skip = skipping {
            start = separator(from: start)
            guard start < buffer.count else { return nil }
            skipping = nil
            return .error(FrameError(kind: skip.kind, offset: skip.offset, skipped: base + start - skip.offset))
        }
        guard start < buffer.count else { return nil }
        if buffer[start] != StreamFraming.recordSeparator {
            return beginSkip(.garbage, from: start)
        }
        guard buffer.count - start >= 2 else { return nil }
        let headerLen = Int(buffer[start + 1])
        let headerEnd = start + 2 + headerLen
        guard buffer.count > headerEnd else { return nil }
        guard headerLen > 0, buffer[headerEnd] == StreamFraming.unitSeparator,
              let length = Self.messageLength(buffer[(start + 2)..<headerEnd])
        else {
            return beginSkip(.badHeader, from: start + 1)
        }
        if length > maxMessageSize {
            return beginSkip(.oversize(length: length, max: maxMessageSize), from: start + 1)
        }
        let end = headerEnd + 1 + length
        guard buffer.count >= end else { return nil }
        let msg = Array(buffer[(headerEnd + 1)..<end])
        start = end
        return .message(msg)
    }

    /// Starts skipping at `start`; the search for the next separator begins at `from`.
    private mutating func beginSkip(_ kind: FrameError.Kind, from: Int) -> FramedRecord? {
        skipping = Skip(kind: kind, offset: base + start)
        start = from
        return next()
    }

    /// Reads `message_length` from a Header protobuf.
    package static func messageLength(_ header: ArraySlice<UInt8>) -> Int? {
        Array(header).withUnsafeBytes { raw -> Int? in
            var reader = WireReader(raw)
            var length: Int?
            while !reader.atEnd {
                guard let (f, wire) = try? reader.readTag() else { return nil }
                if f == HEKA_HEADER_MESSAGE_LENGTH && wire == HEKA_WIRE_VARINT {
                    guard let v = try? reader.readVarint(), v <= UInt64(Int32.max) else { return nil }
                    length = Int(v)
                } else if (try? reader.skip(wire: wire)) == nil {
                    return nil
                }
            }
            return length
        }
    }
}

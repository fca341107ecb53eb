/// Building a view straight from header values, for inputs that make one message per
/// record: one encoding pass, no intermediate ``Message``.
extension MessageView {
    /// A message with the given Uuid, Timestamp, Type and Payload (and nothing else).
    public static func make(uuid: [UInt8], timestamp: Int64, type: String, payload: UnsafeRawBufferPointer) -> MessageView {
        var out: [UInt8] = []
        out.reserveCapacity(32 + type.utf8.count + payload.count)
        out.appendLengthDelimited(1, uuid)
        out.appendTag(2, .varint)
        out.appendVarint(UInt64(bitPattern: timestamp))
        out.appendLengthDelimited(3, type.utf8)
        out.appendLengthDelimited(6, payload)
        // Well-formed by construction.
        return try! MessageView(encoded: out)
    }

    /// As below, with the next Uuid of `uuids`.
    public static func make(uuids: inout UUIDGenerator, timestamp: Int64, type: String, payload: UnsafeRawBufferPointer,
                            logger: String? = nil, hostname: String? = nil, pid: Int32? = nil) -> MessageView {
        var uuid: (UInt64, UInt64) = (0, 0)
        return withUnsafeMutableBytes(of: &uuid) { u in
            uuids.write(into: u.baseAddress!)
            return make(uuid: UnsafeRawPointer(u.baseAddress!), timestamp: timestamp, type: type, payload: payload,
                        logger: logger, hostname: hostname, pid: pid)
        }
    }

    /// A record's message: the 16 bytes of Uuid at `uuid`, the headers given and the
    /// Payload, written straight into the view's own buffer: one allocation for the
    /// bytes, no scan (the layout is known).
    public static func make(uuid: UnsafeRawPointer, timestamp: Int64, type: String, payload: UnsafeRawBufferPointer,
                            logger: String? = nil, hostname: String? = nil, pid: Int32? = nil) -> MessageView {
        var typeBytes = type
        return typeBytes.withUTF8 { t in
            let extra = (logger?.utf8.count ?? 0) + (hostname?.utf8.count ?? 0) + 32
            let capacity = 18 + 11 + 1 + 5 + t.count + 1 + 5 + payload.count + extra
            let buf = allocateBlock(capacity)
            var w = RawWriter(buf)
            w.byte(0x0A)
            w.byte(16)
            (buf.baseAddress! + 2).copyMemory(from: uuid, byteCount: 16)
            w.offset = 18
            w.byte(0x10)
            w.varint(UInt64(bitPattern: timestamp))
            w.byte(0x1A)
            w.varint(UInt64(t.count))
            let typeRange = w.offset..<(w.offset + t.count)
            w.bytes(UnsafeRawBufferPointer(t))
            var layout = Layout()
            if let logger {
                w.byte(0x22)
                w.varint(UInt64(logger.utf8.count))
                layout.logger = w.offset..<(w.offset + logger.utf8.count)
                var l = logger
                l.withUTF8 { w.bytes(UnsafeRawBufferPointer($0)) }
            }
            w.byte(0x32)
            w.varint(UInt64(payload.count))
            let payloadRange = w.offset..<(w.offset + payload.count)
            w.bytes(payload)
            if let pid {
                w.byte(0x40)
                w.varint(UInt64(bitPattern: Int64(pid)))
                layout.pid = pid
            }
            if let hostname {
                w.byte(0x4A)
                w.varint(UInt64(hostname.utf8.count))
                layout.hostname = w.offset..<(w.offset + hostname.utf8.count)
                var h = hostname
                h.withUTF8 { w.bytes(UnsafeRawBufferPointer($0)) }
            }
            layout.uuid = 2..<18
            layout.timestamp = timestamp
            layout.type = typeRange
            layout.payload = payloadRange
            return MessageView(owning: buf, count: w.offset, layout: layout)
        }
    }
}

/// Writes protobuf pieces into a buffer sized by the caller.
private struct RawWriter {
    package let buf: UnsafeMutableRawBufferPointer
    package var offset = 0

    package init(_ buf: UnsafeMutableRawBufferPointer) { self.buf = buf }

    package mutating func byte(_ b: UInt8) {
        buf[offset] = b
        offset += 1
    }

    package mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            byte(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        byte(UInt8(v))
    }

    package mutating func bytes(_ b: UnsafeRawBufferPointer) {
        guard let base = b.baseAddress, !b.isEmpty else { return }
        (buf.baseAddress! + offset).copyMemory(from: base, byteCount: b.count)
        offset += b.count
    }
}

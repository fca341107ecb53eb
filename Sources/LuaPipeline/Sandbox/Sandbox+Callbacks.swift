import CHekaWire
import CLua

/// The C side calls these with the sandbox as its host pointer. They only read and
/// write plain values: a Lua error is raised by the C caller, never from Swift.
extension Sandbox {
    static var callbacks: clp_callbacks {
        clp_callbacks(
            read_message: { host, what, field, flen, fi, ai, out in
                Sandbox.with(host) { $0.readMessage(Int(what), field, flen, Int(fi), Int(ai), &out!.pointee) }
            },
            read_next_field: { host, name, value, rep, vt, count in
                Sandbox.with(host) { $0.readNextField(&name!.pointee, &value!.pointee, &rep!.pointee, &vt!.pointee, &count!.pointee) }
            },
            inject: { host, kind, data, len, ptype, ptlen, pname, pnlen, err, errlen in
                Sandbox.with(host) { $0.inject(Int(kind), data, len, ptype, ptlen, pname, pnlen, err, errlen) }
            },
            read_config: { host, key, klen, out in
                Sandbox.with(host) { $0.readConfig(key, klen, &out!.pointee) }
            },
            write_message: { host, what, field, flen, value, rep, replen, fi, ai, err, errlen in
                Sandbox.with(host) { $0.writeMessage(Int(what), field, flen, value!.pointee, rep, replen, Int(fi), Int(ai), err, errlen) }
            },
            defaults: { host, forEncode, d in
                Sandbox.with(host) { $0.fillDefaults(forEncode: forEncode != 0, &d!.pointee) }
            },
            log: { host, level, msg, len in
                let s = msg.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: len), as: UTF8.self) } ?? ""
                Sandbox.with(host) { $0.onLog(Int(level), s) }
            }
        )
    }

    /// Runs `body` with the sandbox of a host pointer, without retaining it: C calls back
    /// only from inside a call the sandbox itself made.
    static func with<T>(_ host: UnsafeMutableRawPointer?, _ body: (Sandbox) -> T) -> T {
        Unmanaged<Sandbox>.fromOpaque(host!)._withUnsafeGuaranteedRef(body)
    }

    private static let ok = Int32(CLP_HOST_OK), none = Int32(CLP_HOST_NONE)
    private static let error = Int32(CLP_HOST_ERROR), fatal = Int32(CLP_HOST_FATAL)

    private func stringValue(_ m: MessageView, _ r: Range<Int>) -> clp_value {
        Self.string(m.bytes.baseAddress!.advanced(by: r.lowerBound).assumingMemoryBound(to: CChar.self), r.count)
    }

    /// A string value: `n` bytes at `s` (host memory that outlives the C side's use).
    static func string(_ s: UnsafePointer<CChar>?, _ n: Int) -> clp_value {
        clp_value(type: Int32(CLP_V_STRING.rawValue), i: 0, d: 0, s: s, len: n)
    }

    static func integer(_ v: Int64) -> clp_value {
        clp_value(type: Int32(CLP_V_INTEGER.rawValue), i: v, d: 0, s: nil, len: 0)
    }

    private func fieldValue(_ m: MessageView, _ v: MessageView.Value) -> clp_value {
        switch v {
        case .bytes(let r): stringValue(m, r)
        case .integer(let i): Self.integer(i)
        case .double(let d): clp_value(type: Int32(CLP_V_DOUBLE.rawValue), i: 0, d: d, s: nil, len: 0)
        case .bool(let b): clp_value(type: Int32(CLP_V_BOOL.rawValue), i: b ? 1 : 0, d: 0, s: nil, len: 0)
        }
    }

    /// `read_message` of a field or of the framed message, and `raw` and `size` of a
    /// record's message not built yet. Headers never come here: C serves them from what
    /// ``publishHeaders(_:)`` handed over.
    func readMessage(_ what: Int, _ field: UnsafePointer<CChar>?, _ flen: Int, _ fi: Int, _ ai: Int,
                     _ out: inout clp_value) -> Int32 {
        if what == CLP_RM_FIELD && current == nil && record != nil { return Self.none }  // a record's message has no fields
        guard let m = currentMessage else { return Self.none }
        out = clp_value()
        switch what {
        case CLP_RM_FIELD:
            let name = UnsafeRawBufferPointer(start: field, count: flen)
            if let idx = m.fieldIndex(named: name, occurrence: fi), let v = m.value(ofField: idx, arrayIndex: ai) {
                out = fieldValue(m, v)
            }
        case CLP_RM_RAW:
            out = m.bytes.isEmpty ? Self.string(nil, 0) : stringValue(m, 0..<m.bytes.count)
        case CLP_RM_SIZE:
            out = Self.integer(Int64(m.bytes.count))
        case CLP_RM_FRAMED:
            let framed = PinnedBytes(StreamFraming.frame(m.bytes))
            scratch = framed
            out = Self.string(framed.base, framed.count)
        default: break
        }
        return Self.ok
    }

    /// Hands the message to the C side once, so reading a field or a header (and a
    /// decoder's inheritance) needs no callback. The header values are made there only
    /// when a script reads one: a filter that reads a field or two pays nothing for them.
    func publishHeaders(_ m: MessageView) {
        var vh = clp_view_headers()
        vh.spans = m.headerSpans
        vh.timestamp = m.timestamp
        if let v = m.severityValue {
            vh.severity = v
            vh.has_severity = 1
        }
        if let v = m.pidValue {
            vh.pid = v
            vh.has_pid = 1
        }
        clp_sandbox_set_view(handle, m.bytes.baseAddress?.assumingMemoryBound(to: CChar.self), m.bytes.count,
                             m.fieldSlots.baseAddress, m.fieldCount, &vh)
    }

    func readNextField(_ name: inout clp_value, _ value: inout clp_value, _ rep: inout clp_value,
                       _ vt: inout Int32, _ count: inout Int32) -> Int32 {
        if current == nil && record != nil { return Self.none }  // a record's message has no fields
        guard let m = currentMessage, nextFieldIndex < m.fieldCount else { return Self.none }
        let i = nextFieldIndex
        nextFieldIndex += 1
        let ref = m.fieldRef(at: i)
        name = stringValue(m, ref.name)
        rep = ref.representation.map { stringValue(m, $0) } ?? clp_value()
        vt = Int32(ref.valueType)
        value = m.value(ofField: i, arrayIndex: 0).map { fieldValue(m, $0) } ?? clp_value()
        var n = 0
        while m.value(ofField: i, arrayIndex: n) != nil { n += 1 }
        count = Int32(n)
        return Self.ok
    }

    func readConfig(_ key: UnsafePointer<CChar>?, _ klen: Int, _ out: inout clp_value) -> Int32 {
        let k = String(decoding: UnsafeRawBufferPointer(start: key, count: klen), as: UTF8.self)
        out = clp_value()
        switch config[k] {
        case .string?:
            let p = pinnedConfig[k]!
            out = Self.string(p.base, p.length)
        case .integer(let i)?: out = Self.integer(i)
        case .double(let d)?: out = clp_value(type: Int32(CLP_V_DOUBLE.rawValue), i: 0, d: d, s: nil, len: 0)
        case .bool(let b)?: out = clp_value(type: Int32(CLP_V_BOOL.rawValue), i: b ? 1 : 0, d: 0, s: nil, len: 0)
        case .array?, .table?:
            let p = pinnedConfig[k]!
            out = clp_value(type: Int32(CLP_V_TABLE.rawValue), i: 0, d: 0, s: p.base, len: p.length)
        case nil: break
        }
        return Self.ok
    }

    private static func text(_ p: UnsafePointer<CChar>?, _ n: Int) -> String {
        String(decoding: UnsafeRawBufferPointer(start: p, count: n), as: UTF8.self)
    }

    /// Writes `text` as a NUL-terminated reason into the C caller's error buffer.
    static func setError(_ err: UnsafeMutablePointer<CChar>?, _ errlen: Int, _ text: String) {
        guard let err, errlen > 0 else { return }
        let bytes = Array(text.utf8.prefix(errlen - 1))
        for (i, b) in bytes.enumerated() { err[i] = CChar(bitPattern: b) }
        err[bytes.count] = 0
    }

    func inject(_ kind: Int, _ data: UnsafePointer<CChar>?, _ len: Int, _ ptype: UnsafePointer<CChar>?, _ ptlen: Int,
                _ pname: UnsafePointer<CChar>?, _ pnlen: Int, _ err: UnsafeMutablePointer<CChar>?, _ errlen: Int) -> Int32 {
        let bytes = UnsafeRawBufferPointer(start: data, count: len)
        let verdict: InjectVerdict
        switch kind {
        case CLP_INJECT_PAYLOAD:
            if self.kind == .encoder {
                injectionsThisCall += 1
                verdict = onInject(.payload(type: Self.text(ptype, ptlen), name: Self.text(pname, pnlen), bytes: bytes))
            } else {
                let encoded = payloadMessage(
                    type: UnsafeRawBufferPointer(start: ptype, count: ptlen),
                    name: UnsafeRawBufferPointer(start: pname, count: pnlen), payload: bytes)
                injectionsThisCall += 1
                verdict = encoded.withUnsafeBytes { onInject(.message($0)) }
            }
        case CLP_INJECT_RAW:
            // A protobuf string from the script: check it before anyone routes it.
            do {
                _ = try MessageView(copying: bytes)
            } catch {
                Self.setError(err, errlen, "protobuf unmarshal failed (\(error))")
                return Self.error
            }
            injectionsThisCall += 1
            verdict = onInject(.message(bytes))
        default:
            // Written by our own encoder from a table: well-formed by construction.
            injectionsThisCall += 1
            verdict = onInject(.message(bytes))
        }
        switch verdict {
        case .accept: return Self.ok
        case .reject(let why):
            Self.setError(err, errlen, why)
            return Self.error
        case .fatal(let why):
            Self.setError(err, errlen, why)
            return Self.fatal
        }
    }

    /// Heka's `inject_payload` message: Type `heka.sandbox-output` and Logger the plugin
    /// from a filter (a decoder's copies its input's headers), the payload type and name as
    /// fields. Built from raw bytes: a binary payload reaches the output unchanged.
    private func payloadMessage(type: UnsafeRawBufferPointer, name payloadName: UnsafeRawBufferPointer,
                                payload: UnsafeRawBufferPointer) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(96 + payload.count)
        if kind == .decoder, let input = currentMessage {
            if injectionsThisCall == 0, let u = input.rangeOfHeader(fieldNumber: HEKA_MESSAGE_UUID) {
                out.appendLengthDelimited(HEKA_MESSAGE_UUID, input.bytes[u])
            } else {
                out.appendLengthDelimited(HEKA_MESSAGE_UUID, uuids.next())
            }
            out.appendTag(HEKA_MESSAGE_TIMESTAMP, .varint)
            out.appendVarint(UInt64(bitPattern: input.timestamp))
            if let r = input.rangeOfHeader(fieldNumber: HEKA_MESSAGE_TYPE) {
                out.appendLengthDelimited(HEKA_MESSAGE_TYPE, input.bytes[r])
            }
            if let r = input.rangeOfHeader(fieldNumber: HEKA_MESSAGE_LOGGER) {
                out.appendLengthDelimited(HEKA_MESSAGE_LOGGER, input.bytes[r])
            }
            if let s = input.severityValue {
                out.appendTag(HEKA_MESSAGE_SEVERITY, .varint)
                out.appendVarint(UInt64(bitPattern: Int64(s)))
            }
            out.appendLengthDelimited(HEKA_MESSAGE_PAYLOAD, payload)
            if let p = input.pid {
                out.appendTag(HEKA_MESSAGE_PID, .varint)
                out.appendVarint(UInt64(bitPattern: Int64(p)))
            }
            if let r = input.rangeOfHeader(fieldNumber: HEKA_MESSAGE_HOSTNAME) {
                out.appendLengthDelimited(HEKA_MESSAGE_HOSTNAME, input.bytes[r])
            }
        } else {
            out.appendLengthDelimited(HEKA_MESSAGE_UUID, uuids.next())
            out.appendTag(HEKA_MESSAGE_TIMESTAMP, .varint)
            out.appendVarint(UInt64(bitPattern: clock()))
            out.appendLengthDelimited(HEKA_MESSAGE_TYPE, "heka.sandbox-output".utf8)
            out.appendLengthDelimited(HEKA_MESSAGE_LOGGER, name.utf8)
            out.appendLengthDelimited(HEKA_MESSAGE_PAYLOAD, payload)
            out.appendTag(HEKA_MESSAGE_PID, .varint)
            out.appendVarint(UInt64(bitPattern: Int64(pid)))
            out.appendLengthDelimited(HEKA_MESSAGE_HOSTNAME, hostname.utf8)
        }
        for (fieldName, value) in [("payload_type", type), ("payload_name", payloadName)] {
            var f: [UInt8] = []
            f.appendLengthDelimited(HEKA_FIELD_NAME, fieldName.utf8)
            if fieldName == "payload_type" { f.appendLengthDelimited(HEKA_FIELD_REPRESENTATION, "file-extension".utf8) }  // as hekad set it
            f.appendLengthDelimited(HEKA_FIELD_VALUE_STRING, value)
            out.appendLengthDelimited(HEKA_MESSAGE_FIELDS, f)
        }
        return out
    }

    func fillDefaults(forEncode: Bool, _ d: inout clp_defaults) {
        var inheritUuid: Range<Int>?
        if !forEncode, kind == .decoder, let m = currentMessage {
            // Heka's decoders copy these headers of their input (not Payload, EnvVersion).
            if let r = m.rangeOfHeader(fieldNumber: HEKA_MESSAGE_TYPE) { d.type = stringValue(m, r) }
            if let r = m.rangeOfHeader(fieldNumber: HEKA_MESSAGE_LOGGER) { d.logger = stringValue(m, r) }
            if let r = m.rangeOfHeader(fieldNumber: HEKA_MESSAGE_HOSTNAME) { d.hostname = stringValue(m, r) }
            d.timestamp = Self.integer(m.timestamp)
            if let s = m.severityValue { d.severity = Self.integer(Int64(s)) }
            if let p = m.pid { d.pid = Self.integer(Int64(p)) }
            // The first message a decoder makes of its input keeps the input's Uuid.
            if injectionsThisCall == 0 { inheritUuid = m.rangeOfHeader(fieldNumber: HEKA_MESSAGE_UUID) }
        } else {
            d.timestamp = Self.integer(clock())
            if !forEncode && kind == .filter {
                d.type_prefix = pinnedPrefix.base
                d.type_prefix_len = pinnedPrefix.length
                d.force_logger = 1
                d.logger = Self.string(pinnedName.base, pinnedName.length)
                d.hostname = Self.string(pinnedHostname.base, pinnedHostname.length)
                d.pid = Self.integer(Int64(pid))
            }
        }
        withUnsafeMutableBytes(of: &d.uuid) { dst in
            if let r = inheritUuid, let m = currentMessage {
                dst.baseAddress!.copyMemory(from: m.bytes.baseAddress! + r.lowerBound, byteCount: 16)
            } else {
                uuids.write(into: dst.baseAddress!)
            }
        }
        d.has_uuid = 1
    }
}

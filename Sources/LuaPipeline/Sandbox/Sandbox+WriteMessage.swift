import CLua

/// `write_message` (decoders and encoders): changes the current message. Rare, so it
/// decodes, edits and re-encodes rather than patching bytes in place.
extension Sandbox {
    func writeMessage(_ what: Int, _ field: UnsafePointer<CChar>?, _ flen: Int, _ value: clp_value,
                      _ rep: UnsafePointer<CChar>?, _ replen: Int, _ fi: Int, _ ai: Int,
                      _ err: UnsafeMutablePointer<CChar>?, _ errlen: Int) -> Int32 {
        guard let view = currentMessage else {
            Self.setError(err, errlen, "no active message")
            return Int32(CLP_HOST_ERROR)
        }
        var m = view.decoded()
        let str: String? = value.type == Int32(CLP_V_STRING.rawValue)
            ? String(decoding: UnsafeRawBufferPointer(start: value.s, count: value.len), as: UTF8.self) : nil
        let num: Int64? = switch Int(value.type) {
        case Int(CLP_V_INTEGER.rawValue): value.i
        case Int(CLP_V_DOUBLE.rawValue): Int64(exactly: value.d.rounded(.towardZero))
        default: nil
        }
        func fail(_ why: String) -> Int32 {
            Self.setError(err, errlen, why)
            return Int32(CLP_HOST_ERROR)
        }
        let isNil = value.type == Int32(CLP_V_NIL.rawValue)
        switch what {
        case CLP_RM_TYPE, CLP_RM_LOGGER, CLP_RM_PAYLOAD, CLP_RM_ENVVERSION, CLP_RM_HOSTNAME:
            guard str != nil || isNil else { return fail("\(Self.headerName(what)) must be a string or nil") }
            switch what {
            case CLP_RM_TYPE: m.type = str
            case CLP_RM_LOGGER: m.logger = str
            case CLP_RM_PAYLOAD: m.payload = str
            case CLP_RM_ENVVERSION: m.envVersion = str
            default: m.hostname = str
            }
        case CLP_RM_TIMESTAMP:
            guard let num else { return fail("Timestamp must be a number in the int64 range") }
            m.timestamp = num
        case CLP_RM_SEVERITY:
            guard let num else { return fail("Severity must be a number") }
            m.severity = Int32(truncatingIfNeeded: num)
        case CLP_RM_PID:
            guard let num else { return fail("Pid must be a number") }
            m.pid = Int32(truncatingIfNeeded: num)
        case CLP_RM_UUID:
            guard value.type == Int32(CLP_V_STRING.rawValue) else { return fail("Uuid must be a string") }
            if value.len == 16 {
                m.uuid = Array(UnsafeRawBufferPointer(start: value.s, count: 16))
            } else if let str, str.utf8.count == 32 || str.utf8.count == 36, let u = Message.parseUuid(str) {
                m.uuid = u
            } else {
                return fail("Uuid must be 16 bytes, or 32 or 36 hex characters")
            }
        case CLP_RM_FIELD:
            let name = String(decoding: UnsafeRawBufferPointer(start: field, count: flen), as: UTF8.self)
            let representation = replen > 0 ? String(decoding: UnsafeRawBufferPointer(start: rep, count: replen), as: UTF8.self) : nil
            guard let newValue = Self.fieldValue(value) else {
                // nil removes the field
                var seen = 0
                if let idx = m.fields.firstIndex(where: { f in
                    guard f.name == name else { return false }
                    defer { seen += 1 }
                    return seen == fi
                }) { m.fields.remove(at: idx) }
                break
            }
            var seen = 0
            if let idx = m.fields.firstIndex(where: { f in
                guard f.name == name else { return false }
                defer { seen += 1 }
                return seen == fi
            }) {
                var f = m.fields[idx]
                if representation != nil { f.representation = representation }
                guard let merged = Self.setting(f.value, newValue, at: ai) else {
                    return fail("array index \(ai) is out of range or the value type differs")
                }
                f.value = merged
                m.fields[idx] = f
            } else {
                guard ai == 0 else { return fail("array index \(ai) is out of range") }
                m.fields.append(Field(name: name, value: newValue, representation: representation))
            }
        default:
            return fail("invalid field name")
        }
        let rewritten = MessageView(m)
        currentMessage = rewritten
        publishHeaders(rewritten)
        wroteMessage = true
        return Int32(CLP_HOST_OK)
    }

    private static func fieldValue(_ v: clp_value) -> FieldValue? {
        switch Int(v.type) {
        case Int(CLP_V_STRING.rawValue): .string([String(decoding: UnsafeRawBufferPointer(start: v.s, count: v.len), as: UTF8.self)])
        case Int(CLP_V_INTEGER.rawValue): .integer([v.i])
        case Int(CLP_V_DOUBLE.rawValue): .double([v.d])
        case Int(CLP_V_BOOL.rawValue): .bool([v.i != 0])
        default: nil
        }
    }

    /// `old` with element `at` replaced (or appended when `at == count`) by the single
    /// value in `new`; when the types differ, index 0 replaces the whole field with `new`
    /// (a field may change type, as in Heka) and any other index gives nil.
    private static func setting(_ old: FieldValue, _ new: FieldValue, at: Int) -> FieldValue? {
        func put<T>(_ a: [T], _ v: [T]) -> [T]? {
            guard at <= a.count else { return nil }
            var a = a
            if at == a.count { a.append(v[0]) } else { a[at] = v[0] }
            return a
        }
        switch (old, new) {
        case (.string(let a), .string(let v)): return put(a, v).map { .string($0) }
        case (.integer(let a), .integer(let v)): return put(a, v).map { .integer($0) }
        case (.double(let a), .double(let v)): return put(a, v).map { .double($0) }
        case (.double(let a), .integer(let v)): return put(a, v.map(Double.init)).map { .double($0) }
        case (.bool(let a), .bool(let v)): return put(a, v).map { .bool($0) }
        default: return at == 0 ? new : nil
        }
    }

    private static func headerName(_ what: Int) -> String {
        switch what {
        case CLP_RM_TYPE: "Type"
        case CLP_RM_LOGGER: "Logger"
        case CLP_RM_PAYLOAD: "Payload"
        case CLP_RM_ENVVERSION: "EnvVersion"
        default: "Hostname"
        }
    }
}

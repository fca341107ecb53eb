import CHekaWire
import FoundationEssentials
import Glibc

/// The JSON form of a message, for people and tools: Heka's Lua message table, serialized.
///
/// `{"Timestamp":ns,"Type":..,"Logger":..,"Severity":..,"Payload":..,"Hostname":..,"Pid":..,
/// "EnvVersion":..,"Uuid":"<32 hex>","Fields":{..}}`. Absent headers are omitted. A field
/// is its value (one value) or an array (several); with a representation it is
/// `{"value":..,"representation":".."}`; a bytes field is `{"value_type":1,"value":"<base64>"}`,
/// and an empty array of a type other than string is `{"value_type":N,"value":[]}`.
/// When a field name repeats, `Fields` is Heka's array form `[{"name":..,"value":..},…]`.
/// See docs/message-json.md.
extension Message {
    /// One line of JSON (no trailing newline).
    public func jsonBytes() -> [UInt8] {
        var o: [UInt8] = []
        o.reserveCapacity(256 + (payload?.utf8.count ?? 0))
        func key(_ k: String) {
            o.append(o.last == UInt8(ascii: "{") ? 0x20 : UInt8(ascii: ","))
            if o.last == 0x20 { o.removeLast() }
            JSONWriter.appendString(&o, k)
            o.append(UInt8(ascii: ":"))
        }
        o.append(UInt8(ascii: "{"))
        key("Timestamp"); JSONWriter.appendInteger(&o, timestamp)
        if let type { key("Type"); JSONWriter.appendString(&o, type) }
        if let logger { key("Logger"); JSONWriter.appendString(&o, logger) }
        if let severity { key("Severity"); JSONWriter.appendInteger(&o, Int64(severity)) }
        if let payload { key("Payload"); JSONWriter.appendString(&o, payload) }
        if let hostname { key("Hostname"); JSONWriter.appendString(&o, hostname) }
        if let pid { key("Pid"); JSONWriter.appendInteger(&o, Int64(pid)) }
        if let envVersion { key("EnvVersion"); JSONWriter.appendString(&o, envVersion) }
        key("Uuid"); JSONWriter.appendString(&o, JSONWriter.hexString(uuid))
        if !fields.isEmpty {
            key("Fields")
            let names = Set(fields.map(\.name))
            if names.count == fields.count {
                o.append(UInt8(ascii: "{"))
                for (n, f) in fields.enumerated() {
                    if n > 0 { o.append(UInt8(ascii: ",")) }
                    JSONWriter.appendString(&o, f.name)
                    o.append(UInt8(ascii: ":"))
                    f.appendJSONValue(&o, arrayForm: false)
                }
                o.append(UInt8(ascii: "}"))
            } else {
                o.append(UInt8(ascii: "["))
                for (n, f) in fields.enumerated() {
                    if n > 0 { o.append(UInt8(ascii: ",")) }
                    f.appendJSONValue(&o, arrayForm: true)
                }
                o.append(UInt8(ascii: "]"))
            }
        }
        o.append(UInt8(ascii: "}"))
        return o
    }

    public func jsonString() -> String { String(decoding: jsonBytes(), as: UTF8.self) }
}

extension Field {
    fileprivate func appendValues(_ o: inout [UInt8]) {
        let many = value.count != 1
        if many { o.append(UInt8(ascii: "[")) }
        switch value {
        case .string(let vs):
            for (i, v) in vs.enumerated() { if i > 0 { o.append(44) }; JSONWriter.appendString(&o, v) }
        case .bytes(let vs):
            for (i, v) in vs.enumerated() { if i > 0 { o.append(44) }; JSONWriter.appendString(&o, Data(v).base64EncodedString()) }
        case .integer(let vs):
            for (i, v) in vs.enumerated() { if i > 0 { o.append(44) }; JSONWriter.appendInteger(&o, v) }
        case .double(let vs):
            for (i, v) in vs.enumerated() { if i > 0 { o.append(44) }; JSONWriter.appendDouble(&o, v) }
        case .bool(let vs):
            for (i, v) in vs.enumerated() { if i > 0 { o.append(44) }; o.append(contentsOf: Array((v ? "true" : "false").utf8)) }
        }
        if many { o.append(UInt8(ascii: "]")) }
    }

    fileprivate func appendJSONValue(_ o: inout [UInt8], arrayForm: Bool) {
        // The type is spelled out where the values cannot tell it: bytes (base64 reads as a
        // string) and an empty array of anything but strings.
        let showType = value.valueType == 1 || (value.count == 0 && value.valueType != 0)
        if !arrayForm && !showType && representation == nil {
            appendValues(&o)
            return
        }
        o.append(UInt8(ascii: "{"))
        if arrayForm {
            o.append(contentsOf: Array("\"name\":".utf8))
            JSONWriter.appendString(&o, name)
            o.append(44)
        }
        if showType { o.append(contentsOf: Array("\"value_type\":\(value.valueType),".utf8)) }
        o.append(contentsOf: Array("\"value\":".utf8))
        appendValues(&o)
        if let representation {
            o.append(contentsOf: Array(",\"representation\":".utf8))
            JSONWriter.appendString(&o, representation)
        }
        o.append(UInt8(ascii: "}"))
    }
}

/// Why a JSON document is not a message in the JSON form.
public struct MessageJSONError: Error, Equatable, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}

extension Message {
    /// Reads the JSON form. A missing Uuid or Timestamp is left for the caller to fill
    /// (`hasUuid`/`hasTimestamp` in the result say which were given).
    ///
    /// - Throws: ``JSONError`` for text that is not JSON, ``MessageJSONError`` for JSON
    ///   that is not a message.
    public static func fromJSON(_ bytes: some Collection<UInt8>) throws -> (message: Message, hasUuid: Bool, hasTimestamp: Bool) {
        let doc = try JSONParser.parse(bytes)
        guard case .object(let kv) = doc else { throw MessageJSONError(reason: "a message must be a JSON object") }
        var m = Message()
        var hasUuid = false, hasTimestamp = false
        func str(_ k: String, _ v: JSONValue) throws -> String {
            guard case .string(let s) = v else { throw MessageJSONError(reason: "\(k) must be a string") }
            return s
        }
        func int(_ k: String, _ v: JSONValue) throws -> Int64 {
            switch v {
            case .integer(let i): return i
            case .double(let d) where d.rounded() == d && abs(d) < 9.2e18: return Int64(d)
            default: throw MessageJSONError(reason: "\(k) must be an integer")
            }
        }
        for (k, v) in kv {
            switch k {
            case "Timestamp": m.timestamp = try int(k, v); hasTimestamp = true
            case "Type": m.type = try str(k, v)
            case "Logger": m.logger = try str(k, v)
            case "Severity":
                guard let s = Int32(exactly: try int(k, v)) else { throw MessageJSONError(reason: "Severity out of range") }
                m.severity = s
            case "Payload": m.payload = try str(k, v)
            case "Hostname": m.hostname = try str(k, v)
            case "Pid":
                guard let p = Int32(exactly: try int(k, v)) else { throw MessageJSONError(reason: "Pid out of range") }
                m.pid = p
            case "EnvVersion": m.envVersion = try str(k, v)
            case "Uuid":
                guard let u = Self.parseUuid(try str(k, v)) else { throw MessageJSONError(reason: "Uuid must be 32 hex digits (dashes allowed)") }
                m.uuid = u
                hasUuid = true
            case "Fields":
                m.fields = try Self.parseFields(v)
            default:
                throw MessageJSONError(reason: "unknown key \"\(k)\"")
            }
        }
        return (m, hasUuid, hasTimestamp)
    }

    static func parseUuid(_ s: String) -> [UInt8]? {
        let hex = s.utf8.filter { $0 != UInt8(ascii: "-") }
        guard hex.count == 32 else { return nil }
        var out: [UInt8] = []
        var it = hex.makeIterator()
        while let h = it.next(), let l = it.next() {
            guard let a = hexDigit(h), let b = hexDigit(l) else { return nil }
            out.append(a << 4 | b)
        }
        return out
    }

    private static func hexDigit(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func parseFields(_ v: JSONValue) throws -> [Field] {
        switch v {
        case .object(let kv):
            return try kv.map { try parseField(name: $0.0, $0.1, arrayForm: false) }
        case .array(let items):
            return try items.map { item in
                guard case .string(let name)? = item["name"] else { throw MessageJSONError(reason: "each entry of the Fields array needs a \"name\"") }
                guard item["value"] != nil else { throw MessageJSONError(reason: "field \"\(name)\" has no \"value\"") }
                return try parseField(name: name, item, arrayForm: true)
            }
        default:
            throw MessageJSONError(reason: "Fields must be an object or an array")
        }
    }

    private static func parseField(name: String, _ v: JSONValue, arrayForm: Bool) throws -> Field {
        var representation: String?
        var valueType: Int?
        var raw = v
        if case .object(let kv) = v {
            guard let inner = v["value"] else { throw MessageJSONError(reason: "field \"\(name)\" is an object without \"value\"") }
            raw = inner
            for (k, _) in kv where !(k == "value" || k == "value_type" || k == "representation" || (arrayForm && k == "name")) {
                throw MessageJSONError(reason: "field \"\(name)\": unknown key \"\(k)\"")
            }
            if let r = v["representation"] {
                guard case .string(let rs) = r else { throw MessageJSONError(reason: "field \"\(name)\": representation must be a string") }
                representation = rs
            }
            if let t = v["value_type"] {
                guard case .integer(let ti) = t, (0...4).contains(ti) else { throw MessageJSONError(reason: "field \"\(name)\": value_type must be 0…4") }
                valueType = Int(ti)
            }
        }
        let values: [JSONValue]
        if case .array(let a) = raw { values = a } else { values = [raw] }
        let type = valueType ?? inferType(values)
        func bad() -> MessageJSONError { MessageJSONError(reason: "field \"\(name)\": values do not match value_type \(type)") }
        let fv: FieldValue
        switch type {
        case HEKA_VALUE_STRING:
            fv = .string(try values.map { guard case .string(let s) = $0 else { throw bad() }; return s })
        case HEKA_VALUE_BYTES:
            fv = .bytes(try values.map {
                guard case .string(let s) = $0, let d = Data(base64Encoded: s) else { throw bad() }
                return [UInt8](d)
            })
        case HEKA_VALUE_INTEGER:
            fv = .integer(try values.map { guard case .integer(let i) = $0 else { throw bad() }; return i })
        case HEKA_VALUE_DOUBLE:
            fv = .double(try values.map {
                switch $0 {
                case .double(let d): return d
                case .integer(let i): return Double(i)
                default: throw bad()
                }
            })
        default:
            fv = .bool(try values.map { guard case .bool(let b) = $0 else { throw bad() }; return b })
        }
        return Field(name: name, value: fv, representation: representation)
    }

    private static func inferType(_ values: [JSONValue]) -> Int {
        var sawDouble = false, sawInt = false
        for v in values {
            switch v {
            case .string: return HEKA_VALUE_STRING
            case .bool: return HEKA_VALUE_BOOL
            case .double: sawDouble = true
            case .integer: sawInt = true
            default: return HEKA_VALUE_STRING
            }
        }
        if sawDouble { return HEKA_VALUE_DOUBLE }
        if sawInt { return HEKA_VALUE_INTEGER }
        return HEKA_VALUE_STRING
    }
}

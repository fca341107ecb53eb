import Foundation
import Testing
@testable import LuaPipeline

/// The hand-written protobuf codec and the JSON form against golden files made by the
/// real protobuf library (scripts/make-golden.py).
@Suite struct CodecGoldenTests {
    @Test func fixturesArePresent() {
        #expect(Golden.names.count >= 25)
        #expect(Golden.names.contains("minimal"))
    }

    @Test(arguments: Golden.names)
    func decodeReencode(_ name: String) throws {
        let pb = try Golden.protobuf(name)
        let m = try Message(protobuf: pb)
        #expect(m.uuid.count == 16)
        #expect(m.encoded() == pb, "re-encoding \(name) changed its bytes")
        #expect(MessageView(m).slice(0..<pb.count) == pb)
    }

    @Test(arguments: Golden.names)
    func jsonForm(_ name: String) throws {
        let pb = try Golden.protobuf(name)
        let json = try Golden.json(name)
        let m = try Message(protobuf: pb)
        #expect(m.jsonString() == String(decoding: json, as: UTF8.self))
        #expect(m.jsonBytes() == json)

        let (back, hasUuid, hasTimestamp) = try Message.fromJSON(json)
        #expect(hasUuid && hasTimestamp)
        #expect(back == m)
        #expect(back.encoded() == pb, "JSON → protobuf of \(name) differs from the golden bytes")

        // An independent reader accepts the text too.
        #expect((try? JSONSerialization.jsonObject(with: Data(json), options: [])) != nil)
    }

    @Test(arguments: Golden.names)
    func viewReadsEverything(_ name: String) throws {
        let pb = try Golden.protobuf(name)
        let m = try Message(protobuf: pb)
        let v = try MessageView(encoded: pb)

        #expect(v.slice(0..<v.bytes.count) == pb)
        #expect(v.timestamp == m.timestamp)
        #expect(v.severityValue == m.severity)
        #expect(v.severity == (m.severity ?? 7))
        #expect(v.pid == m.pid)
        #expect(v.range(of: .uuid).map(v.slice) == m.uuid)
        #expect(v.string(.type) == m.type)
        #expect(v.string(.logger) == m.logger)
        #expect(v.string(.payload) == m.payload)
        #expect(v.string(.envVersion) == m.envVersion)
        #expect(v.string(.hostname) == m.hostname)
        #expect(v.range(of: .timestamp) == nil)
        #expect(v.decoded() == m)

        #expect(v.fieldRanges.count == m.fields.count)
        var occurrences: [String: Int] = [:]
        for (i, f) in m.fields.enumerated() {
            let ref = v.fieldRef(at: i)
            #expect(v.slice(ref.name) == Array(f.name.utf8))
            #expect(ref.valueType == f.value.valueType)
            #expect(ref.representation.map(v.slice) == f.representation.map { Array($0.utf8) })

            let occurrence = occurrences[f.name, default: 0]
            occurrences[f.name] = occurrence + 1
            #expect(v.fieldIndex(named: f.name, occurrence: occurrence) == i)

            let expected: [MessageView.Value?]
            switch f.value {
            case .string(let vs): expected = vs.map { _ in nil }
            case .bytes(let vs): expected = vs.map { _ in nil }
            case .integer(let vs): expected = vs.map { .integer($0) }
            case .double(let vs): expected = vs.map { .double($0) }
            case .bool(let vs): expected = vs.map { .bool($0) }
            }
            for j in 0..<f.value.count {
                let got = v.value(ofField: i, arrayIndex: j)
                switch f.value {
                case .string(let vs):
                    guard case .bytes(let r)? = got else { Issue.record("\(name).\(f.name)[\(j)]: \(String(describing: got))"); continue }
                    #expect(v.slice(r) == Array(vs[j].utf8))
                case .bytes(let vs):
                    guard case .bytes(let r)? = got else { Issue.record("\(name).\(f.name)[\(j)]: \(String(describing: got))"); continue }
                    #expect(v.slice(r) == vs[j])
                case .double(let vs):
                    guard case .double(let d)? = got else { Issue.record("\(name).\(f.name)[\(j)]: \(String(describing: got))"); continue }
                    #expect(d.bitPattern == vs[j].bitPattern)
                default:
                    #expect(got == expected[j])
                }
            }
            #expect(v.value(ofField: i, arrayIndex: f.value.count) == nil)
        }
        for (fieldName, count) in occurrences {
            #expect(v.fieldIndex(named: fieldName, occurrence: count) == nil)
        }
        #expect(v.fieldIndex(named: "no such field") == nil)
    }

    /// The framed stream holds the same bytes as the .pb files, in cases.txt order.
    @Test func goldenSetIsConsistent() throws {
        var stream: [UInt8] = []
        for name in Golden.names { stream += StreamFraming.frame(try Golden.protobuf(name)) }
        #expect(stream == (try Golden.file("stream.framed")))
    }
}

/// Decoding edge cases that the golden files, all well formed, do not reach.
@Suite struct CodecEdgeTests {
    static let uuid: [UInt8] = Array(0..<16)

    /// Field 1 uuid + field 2 timestamp 5.
    static var prefix: [UInt8] { [0x0A, 0x10] + uuid + [0x10, 0x05] }

    @Test func defaultSeverityIsSevenWhenAbsent() throws {
        let v = try MessageView(encoded: Self.prefix)
        #expect(v.severityValue == nil)
        #expect(v.severity == 7)
        #expect(try Message(protobuf: Self.prefix).severity == nil)
    }

    @Test func unknownFieldsAreSkipped() throws {
        // field 15 varint, field 16 length-delimited, field 17 fixed32, field 18 fixed64
        let extra: [UInt8] = [0x78, 0x01, 0x82, 0x01, 0x02, 0x41, 0x42, 0x8D, 0x01, 1, 2, 3, 4, 0x91, 0x01, 1, 2, 3, 4, 5, 6, 7, 8]
        let bytes = Self.prefix + extra
        let m = try Message(protobuf: bytes)
        #expect(m == Message(uuid: Self.uuid, timestamp: 5))
        let v = try MessageView(encoded: bytes)
        #expect(v.timestamp == 5)
        // A field with an unknown member still reads.
        var field: [UInt8] = [0x0A, 0x01, UInt8(ascii: "x"), 0x10, 0x02, 0x78, 0x09, 0x32, 0x01, 0x07]
        field = [0x52, UInt8(field.count)] + field
        let withField = try Message(protobuf: Self.prefix + field)
        #expect(withField.fields == [Field(name: "x", value: .integer([7]))])
        #expect(try MessageView(encoded: Self.prefix + field).value(ofField: 0) == .integer(7))
    }

    /// Encoders that do not pack (older protobuf versions) and that write value_type STRING.
    @Test func unpackedAndExplicitDefaults() throws {
        func fieldBytes(_ body: [UInt8]) -> [UInt8] { [0x52, UInt8(body.count)] + body }
        let ints = fieldBytes([0x0A, 0x01, UInt8(ascii: "i"), 0x10, 0x02, 0x30, 0x01, 0x30, 0x7F, 0x32, 0x02, 0x80, 0x01])
        var doubleBody: [UInt8] = [0x0A, 0x01, UInt8(ascii: "d"), 0x10, 0x03, 0x39]
        doubleBody += withUnsafeBytes(of: (1.5).bitPattern.littleEndian, Array.init)
        doubleBody += [0x39] + withUnsafeBytes(of: (-2.0).bitPattern.littleEndian, Array.init)
        let doubles = fieldBytes(doubleBody)
        let bools = fieldBytes([0x0A, 0x01, UInt8(ascii: "b"), 0x10, 0x04, 0x40, 0x01, 0x40, 0x00, 0x42, 0x01, 0x01])
        let strings = fieldBytes([0x0A, 0x01, UInt8(ascii: "s"), 0x10, 0x00, 0x22, 0x01, UInt8(ascii: "v")])
        let bytes = Self.prefix + ints + doubles + bools + strings
        let m = try Message(protobuf: bytes)
        #expect(m.fields == [
            Field(name: "i", value: .integer([1, 127, 128])),
            Field(name: "d", value: .double([1.5, -2.0])),
            Field(name: "b", value: .bool([true, false, true])),
            Field(name: "s", value: .string(["v"])),
        ])
        let v = try MessageView(encoded: bytes)
        #expect((0..<3).map { v.value(ofField: 0, arrayIndex: $0) } == [.integer(1), .integer(127), .integer(128)])
        #expect((0..<2).map { v.value(ofField: 1, arrayIndex: $0) } == [.double(1.5), .double(-2.0)])
        #expect((0..<3).map { v.value(ofField: 2, arrayIndex: $0) } == [.bool(true), .bool(false), .bool(true)])
        #expect(v.value(ofField: 2, arrayIndex: 3) == nil)
        guard case .bytes(let r)? = v.value(ofField: 3) else { Issue.record("no string value"); return }
        #expect(v.slice(r) == [UInt8(ascii: "v")])
        // Our encoder writes the canonical form: packed, no value_type for STRING.
        let canonical = try Message(protobuf: m.encoded())
        #expect(canonical == m)
        #expect(m.encoded().count < bytes.count)
    }

    @Test func malformedMessagesAreRejected() {
        let bad: [(String, [UInt8])] = [
            ("empty", []),
            ("no uuid", [0x10, 0x05]),
            ("no timestamp", [0x0A, 0x10] + Self.uuid),
            ("short uuid", [0x0A, 0x04, 1, 2, 3, 4, 0x10, 0x05]),
            ("length past end", [0x0A, 0x20] + Self.uuid + [0x10, 0x05]),
            ("truncated varint", [0x0A, 0x10] + Self.uuid + [0x10, 0x85]),
            ("overlong varint", [0x0A, 0x10] + Self.uuid + [0x10] + [UInt8](repeating: 0xFF, count: 10) + [0x01]),
            ("field 0", Self.prefix + [0x00, 0x01]),
            ("wire type 3", Self.prefix + [0x5B]),
            ("field without name", Self.prefix + [0x52, 0x02, 0x10, 0x02]),
            ("unknown value_type", Self.prefix + [0x52, 0x05, 0x0A, 0x01, 0x78, 0x10, 0x09]),
            ("value_type 2^64-1", Self.prefix + [0x52, 0x0E, 0x0A, 0x01, 0x78, 0x10] + [UInt8](repeating: 0xFF, count: 9) + [0x01]),
            ("field past end", Self.prefix + [0x52, 0x09, 0x0A, 0x01, 0x78]),
            ("packed doubles not 8-aligned", Self.prefix + [0x52, 0x0A, 0x0A, 0x01, 0x78, 0x10, 0x03, 0x3A, 0x03, 1, 2, 3]),
        ]
        for (what, bytes) in bad {
            #expect(throws: ProtobufError.self, "\(what)") { _ = try MessageView(encoded: bytes) }
        }
        for (what, bytes) in bad {
            #expect(throws: ProtobufError.self, "\(what)") { _ = try Message(protobuf: bytes) }
        }
    }

    /// Every prefix of every golden message either fails cleanly or (cut at a field
    /// boundary) decodes as a shorter message; both readers agree.
    @Test func truncatedMessagesFailCleanly() throws {
        for name in Golden.names where name != "large_payload" {
            let pb = try Golden.protobuf(name)
            for n in 0..<pb.count {
                let cut = Array(pb[0..<n])
                let tree = try? Message(protobuf: cut)
                let view = try? MessageView(encoded: cut)
                #expect((tree == nil) == (view == nil), "\(name) cut at \(n)")
                if let tree, let view { #expect(view.decoded() == tree) }
            }
        }
    }

    /// Seeded random corruptions of the golden messages: both readers accept or reject
    /// the same bytes, and whatever the view accepts it can decode and read without trapping.
    @Test func corruptedMessagesNeverTrap() throws {
        var rng = GoldenRNG(seed: 7)
        for name in Golden.names where name != "large_payload" {
            let pb = try Golden.protobuf(name)
            for _ in 0..<300 {
                var b = pb
                for _ in 0..<Int.random(in: 1...3, using: &rng) {
                    let at = Int.random(in: 0..<b.count, using: &rng)
                    switch Int.random(in: 0..<4, using: &rng) {
                    case 0: b[at] = UInt8.random(in: 0...255, using: &rng)
                    case 1: b[at] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
                    case 2: b.insert(UInt8.random(in: 0...255, using: &rng), at: at)
                    default: if b.count > 1 { b.remove(at: at) }
                    }
                }
                let tree = try? Message(protobuf: b)
                let view = try? MessageView(encoded: b)
                #expect((tree == nil) == (view == nil), "\(name): \(b)")
                guard let view, let tree else { continue }
                // Compared as bytes: a corrupted double may be a NaN, which is not == itself.
                #expect(view.decoded().encoded() == tree.encoded())
                for i in view.fieldRanges.indices {
                    _ = view.fieldRef(at: i)
                    for j in 0..<(tree.fields[i].value.count + 1) { _ = view.value(ofField: i, arrayIndex: j) }
                }
                #expect(try Message(protobuf: tree.encoded()).encoded() == tree.encoded())
            }
        }
    }

    /// Seeded random messages survive protobuf and JSON round trips exactly.
    @Test(arguments: [1, 2, 3, 42] as [UInt64])
    func randomRoundTrips(seed: UInt64) throws {
        var rng = GoldenRNG(seed: seed)
        for _ in 0..<200 {
            let m = Self.randomMessage(&rng)
            let pb = m.encoded()
            #expect(try Message(protobuf: pb) == m)
            let v = try MessageView(encoded: pb)
            #expect(v.decoded() == m)
            let (back, _, _) = try Message.fromJSON(m.jsonBytes())
            #expect(back == m)
            #expect(back.encoded() == pb)
        }
    }

    static func randomString(_ rng: inout GoldenRNG) -> String {
        let alphabet: [Unicode.Scalar] = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{0}", "\u{1F}", "\u{7F}",
                                          "é", "€", "日", "\u{2028}", "😀", "\u{10FFFF}", "\u{FEFF}"]
        let n = Int.random(in: 0...12, using: &rng)
        var s = String.UnicodeScalarView()
        for _ in 0..<n { s.append(alphabet.randomElement(using: &rng)!) }
        return String(s)
    }

    static func randomDouble(_ rng: inout GoldenRNG) -> Double {
        while true {
            let d: Double
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: d = Double(bitPattern: rng.next())
            case 1: d = Double(Int.random(in: -1000...1000, using: &rng))
            case 2: d = Double.random(in: -1...1, using: &rng)
            default: d = [0.0, -0.0, 1e300, -1e-300, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 9007199254740994][Int.random(in: 0..<7, using: &rng)]
            }
            if d.isFinite { return d }
        }
    }

    static func randomMessage(_ rng: inout GoldenRNG) -> Message {
        func maybe<T>(_ make: () -> T) -> T? { Bool.random(using: &rng) ? make() : nil }
        var m = Message(uuid: (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) },
                        timestamp: Int64(bitPattern: rng.next()))
        m.type = maybe { randomString(&rng) }
        m.logger = maybe { randomString(&rng) }
        m.severity = maybe { Int32.random(in: .min ... .max, using: &rng) }
        m.payload = maybe { randomString(&rng) }
        m.envVersion = maybe { randomString(&rng) }
        m.pid = maybe { Int32.random(in: .min ... .max, using: &rng) }
        m.hostname = maybe { randomString(&rng) }
        let names = ["a", "b", "c", "d", "é", ""]
        for _ in 0..<Int.random(in: 0...5, using: &rng) {
            let count = Int.random(in: 0...3, using: &rng)
            let value: FieldValue
            switch Int.random(in: 0..<5, using: &rng) {
            case 0: value = .string((0..<count).map { _ in randomString(&rng) })
            case 1: value = .bytes((0..<count).map { _ in (0..<Int.random(in: 0...6, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) } })
            case 2: value = .integer((0..<count).map { _ in Int64(bitPattern: rng.next()) })
            case 3: value = .double((0..<count).map { _ in randomDouble(&rng) })
            default: value = .bool((0..<count).map { _ in Bool.random(using: &rng) })
            }
            m.fields.append(Field(name: names.randomElement(using: &rng)!, value: value,
                                  representation: maybe { randomString(&rng) }))
        }
        return m
    }
}

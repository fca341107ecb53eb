import Foundation
import Testing
@testable import LuaPipeline

/// The strict JSON parser that keeps integers exact.
@Suite struct JSONParserTests {
    static func parse(_ text: String) throws(JSONError) -> JSONValue { try JSONParser.parse(text) }
    static func parse(_ bytes: [UInt8]) throws(JSONError) -> JSONValue { try JSONParser.parse(bytes) }

    @Test func integersAndDoublesStayApart() throws {
        #expect(try Self.parse("0") == .integer(0))
        #expect(try Self.parse("-0") == .integer(0))
        #expect(try Self.parse("42") == .integer(42))
        #expect(try Self.parse("-17") == .integer(-17))
        #expect(try Self.parse("1.0") == .double(1.0))
        #expect(try Self.parse("1e2") == .double(100))
        #expect(try Self.parse("1E+2") == .double(100))
        #expect(try Self.parse("25e-1") == .double(2.5))
        #expect(try Self.parse("-0.5") == .double(-0.5))
        guard case .double(let z) = try Self.parse("-0.0") else { Issue.record("-0.0"); return }
        #expect(z == 0 && z.sign == .minus)
        #expect(try Self.parse("1e300") == .double(1e300))
        #expect(try Self.parse("5e-324") == .double(.leastNonzeroMagnitude))
        #expect(try Self.parse("[1,1.5,true,null]") == .array([.integer(1), .double(1.5), .bool(true), .null]))
    }

    @Test func integersBeyondDoublePrecisionAreExact() throws {
        #expect(try Self.parse("9007199254740993") == .integer(9_007_199_254_740_993))
        #expect(try Self.parse("-9007199254740993") == .integer(-9_007_199_254_740_993))
        #expect(try Self.parse("1700000000123456789") == .integer(1_700_000_000_123_456_789))
        #expect(try Self.parse("9223372036854775807") == .integer(.max))
        #expect(try Self.parse("-9223372036854775808") == .integer(.min))
        // Beyond Int64 a number can only be a double.
        #expect(try Self.parse("9223372036854775808") == .double(9_223_372_036_854_775_808))
    }

    @Test func badNumbersAreRejected() {
        for text in ["01", "-01", "00", "1.", "-", ".5", "+1", "1e", "1e+", "1.e5", "--1", "1.2.3", "1e5e5", "0x10",
                     "1-2", "1+2", "Infinity", "-Infinity", "NaN", "1e400", "-1e400", "0.", "-.5"] {
            #expect(throws: JSONError.self, "\(text)") { try Self.parse(text) }
        }
    }

    @Test func escapes() throws {
        #expect(try Self.parse(#""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{8}\u{C}\n\r\t"))
        #expect(try Self.parse(#""\u0041\u00e9\u20AC\u0000""#) == .string("Aé€\u{0}"))
        #expect(try Self.parse(#""\ud83d\ude00""#) == .string("😀"))
        #expect(try Self.parse(#""\uD834\uDD1E x""#) == .string("\u{1D11E} x"))
        #expect(try Self.parse("\"raw é 日本 😀 \u{2028}\"") == .string("raw é 日本 😀 \u{2028}"))
        #expect(try Self.parse("\"\u{7F}\"") == .string("\u{7F}"))
    }

    @Test func badStringsAreRejected() {
        for text in [#""\ud83d""#, #""\ud83dx""#, #""\ud83d\u0041""#, #""\ude00""#, #""\ud83d\ud83d""#,
                     #""\x41""#, #""\U0041""#, #""\u12""#, #""\u12G4""#, #""abc"#, #""\"#, "\"a\nb\"", "\"\t\"", "\"\u{1}\""] {
            #expect(throws: JSONError.self, "\(text)") { try Self.parse(text) }
        }
    }

    @Test func invalidUTF8IsRejected() throws {
        let bad: [[UInt8]] = [
            [0x22, 0xFF, 0x22],                   // not UTF-8 at all
            [0x22, 0xC0, 0x80, 0x22],             // overlong NUL
            [0x22, 0xE2, 0x82, 0x22],             // truncated sequence
            [0x22, 0xED, 0xA0, 0x80, 0x22],       // encoded surrogate
            [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], // above U+10FFFF
            [0x22, 0x80, 0x22],                   // lone continuation byte
            [0xFF],                               // outside a string
            [0x5B, 0x31, 0x2C, 0xC3, 0x5D],
        ]
        for bytes in bad {
            #expect(throws: JSONError.self, "\(bytes)") { try Self.parse(bytes) }
        }
        #expect(try Self.parse([0x22, 0xC3, 0xA9, 0x22]) == .string("é"))
    }

    @Test func trailingTextIsRejected() throws {
        for text in ["{} x", "1 2", "[]]", "nulll", "true false", "{}{}", "\"a\"\"b\"", "1,", "{} \u{0}"] {
            #expect(throws: JSONError.self, "\(text)") { try Self.parse(text) }
        }
        #expect(try Self.parse(" \t\r\n{} \n") == .object([]))
    }

    @Test func malformedStructureIsRejected() {
        for text in ["", " ", "{", "[", "{,}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "[1,]", "[,1]", "{1:2}", "{'a':1}",
                     "tru", "True", "nul", "[1 2]", "{\"a\":1 \"b\":2}", "\u{FEFF}{}", "//\n{}"] {
            #expect(throws: JSONError.self, "\(text.debugDescription)") { try Self.parse(text) }
        }
    }

    @Test func errorOffsets() {
        do {
            _ = try Self.parse("[1, x]")
            Issue.record("no error")
        } catch {
            #expect(error.offset == 4)
        }
    }

    @Test func objectsKeepOrderAndDuplicates() throws {
        let v = try Self.parse(#"{"b":1,"a":2,"b":3}"#)
        guard case .object(let kv) = v else { Issue.record("not an object"); return }
        #expect(kv.map(\.0) == ["b", "a", "b"])
        #expect(v["b"] == .integer(1))
        #expect(v["c"] == nil)
    }

    @Test func nestingIsBounded() throws {
        let ok = String(repeating: "[", count: 256) + String(repeating: "]", count: 256)
        #expect(throws: Never.self) { try Self.parse(ok) }
        let objects = String(repeating: "{\"a\":", count: 256) + "1" + String(repeating: "}", count: 256)
        #expect(throws: Never.self) { try Self.parse(objects) }
        let tooDeep = String(repeating: "[", count: 257) + String(repeating: "]", count: 257)
        #expect(throws: JSONError.self) { try Self.parse(tooDeep) }
        // Far deeper than any stack would allow by recursion: must fail, not crash.
        let hostile = String(repeating: "[", count: 1_000_000)
        #expect(throws: JSONError.self) { try Self.parse(hostile) }
        // Depth is about nesting, not about how many containers there are.
        let wide = "[" + Array(repeating: "[[]]", count: 10_000).joined(separator: ",") + "]"
        #expect(throws: Never.self) { try Self.parse(wide) }
    }
}

/// JSON that parses but is not a message in the JSON form, and the form's finer points.
@Suite struct MessageJSONTests {
    static let uuidHex = "000102030405060708090a0b0c0d0e0f"

    static func read(_ text: String) throws -> (message: Message, hasUuid: Bool, hasTimestamp: Bool) {
        try Message.fromJSON(Array(text.utf8))
    }

    static func expectMessageError(_ text: String, _ comment: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(throws: MessageJSONError.self, "\(comment ?? text)", sourceLocation: sourceLocation) { try read(text) }
    }

    @Test func unknownKeysAreRejected() {
        Self.expectMessageError(#"{"Timestamp":1,"Foo":1}"#)
        Self.expectMessageError(#"{"timestamp":1}"#, "keys are case-sensitive")
        Self.expectMessageError(#"{"Severity":1,"EnvVersion":"1","Uuid2":"x"}"#)
    }

    @Test func badUuids() {
        for u in ["\"0001\"", "\"\(Self.uuidHex)00\"", "\"000102030405060708090a0b0c0d0e0g\"", "1", "null",
                  "\"00010203-0405-0607-0809-0a0b0c0d0e0\"", "\"é00102030405060708090a0b0c0d0e\""] {
            Self.expectMessageError(#"{"Uuid":\#(u)}"#)
        }
    }

    @Test func uuidForms() throws {
        let expected: [UInt8] = Array(0..<16)
        #expect(try Self.read(#"{"Uuid":"\#(Self.uuidHex)"}"#).message.uuid == expected)
        #expect(try Self.read(#"{"Uuid":"000102030405060708090A0B0C0D0E0F"}"#).message.uuid == expected)
        #expect(try Self.read(#"{"Uuid":"00010203-0405-0607-0809-0a0b0c0d0e0f"}"#).message.uuid == expected)
    }

    @Test func badHeaderTypes() {
        for body in [#""Timestamp":"1""#, #""Timestamp":1.5"#, #""Timestamp":true"#, #""Timestamp":9223372036854775808"#,
                     #""Timestamp":null"#, #""Type":1"#, #""Logger":null"#, #""Payload":["a"]"#, #""Hostname":{}"#,
                     #""EnvVersion":0"#, #""Severity":"7""#, #""Severity":2147483648"#, #""Severity":-2147483649"#,
                     #""Pid":4294967296"#, #""Pid":1.25"#] {
            Self.expectMessageError("{\(body)}")
        }
        Self.expectMessageError("[]", "not an object")
        Self.expectMessageError("\"x\"", "not an object")
    }

    @Test func missingUuidAndTimestampAreReported() throws {
        let r = try Self.read(#"{"Payload":"x"}"#)
        #expect(!r.hasUuid && !r.hasTimestamp)
        #expect(r.message.payload == "x")
        let s = try Self.read(#"{"Timestamp":-5,"Uuid":"\#(Self.uuidHex)"}"#)
        #expect(s.hasUuid && s.hasTimestamp)
        #expect(s.message.timestamp == -5)
        // An integral double is accepted where an integer is wanted.
        #expect(try Self.read(#"{"Timestamp":1e3}"#).message.timestamp == 1000)
    }

    @Test func badFields() {
        for fields in [#""x""#, "1", "null", "true",
                       #"[{"value":1}]"#, #"[{"name":"a"}]"#, #"[{"name":1,"value":1}]"#, "[1]",
                       #"{"a":{"representation":"B"}}"#, #"{"a":{"value_type":7,"value":1}}"#,
                       #"{"a":{"value_type":"2","value":1}}"#, #"{"a":{"value_type":1,"value":"not base64!"}}"#,
                       #"{"a":{"value_type":1,"value":5}}"#, #"{"a":{"value_type":2,"value":1.5}}"#,
                       #"{"a":{"value_type":4,"value":1}}"#, #"{"a":{"value_type":0,"value":1}}"#,
                       #"{"a":{"value":1,"representation":5}}"#, #"{"a":{"value":1,"represntation":"B"}}"#,
                       #"{"a":{"name":"a","value":1}}"#, #"[{"name":"a","value":1,"extra":true}]"#,
                       #"{"a":["x",1]}"#, #"{"a":[true,1]}"#, #"{"a":[1,"x"]}"#, #"{"a":null}"#, #"{"a":[[1]]}"#] {
            Self.expectMessageError(#"{"Fields":\#(fields)}"#)
        }
    }

    @Test func fieldForms() throws {
        let m = try Self.read(#"""
            {"Fields":{"s":"x","ss":["a","b"],"i":5,"ii":[1,-2],"d":2.5,"mixed":[1,2.5],"dd":{"value_type":3,"value":[1,2]},
            "b":true,"bb":[false,true],"sized":{"value":5120,"representation":"B"},"raw":{"value_type":1,"value":"AP8="},
            "e":[],"ei":{"value_type":2,"value":[]}}}
            """#).message
        #expect(m.fields == [
            Field(name: "s", value: .string(["x"])),
            Field(name: "ss", value: .string(["a", "b"])),
            Field(name: "i", value: .integer([5])),
            Field(name: "ii", value: .integer([1, -2])),
            Field(name: "d", value: .double([2.5])),
            Field(name: "mixed", value: .double([1, 2.5])),
            Field(name: "dd", value: .double([1, 2])),
            Field(name: "b", value: .bool([true])),
            Field(name: "bb", value: .bool([false, true])),
            Field(name: "sized", value: .integer([5120]), representation: "B"),
            Field(name: "raw", value: .bytes([[0x00, 0xFF]])),
            Field(name: "e", value: .string([])),
            Field(name: "ei", value: .integer([])),
        ])
        let arrayForm = try Self.read(#"{"Fields":[{"name":"a","value":1},{"name":"a","value":"x","representation":"r"}]}"#).message
        #expect(arrayForm.fields == [Field(name: "a", value: .integer([1])), Field(name: "a", value: .string(["x"]), representation: "r")])
    }

    @Test func writerForms() {
        let uuid: [UInt8] = Array(0..<16)
        var m = Message(uuid: uuid, timestamp: 1_700_000_000_123_456_789)
        #expect(m.jsonString() == #"{"Timestamp":1700000000123456789,"Uuid":"\#(Self.uuidHex)"}"#)
        m.fields = [
            Field(name: "d", value: .double([3, 1e300, -0.5, 1e-5])),
            Field(name: "nan", value: .double([.nan, .infinity, -.infinity])),
            Field(name: "ei", value: .integer([])),
        ]
        #expect(m.jsonString() == #"{"Timestamp":1700000000123456789,"Uuid":"\#(Self.uuidHex)","Fields":{"d":[3.0,1e+300,-0.5,1e-05],"nan":[null,null,null],"ei":{"value_type":2,"value":[]}}}"#)
        m.fields = [Field(name: "s", value: .string(["\u{0}\u{8}\u{C}\u{1F}\u{7F}\"\\/\n\r\té😀"]))]
        #expect(m.jsonString().hasSuffix(#""Fields":{"s":"\u0000\u0008\u000c\u001f\u007f\"\\/\n\r\té😀"}}"#))
    }

    /// The examples in docs/message-json.md are what the writer writes.
    @Test func documentedExamples() throws {
        for text in [
            #"{"Timestamp":1700000000123456789,"Type":"nginx.access","Logger":"TestInput","Severity":7,"Payload":"GET / HTTP/1.1","Hostname":"web-01.example.com","Pid":4242,"EnvVersion":"0.8","Uuid":"76f05cce4a24b0329e088466f27cd84a","Fields":{"status":200,"sized":{"value":5120,"representation":"B"}}}"#,
            #"{"Timestamp":0,"Uuid":"199507e36df95bd7412daf3b9511836f"}"#,
            #"{"Timestamp":19,"Payload":"p","Uuid":"a10d8f1bf571e34fc9a537b31d890be7","Fields":[{"name":"dup","value":"first"},{"name":"other","value":[1,2]},{"name":"dup","value":2},{"name":"dup","value_type":1,"value":"/w==","representation":"raw"},{"name":"dup","value":3.0,"representation":"ms"}]}"#,
            #"{"Timestamp":1,"Uuid":"199507e36df95bd7412daf3b9511836f","Fields":{"status":200,"codes":[200,404],"raw":{"value_type":1,"value":"3q2+7w=="},"none":{"value_type":2,"value":[]},"d":[3.0,-0.5,0.1,1e+300,1e-05,1e+16,-0.0]}}"#,
        ] {
            #expect(try Self.read(text).message.jsonString() == text)
        }
        let mixed = try Self.read(#"{"Fields":{"x":[1,2.5]}}"#).message
        #expect(mixed.fields == [Field(name: "x", value: .double([1.0, 2.5]))])
        let dashed = try Self.read(#"{"Uuid":"76F05CCE-4A24-B032-9E08-8466F27CD84A"}"#).message
        #expect(JSONWriter.hexString(dashed.uuid) == "76f05cce4a24b0329e088466f27cd84a")
    }

    /// Every message written parses back, for messages that the golden files do not cover.
    @Test func writerOutputIsStrictJSON() throws {
        var rng = GoldenRNG(seed: 99)
        for _ in 0..<300 {
            let m = CodecEdgeTests.randomMessage(&rng)
            let text = m.jsonBytes()
            #expect(throws: Never.self) { try JSONParser.parse(text) }
            #expect((try? JSONSerialization.jsonObject(with: Data(text), options: [])) != nil)
        }
    }
}

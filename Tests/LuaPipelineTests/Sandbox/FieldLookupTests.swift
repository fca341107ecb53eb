import Testing
import LuapipedCore
@testable import LuaPipeline

/// `read_message("Fields[name]", fi, ai)` gives what the message's view holds for every
/// value type, packed and repeated values, repeated names and indices past the end.
@Suite struct FieldLookupTests {
    static let message = Message(
        uuid: Array(0..<16), timestamp: 1, type: "t",
        fields: [
            Field(name: "s", value: .string(["a", "", "ccc"])),
            Field(name: "b", value: .bytes([[0, 1, 2], [255]])),
            Field(name: "i", value: .integer([-1, 0, Int64.max])),
            Field(name: "d", value: .double([0.5, -2.25])),
            Field(name: "t", value: .bool([true, false])),
            Field(name: "s", value: .string(["second"]), representation: "r"),
            Field(name: "i", value: .integer([7])),
            Field(name: "empty", value: .string([])),
        ])

    /// What the host's view reads, rendered as the script renders it.
    private static func expected(_ v: MessageView, _ name: String, _ fi: Int, _ ai: Int) -> String {
        guard let idx = v.fieldIndex(named: name, occurrence: fi), let value = v.value(ofField: idx, arrayIndex: ai) else { return "nil" }
        switch value {
        case .bytes(let r): return "s:" + v.bytes[r].map { String($0) }.joined(separator: ",")
        case .integer(let i): return "i:\(i)"
        case .double(let d): return "d:\(d)"
        case .bool(let b): return "b:\(b)"
        }
    }

    @Test func everyLookupReadsWhatTheViewReads() throws {
        let h = try ScriptHarness("""
            local function render(v)
              if v == nil then return "nil" end
              if type(v) == "string" then
                local t = {}
                for k = 1, #v do t[#t + 1] = tostring(v:byte(k)) end
                return "s:" .. table.concat(t, ",")
              end
              if type(v) == "boolean" then return "b:" .. tostring(v) end
              if math.type(v) == "integer" then return "i:" .. v end
              return "d:" .. v
            end
            function process_message()
              local out = {}
              for _, name in ipairs({"s", "b", "i", "d", "t", "empty", "missing"}) do
                for fi = 0, 2 do
                  for ai = 0, 3 do out[#out + 1] = render(read_message("Fields[" .. name .. "]", fi, ai)) end
                end
              end
              inject_payload("txt", "", table.concat(out, "|"))
              return 0
            end
            """)
        #expect(h.process(Self.message) == .ok(status: 0, message: nil))
        let view = MessageView(Self.message)
        var want: [String] = []
        for name in ["s", "b", "i", "d", "t", "empty", "missing"] {
            for fi in 0...2 { for ai in 0...3 { want.append(Self.expected(view, name, fi, ai)) } }
        }
        let payload = try #require(h.messages.first?.payload)
        let got = payload.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        #expect(got == want)
        #expect(got.contains("s:115,101,99,111,110,100") && got.contains("i:9223372036854775807") && got.contains("d:-2.25"))
    }

    /// Fields another producer may write in another order or form: a value_type before the
    /// name, one repeated after the value, an unpacked integer, a representation between
    /// the type and the value, a string and an integer in one field. The script reads
    /// what the view's own reader reads.
    @Test func unusualLayoutsReadWhatTheViewReads() throws {
        func field(_ body: [UInt8]) -> [UInt8] { [0x52, UInt8(body.count)] + body }
        func name(_ n: String) -> [UInt8] { [0x0A, UInt8(n.utf8.count)] + Array(n.utf8) }
        let uuid: [UInt8] = Array(0..<16)
        var bytes: [UInt8] = [0x0A, 0x10] + uuid + [0x10, 0x05]
        bytes += field([0x10, 0x02] + name("a") + [0x22, 0x01, UInt8(ascii: "x")])  // INTEGER declared, a string given
        bytes += field(name("b") + [0x22, 0x01, UInt8(ascii: "y"), 0x10, 0x02])  // value_type INTEGER after a string: the last one counts
        bytes += field(name("c") + [0x10, 0x02, 0x30, 0x2A])  // an unpacked integer, 42
        bytes += field(name("d") + [0x10, 0x02, 0x1A, 0x01, UInt8(ascii: "B"), 0x32, 0x01, 0x07])  // representation
        bytes += field(name("e") + [0x22, 0x01, UInt8(ascii: "z"), 0x32, 0x01, 0x09])  // a string and an integer
        let view = try MessageView(encoded: bytes)
        let names = ["a", "b", "c", "d", "e"]
        let h = try ScriptHarness("""
            function process_message()
              local out = {}
              for _, n in ipairs({"a", "b", "c", "d", "e"}) do
                local v = read_message("Fields[" .. n .. "]")
                out[#out + 1] = v == nil and "nil" or (type(v) == "string" and "s:" .. v or "i:" .. tostring(v))
              end
              inject_payload("txt", "", table.concat(out, "|"))
              return 0
            end
            """)
        #expect(h.sandbox.processMessage(view) == .ok(status: 0, message: nil))
        let want = names.map { n -> String in
            guard let idx = view.fieldIndex(named: n, occurrence: 0), let value = view.value(ofField: idx, arrayIndex: 0) else { return "nil" }
            switch value {
            case .bytes(let r): return "s:" + String(decoding: view.bytes[r], as: UTF8.self)
            case .integer(let i): return "i:\(i)"
            default: return "other"
            }
        }
        #expect(h.messages.first?.payload == want.joined(separator: "|"))
        #expect(want == ["nil", "nil", "i:42", "i:7", "s:z"])
    }
}

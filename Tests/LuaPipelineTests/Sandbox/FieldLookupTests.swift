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
}

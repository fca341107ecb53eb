import LuapipedCore
import Testing
@testable import LuaPipeline

/// A decoder that fills one Fields table for every message has it read from Lua's table
/// nodes rather than through lua_next (clp_encode_fields.c), plain values and
/// `{value=, representation=}` tables alike. Whatever the table turns into between
/// messages, what is injected is what the table holds.
@Suite struct ReusedFieldsTableTests {
    private static let script = """
        local fields = {}
        local msg = {Type = 't', Fields = fields}
        local steps = {
          function() fields.a = 'x' fields.b = 1 end,
          function() fields.a = 2.5 fields.b = true end,
          function() fields.a = string.rep('long', 20) fields.b = false end,
          function() fields.c = -7 end,
          function() fields.c = nil end,
          function() fields.b = {value = 3, representation = 'ms'} end,
          function() fields.b = {value = 2.5, representation = 'ms', note = 'ignored'} end,
          function() fields.b = {value = 'v', representation = 7} end,
          function() fields.b = {value = 3, value_type = 3} end,
          function() fields.b = {value = {1, 2}, representation = 'n'} end,
          function() fields.b = 4 end,
          function() fields = {a = 'fresh', b = 5} msg.Fields = fields end,
          function() fields[1] = 'x' end,
        }
        local n = 0
        function process_message() n = n + 1 steps[n]() inject_message(msg) return 0 end
        """

    @Test func theLayoutCheckHoldsForTheLuaLinked() throws {
        _ = try ScriptHarness("function process_message() return 0 end")
        #expect(Sandbox.readsFieldsInPlace)
    }

    @Test func eachMessageCarriesWhatTheTableHoldsThen() throws {
        let h = try ScriptHarness(Self.script)
        let long = String(repeating: "long", count: 20)
        let expected: [[Field]] = [
            [Field(name: "a", value: .string(["x"])), Field(name: "b", value: .integer([1]))],
            [Field(name: "a", value: .double([2.5])), Field(name: "b", value: .bool([true]))],
            [Field(name: "a", value: .string([long])), Field(name: "b", value: .bool([false]))],
            [Field(name: "a", value: .string([long])), Field(name: "b", value: .bool([false])), Field(name: "c", value: .integer([-7]))],
            [Field(name: "a", value: .string([long])), Field(name: "b", value: .bool([false]))],
            [Field(name: "a", value: .string([long])), Field(name: "b", value: .integer([3]), representation: "ms")],
            [Field(name: "a", value: .string([long])), Field(name: "b", value: .double([2.5]), representation: "ms")],
            [Field(name: "a", value: .string([long])), Field(name: "b", value: .string(["v"]))],
            [Field(name: "a", value: .string([long])), Field(name: "b", value: .double([3]))],
            [Field(name: "a", value: .string([long])), Field(name: "b", value: .integer([1, 2]), representation: "n")],
            [Field(name: "a", value: .string([long])), Field(name: "b", value: .integer([4]))],
            [Field(name: "a", value: .string(["fresh"])), Field(name: "b", value: .integer([5]))],
        ]
        for (i, fields) in expected.enumerated() {
            #expect(h.process() == .ok(status: 0, message: nil), "step \(i + 1)")
            #expect(h.messages.last?.fields == fields, "step \(i + 1)")
        }
        // A number key in the reused table is still refused, as lua_next's path refuses it.
        #expect(terminationReason(h.process())?.hasSuffix("inject_message() field names must be strings, got number") == true)
        #expect(h.messages.count == expected.count)
    }
}

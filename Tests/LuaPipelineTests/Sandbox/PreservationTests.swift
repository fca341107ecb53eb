import Testing
@testable import LuaPipeline

/// preserve_data: globals survive a stop and start, exactly.
@Suite struct PreservationTests {
    private let script = """
        count = 0
        names = {}
        function process_message()
          count = count + 1
          names[#names + 1] = read_message('Type')
          return 0
        end
        """

    @Test func roundTrip() throws {
        let a = try ScriptHarness("""
            n = 0
            f = 3.0
            big = math.maxinteger
            small = math.mininteger
            inf = math.huge
            s = 'quote " backslash \\\\ newline \\n nul \\0 tab \\t end'
            nested = {list = {1, 2, {deep = true}}, [10] = 'ten', [2.5] = 'float key', [true] = false}
            shared = nested.list
            cycle = {}
            cycle.self = cycle
            fn = function() end
            local hidden = 5
            function process_message() n = n + 1 return 0 end
            """)
        for _ in 0..<3 { a.process() }
        let data = try a.sandbox.preserve()
        let b = try ScriptHarness("""
            n = 100
            function process_message()
              assert(n == 3 and math.type(n) == 'integer', n)
              assert(f == 3.0 and math.type(f) == 'float')
              assert(big == math.maxinteger and small == math.mininteger and inf == math.huge)
              assert(s == 'quote " backslash \\\\ newline \\n nul \\0 tab \\t end')
              assert(nested.list[3].deep and nested[10] == 'ten' and nested[2.5] == 'float key' and nested[true] == false)
              assert(shared == nested.list, 'shared table stays shared')
              assert(cycle.self == cycle)
              assert(fn == nil)
              assert(string.rep and lpeg == nil)
              return 0
            end
            """)
        #expect(try b.sandbox.restore(data))
        #expect(b.process() == .ok(status: 0, message: nil))
    }

    @Test func countsContinueAcrossRestarts() throws {
        var state: [UInt8] = []
        for round in 0..<3 {
            let h = try ScriptHarness(script)
            if round > 0 { #expect(try h.sandbox.restore(state)) }
            for _ in 0..<5 { h.process() }
            state = try h.sandbox.preserve()
        }
        let last = try ScriptHarness(script + "\nfunction timer_event() inject_payload('txt', '', count, ' ', #names) end")
        try last.sandbox.restore(state)
        try last.sandbox.timerEvent(ns: 0, shutdown: true)
        #expect(last.messages.first?.payload == "15 15")
    }

    @Test func versionChangeDiscardsTheState() throws {
        let a = try ScriptHarness("_PRESERVATION_VERSION = 1\n" + script)
        a.process()
        let data = try a.sandbox.preserve()
        let same = try ScriptHarness("_PRESERVATION_VERSION = 1\n" + script)
        #expect(try same.sandbox.restore(data))
        let changed = try ScriptHarness("_PRESERVATION_VERSION = 2\n" + script + "\nfunction timer_event() inject_payload('txt', '', count) end")
        #expect(try changed.sandbox.restore(data) == false)
        try changed.sandbox.timerEvent(ns: 0, shutdown: true)
        #expect(changed.messages.first?.payload == "0")
    }

    @Test func requiredModulesAreNotPreserved() throws {
        let a = try ScriptHarness("require 'lpeg' cj = require 'cjson' x = 1 function process_message() return 0 end")
        let text = String(decoding: try a.sandbox.preserve(), as: UTF8.self)
        #expect(text == "_G[\"x\"] = 1\n")
    }

    @Test func corruptStateIsAnErrorNotACrash() throws {
        let h = try ScriptHarness(script)
        #expect(throws: SandboxError.self) { try h.sandbox.restore(Array("_G[\"x\" = ".utf8)) }
        #expect(h.process() == .ok(status: 0, message: nil))
    }

    @Test func stateAtTheMemoryLimitIsStillSaved() throws {
        let h = try ScriptHarness("""
            big = {}
            function process_message() for i = 1, 20000 do big[i] = 'value ' .. i end return 0 end
            """, limits: SandboxLimits(memory: 2_000_000, instructions: 10_000_000))
        #expect(h.process() == .ok(status: 0, message: nil))
        let data = try h.sandbox.preserve()
        #expect(data.count > 20000 * 10)
    }

    @Test func hostileStateIsBoundedAndTheSandboxGoesOn() throws {
        let h = try ScriptHarness(script + "\nfunction timer_event() inject_payload('txt', '', count) end")
        #expect(throws: SandboxError(.restore, "restore: preserved data:1: instruction_limit exceeded")) {
            try h.sandbox.restore(Array("while true do end".utf8))
        }
        #expect(throws: SandboxError(.restore, "restore: memory_limit exceeded")) {
            try h.sandbox.restore(Array("local s = 'x' for i = 1, 40 do s = s .. s end".utf8))
        }
        #expect(h.process() == .ok(status: 0, message: nil))
        try h.sandbox.timerEvent(ns: 0, shutdown: false)
        #expect(h.messages.last?.payload == "1")
    }

    @Test func tooDeepStateIsAnErrorWithOnePrefix() throws {
        let h = try ScriptHarness("t = {} local c = t for i = 1, 300 do c.n = {} c = c.n end function process_message() return 0 end")
        #expect(throws: SandboxError(.terminated, "preserve_data() tables nested deeper than 200")) { try h.sandbox.preserve() }
        // State that cannot be saved does not stop the script.
        #expect(!h.sandbox.isTerminated)
        #expect(terminationReason(h.process()) == nil)
    }
}

import Testing
@testable import LuaPipeline

/// Hostile scripts: each limit holds, the reason is exact, and nothing else is hurt.
@Suite struct SandboxLimitTests {
    private func terminated(_ body: String, limits: SandboxLimits = SandboxLimits()) throws -> (ScriptHarness, String?) {
        let h = try ScriptHarness(body, limits: limits)
        return (h, terminationReason(h.process()))
    }

    @Test func endlessLoop() throws {
        let (_, reason) = try terminated("function process_message() while true do end return 0 end")
        #expect(reason == "process_message() test.lua:1: instruction_limit exceeded")
    }

    @Test func loopInsidePcallStillTerminates() throws {
        let (_, reason) = try terminated("""
            function process_message()
              while true do pcall(function() while true do end end) end
            end
            """)
        #expect(reason == "process_message() test.lua:2: instruction_limit exceeded")
    }

    @Test func xpcallHandlerThatLoopsIsSkipped() throws {
        let (_, reason) = try terminated("""
            function process_message()
              xpcall(function() while true do end end, function(e) while true do end end)
              return 0
            end
            """)
        #expect(reason == "process_message() test.lua:2: instruction_limit exceeded")
    }

    @Test func coroutinesShareOneBudget() throws {
        // Each coroutine alone stays under the limit; together they do not.
        let (_, reason) = try terminated("""
            function process_message()
              for i = 1, 1000 do
                local co = coroutine.create(function() for j = 1, 100000 do end end)
                coroutine.resume(co)
              end
              return 0
            end
            """)
        #expect(reason?.hasSuffix("instruction_limit exceeded") == true)
        #expect(reason?.hasPrefix("process_message() test.lua:3") == true)
    }

    // The default limit defers the count (clp_limits.c): short calls run without the
    // hook, one call in 64 is counted whole, and a call that runs long is counted from
    // the processor-time tick that finds it on. These pin each part of that.

    @Test func deferredCountLeavesShortCallsUncountedButSamplesOneIn64() throws {
        // A tick may land in a call and count it too, so "most" rather than "63".
        let h = try ScriptHarness("function process_message() local x = 0 for i = 1, 5000 do x = x + i end return 0 end")
        var counted = 0
        for _ in 0..<64 {
            #expect(h.process() == .ok(status: 0, message: nil))
            if h.sandbox.usage.instructionsLast > 0 { counted += 1 }
        }
        #expect(counted >= 1 && counted < 32)
        #expect(h.sandbox.usage.instructionsPeak > 0)
    }

    @Test func aLimitUnderTheDeferralThresholdCountsEveryCall() throws {
        let h = try ScriptHarness("function process_message() local x = 0 for i = 1, 5000 do x = x + i end return 0 end",
                                  limits: SandboxLimits(instructions: 999_999))
        #expect(h.process() == .ok(status: 0, message: nil))
        #expect(h.sandbox.usage.instructionsLast > 0)
    }

    @Test func aLongUncountedCallIsStoppedOnceTheTickSeesIt() throws {
        // The first call is not a sampled one: only the tick can start its count.
        let h = try ScriptHarness("function process_message() for i = 1, 1e12 do end return 0 end")
        #expect(terminationReason(h.process()) == "process_message() test.lua:1: instruction_limit exceeded")
    }

    @Test func anUnlimitedLoopStillMeetsItsDeadline() throws {
        // instruction_limit 0 defers the hook too: the tick sets it, and it checks the clock.
        let (_, reason) = try terminated("function process_message() while true do end end",
                                         limits: SandboxLimits(instructions: 0, maxProcessDuration: 0.05))
        #expect(reason == "process_message() test.lua:1: max_process_duration exceeded")
    }

    @Test(arguments: [
        "co = co or coroutine.create(function() while true do end end) if first then first = false return 0 end coroutine.resume(co)",
        "f = f or coroutine.wrap(function() while true do end end) if first then first = false return 0 end pcall(f)",
    ])
    func aCoroutineMadeInAnUncountedCallIsCounted(_ body: String) throws {
        // Made while the main thread ran without the hook, run in a later call.
        let h = try ScriptHarness("first = true function process_message()\n\(body)\nreturn 0 end")
        #expect(h.process() == .ok(status: 0, message: nil))
        #expect(terminationReason(h.process()) == "process_message() test.lua:2: instruction_limit exceeded")
    }

    @Test func gcMetamethodsAreRefused() throws {
        let (_, reason) = try terminated("""
            function process_message()
              setmetatable({}, {__gc = function() while true do end end})
              return 0
            end
            """)
        #expect(reason == "process_message() test.lua:2: setmetatable() __gc metamethods are not allowed in the sandbox")
    }

    @Test(arguments: [
        "local s = string.rep('x', 100 * 1024 * 1024)",
        "local t = {} for i = 1, 1e7 do t[i] = i end",
        "local ok = pcall(string.rep, 'x', 100 * 1024 * 1024)",
        "local parts = {} for i = 1, 100 do parts[i] = string.rep('y', 100000) end local s = table.concat(parts)",
        "pcall(coroutine.wrap(function() local t = {} for i = 1, 1e7 do t[i] = i end end))",
        "local co = coroutine.create(function() return string.rep('z', 1e8) end) coroutine.resume(co)",
    ])
    func memoryBombs(_ bomb: String) throws {
        let (h, reason) = try terminated("function process_message() \(bomb) return 0 end",
                                         limits: SandboxLimits(instructions: 100_000_000))
        #expect(reason == "process_message() memory_limit exceeded")
        #expect(h.sandbox.usage.memoryPeak <= SandboxLimits.defaultMemory)
    }

    @Test func memoryLimitIsSettable() throws {
        let (_, reason) = try terminated("local keep = {} function process_message() keep[#keep + 1] = string.rep('a', 1000) return 0 end",
                                         limits: SandboxLimits(memory: 200_000))
        #expect(reason == nil)
        let h = try ScriptHarness("local keep = {} function process_message() keep[#keep + 1] = string.rep('a', 1000) return 0 end",
                                  limits: SandboxLimits(memory: 200_000))
        var last: ProcessResult = .ok(status: 0, message: nil)
        for _ in 0..<1000 {
            last = h.process()
            if terminationReason(last) != nil { break }
        }
        #expect(terminationReason(last) == "process_message() memory_limit exceeded")
    }

    @Test func garbageDoesNotTripTheLimit() throws {
        // Lots of short-lived garbage: the allocator's refusal lets Lua collect and retry.
        let h = try ScriptHarness("""
            function process_message()
              for i = 1, 2000 do local s = string.rep('q', 10000) .. i end
              return 0
            end
            """, limits: SandboxLimits(memory: 1_000_000, instructions: 10_000_000))
        #expect(h.process() == .ok(status: 0, message: nil))
    }

    @Test func outputLimitAsPayloadGrows() throws {
        let (h, reason) = try terminated("""
            function process_message()
              for i = 1, 100 do add_to_payload(string.rep('y', 1024)) end
              inject_payload('txt', 'x')
              return 0
            end
            """)
        #expect(reason == "process_message() test.lua:2: output_limit exceeded")
        #expect(h.injected.isEmpty)
    }

    @Test func outputLimitOnInjectedMessage() throws {
        let (_, reason) = try terminated("""
            function process_message()
              inject_message({Payload = string.rep('p', 2000)})
              return 0
            end
            """, limits: SandboxLimits(output: 1000))
        #expect(reason == "process_message() test.lua:2: output_limit exceeded")
    }

    @Test func pathologicalPatternIsCaughtWhenTheCallReturns() throws {
        // Stuck inside C (string.find): no hook runs, the wall clock decides afterwards.
        let (_, reason) = try terminated("""
            function process_message()
              string.find(string.rep('a', 20000), '^.-.-b')
              return 0
            end
            """, limits: SandboxLimits(maxProcessDuration: 0.01))
        #expect(reason == "process_message() max_process_duration exceeded")
    }

    @Test func errorObjectWithLoopingTostringDoesNotHangTheHost() throws {
        let (_, reason) = try terminated("""
            function process_message()
              error(setmetatable({}, {__tostring = function() while true do end end}))
            end
            """)
        #expect(reason == "process_message() error object is a table value")
    }

    @Test func nothingRunsAfterTermination() throws {
        let h = try ScriptHarness("""
            function process_message()
              inject_payload('txt', 'n', 'x')
              while true do end
            end
            """)
        #expect(terminationReason(h.process()) == "process_message() test.lua:3: instruction_limit exceeded")
        #expect(terminationReason(h.process()) == "process_message() test.lua:3: instruction_limit exceeded")
        #expect(throws: SandboxError.self) { try h.sandbox.timerEvent(ns: 0, shutdown: true) }
        #expect(h.injected.count == 1)
        #expect(h.sandbox.isTerminated)
    }

    @Test func otherSandboxesKeepRunning() throws {
        let bad = try ScriptHarness("function process_message() while true do end end")
        let good = try ScriptHarness("n = 0 function process_message() n = n + 1 inject_payload('txt', 'n', n) return 0 end")
        #expect(terminationReason(bad.process()) != nil)
        for _ in 0..<3 { #expect(good.process() == .ok(status: 0, message: nil)) }
        #expect(good.injected.count == 3)
    }

    @Test func limitsHoldAtLoadTime() throws {
        #expect(throws: SandboxError.self) { try ScriptHarness("while true do end function process_message() return 0 end") }
        do {
            _ = try ScriptHarness("local s = string.rep('x', 1e9) function process_message() return 0 end")
            Issue.record("expected a load failure")
        } catch let e as SandboxError {
            #expect(e.kind == .load)
            #expect(e.message == "memory_limit exceeded")
        }
    }
}

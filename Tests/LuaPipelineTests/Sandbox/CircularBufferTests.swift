import Foundation
import Testing
@testable import LuaPipeline

/// The native circular_buffer module: Heka's API, its cbuf text, and preservation.
@Suite struct CircularBufferTests {
    /// Runs `body` inside process_message (asserts raise, so a failure terminates) and
    /// returns the payloads it injected.
    private func run(_ setup: String, _ body: String) throws -> [String] {
        let h = try ScriptHarness("""
            require "circular_buffer"
            \(setup)
            function process_message()
            \(body)
              return 0
            end
            """)
        let r = h.process()
        #expect(terminationReason(r) == nil, "\(r)")
        return payloads(h)
    }

    /// The Payloads of what the script injected (a filter's inject_payload is a message).
    private func payloads(_ h: ScriptHarness) -> [String] {
        h.injected.compactMap {
            switch $0 {
            case .payload(_, _, let b): String(decoding: b, as: UTF8.self)
            case .message(let v): v.decoded().payload ?? ""
            }
        }
    }

    @Test func addSetGetAndTheWindowMovingOn() throws {
        let out = try run("""
            cb = circular_buffer.new(3, 2, 60)
            local A = cb:set_header(1, "HTTP 200")
            local B = cb:set_header(2, "Latency", "ms", "max")
            """, """
              assert(cb:current_time() == 120e9, "starts covering 0..120 s")
              assert(A == 1 and B == 2)
              assert(cb:add(0, A, 1) == 1)
              assert(cb:add(30e9, A, 2) == 3, "same row")
              assert(cb:get(0, A) == 3)
              assert(cb:set(60e9, B, 5) == 5)
              assert(cb:set(60e9, B, 3) == 5, "max keeps the larger")
              assert(cb:get(200e9, A) == nil, "get never advances")
              assert(cb:add(-1e12, A, 1) == nil, "before the window")
              local v, n = cb:compute("sum", A)
              assert(v == 3 and n == 1)
              assert(cb:add(180e9, A, 4) == 4, "advances one row")
              assert(cb:current_time() == 180e9)
              assert(cb:get(0, A) == nil, "row 0 left the window")
              local r = cb:get_range(A)
              assert(#r == 3 and r[1] ~= r[1] and r[2] ~= r[2] and r[3] == 4)
              local name, unit, agg = cb:get_header(B)
              assert(name == "Latency" and unit == "ms" and agg == "max")
              local rows, cols, spr = cb:get_configuration()
              assert(rows == 3 and cols == 2 and spr == 60)
              inject_payload("cbuf", "test", cb)
            """)
        #expect(out == ["""
            {"time":60,"rows":3,"columns":2,"seconds_per_row":60,"column_info":[{"name":"HTTP_200","unit":"count","aggregation":"sum"},{"name":"Latency","unit":"ms","aggregation":"max"}]}
            nan\t5
            nan\tnan
            4\tnan

            """])
    }

    @Test func timeFarAheadClearsEveryRow() throws {
        let out = try run("cb = circular_buffer.new(2, 1, 1)", """
              cb:add(0, 1, 7)
              cb:add(1e9, 1, 8)
              assert(cb:add(1000e9, 1, 1) == 1)
              assert(cb:get(999e9, 1) ~= cb:get(999e9, 1), "the row before is NaN")
              inject_payload("cbuf", "t", cb)
            """)
        #expect(out == ["{\"time\":999,\"rows\":2,\"columns\":1,\"seconds_per_row\":1,\"column_info\":[{\"name\":\"Column_1\",\"unit\":\"count\",\"aggregation\":\"sum\"}]}\nnan\n1\n"])
    }

    @Test func computeSkipsNaNRows() throws {
        _ = try run("cb = circular_buffer.new(10, 1, 1)", """
              local values = {2, 4, 4, 4, 5, 5, 7, 9}
              for i, v in ipairs(values) do cb:set((i - 1) * 1e9, 1, v) end
              -- rows 8 and 9 (times 8 s, 9 s) stay NaN: current time is 9 s from the start
              local function near(a, b) return math.abs(a - b) < 1e-12 end
              local s, n = cb:compute("sum", 1); assert(s == 40 and n == 8)
              assert(cb:compute("avg", 1) == 5)
              assert(near(cb:compute("variance", 1), 4))
              assert(near(cb:compute("sd", 1), 2))
              assert(cb:compute("min", 1) == 2 and cb:compute("max", 1) == 9)
              local a, m = cb:compute("avg", 1, 6e9, 7e9); assert(a == 8 and m == 2)
              local none, zero = cb:compute("avg", 1, 8e9, 9e9); assert(none ~= none and zero == 0)
              assert(cb:compute("sum", 1, 8e9, 9e9) == 0)
              assert(cb:compute("sum", 1, 0, 100e9) == nil, "outside the buffer")
              assert(not pcall(cb.compute, cb, "median", 1), "unknown function")
              assert(not pcall(cb.add, cb, 0, 2, 1), "column out of range")
            """)
    }

    @Test func deltasOnlyTheRowsChangedSinceTheLastOutput() throws {
        let out = try run("cb = circular_buffer.new(3, 2, 1, true)", """
              cb:add(0, 1, 1)
              cb:add(0, 1, 2)
              cb:add(1e9, 2, 5)
              cb:format("cbufd")
              inject_payload("cbufd", "d", cb)
              inject_payload("cbufd", "d", cb)   -- nothing changed since: an empty payload is not injected
              cb:add(2e9, 1, 1)
              assert(cb:get_delta() ~= "")
              assert(cb:get_delta() == "")
              cb:format("cbuf")
              inject_payload("cbuf", "full", cb)
            """)
        let header = "{\"time\":0,\"rows\":3,\"columns\":2,\"seconds_per_row\":1,\"column_info\":[{\"name\":\"Column_1\",\"unit\":\"count\",\"aggregation\":\"sum\"},{\"name\":\"Column_2\",\"unit\":\"count\",\"aggregation\":\"sum\"}]}\n"
        #expect(out == [header + "0\t3\tnan\n1\tnan\t5\n", header + "3\tnan\nnan\t5\n1\tnan\n"])
    }

    @Test func annotationsAppearInTheHeaderUntilTheirRowLeaves() throws {
        let out = try run("cb = circular_buffer.new(2, 1, 60)", """
              cb:add(60e9, 1, 1)
              cb:annotate(60e9, 1, "alert", "spike \\"here\\"")
              inject_payload("cbuf", "a", cb)
              cb:add(240e9, 1, 1)
              inject_payload("cbuf", "b", cb)
            """)
        try #require(out.count == 2)
        #expect(out[0].hasPrefix("{\"time\":0,"))
        #expect(out[0].contains(",\"annotations\":[{\"x\":60000,\"col\":1,\"shortText\":\"A\",\"text\":\"spike \\\"here\\\"\"}]}\n"))
        #expect(!out[1].contains("annotations"))
    }

    @Test func badTimesHeadersAndMetatablesAreRefused() throws {
        _ = try run("cb = circular_buffer.new(3, 1, 1, true)", """
              assert(cb:add(math.huge, 1, 1) == nil and cb:add(-math.huge, 1, 1) == nil and cb:add(0/0, 1, 1) == nil)
              assert(cb:set(1e30, 1, 1) == nil and cb:get(1e30, 1) == nil)
              assert(cb:current_time() == 2e9, "the window did not move")
              assert(cb:compute("sum", 1, 0/0, 1e9) == nil)
              assert(not pcall(cb.set_header, cb, 1, ""), "empty name")
              assert(not pcall(cb.set_header, cb, 1, "a", ""), "empty unit")
              assert(getmetatable(cb) == false, "the metatable is not the script's")
              -- a row reused by the moving window starts without the changes of its former time
              cb:add(0, 1, 5)
              cb:add(5e9, 1, 1)
              local d = cb:get_delta()
              assert(d:match("\\n5\\t1\\n$") and not d:find("\\n0\\t"), d)
            """)
    }

    @Test func mannWhitneyU() throws {
        _ = try run("cb = circular_buffer.new(100, 1, 1)", """
              for i = 0, 24 do cb:set(i * 1e9, 1, i) end
              for i = 25, 49 do cb:set(i * 1e9, 1, i + 100) end
              for i = 50, 99 do cb:set(i * 1e9, 1, i % 2) end
              local u, p = cb:mannwhitneyu(1, 0, 24e9, 25e9, 49e9)
              assert(u == 0 and p < 1e-8, "separated samples: " .. u .. " " .. p)
              local u2, p2 = cb:mannwhitneyu(1, 50e9, 74e9, 75e9, 99e9)
              assert(p2 > 0.3, "same distribution: " .. p2)
              assert(cb:mannwhitneyu(1, 0, 24e9, 200e9, 300e9) == nil)
            """)
    }

    @Test func preservedWithItsValuesHeadersAndAnnotations() throws {
        let script = """
            require "circular_buffer"
            cb = circular_buffer.new(4, 2, 10)
            cb:set_header(1, "requests", "count")
            cb:set_header(2, "worst", "ms", "max")
            function process_message()
              cb:add(read_message("Timestamp"), 1, 1)
              cb:set(read_message("Timestamp"), 2, 0.25)
              cb:annotate(read_message("Timestamp"), 1, "info", "restart")
              return 0
            end
            function timer_event() inject_payload("cbuf", "s", cb) end
            """
        let a = try ScriptHarness(script)
        for ts in [0, 10, 10, 25] { a.process(Message(timestamp: Int64(ts) * 1_000_000_000, type: "t")) }
        try a.sandbox.timerEvent(ns: 0, shutdown: false)
        let data = try a.sandbox.preserve()
        #expect(String(decoding: data, as: UTF8.self).contains("__clp_userdata(\"circular_buffer\""))
        let b = try ScriptHarness(script)
        #expect(try b.sandbox.restore(data))
        try b.sandbox.timerEvent(ns: 0, shutdown: false)
        func payload(_ h: ScriptHarness) -> String? { payloads(h).last }
        #expect(payload(a) != nil && payload(a) == payload(b))
        #expect(payload(b)?.contains("\n1\t0.25\n2\t0.25\n1\t0.25\nnan\tnan\n") == true)
    }
}

import Foundation
import Testing
@testable import LuaPipeline

/// The circular_buffer module as Heka 0.10 shipped it (lua_circular_buffer, built by
/// lua_sandbox 0.10): row selection from float nanosecond times, window edges, compute,
/// mannwhitneyu, restore, cbuf text and the exact argument errors. Expectations are Heka's;
/// CircularBufferTests holds luapiped's own contract and extensions.
@Suite struct HekaCircularBufferConformanceTests {
    /// Runs `body` (one line) inside process_message and returns the termination reason, if any.
    private func failure(_ body: String) throws -> String? {
        let h = try ScriptHarness("require 'circular_buffer' function process_message() \(body) return 0 end")
        return terminationReason(h.process())
    }

    /// Runs `body` (its asserts raise, so a failed one terminates with its message) and
    /// returns the payloads it injected.
    private func run(_ body: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String] {
        let h = try ScriptHarness("require 'circular_buffer'\nfunction process_message()\n\(body)\nreturn 0\nend")
        let r = h.process()
        #expect(terminationReason(r) == nil, "\(r)", sourceLocation: sourceLocation)
        return h.messages.compactMap(\.payload)
    }

    /// Checks that each one-line body terminates with `process_message() test.lua:1: <reason>`.
    private func expectFailures(_ cases: [(body: String, reason: String)], sourceLocation: SourceLocation = #_sourceLocation) throws {
        for (body, reason) in cases {
            #expect(try failure(body) == "process_message() test.lua:1: " + reason, "\(body)", sourceLocation: sourceLocation)
        }
    }

    private static let samples = "{15309,14092,13661,13412,14205,15042,14142,13820,14917,13953,14320,14472,15133,13790,14539,14129,14363,14202,13841,13610,13759,14428,14851,13838,13819,14468,14989,15557,14380,13500,14818,14632,13631,14663,14532,14188,14537,14109,13925,15022}"

    @Test func newArgumentErrors() throws {
        try expectFailures([
            // Heka 0.10: "bad argument #0 to 'new' (incorrect number of arguments)"; luapiped: Lua's standard argument text
            ("circular_buffer.new(2)", "bad argument #2 to 'new' (number expected, got no value)"),
            ("circular_buffer.new(nil, 1, 1)", "bad argument #1 to 'new' (number expected, got nil)"),
            ("circular_buffer.new(1, 1, 1)", "bad argument #1 to 'new' (rows must be > 1)"),
            ("circular_buffer.new(2, nil, 1)", "bad argument #2 to 'new' (number expected, got nil)"),
            // Heka 0.10: "bad argument #2 to 'new' (columns must be > 0)"; luapiped: at most 256 columns, and the text says so
            ("circular_buffer.new(2, 0, 1)", "bad argument #2 to 'new' (columns must be > 0 and <= 256)"),
            ("circular_buffer.new(2, 1, nil)", "bad argument #3 to 'new' (number expected, got nil)"),
            // Heka 0.10: "bad argument #3 to 'new' (seconds_per_row is out of range)"; luapiped: its own wording, stating the range
            ("circular_buffer.new(2, 1, 0)", "bad argument #3 to 'new' (seconds_per_row must be > 0 and <= 86400)"),
            // Heka 0.10: "bad argument #3 to 'new' (seconds_per_row is out of range)"; luapiped: its own wording, stating the range
            ("circular_buffer.new(2, 1, 86401)", "bad argument #3 to 'new' (seconds_per_row must be > 0 and <= 86400)"),
        ])
    }

    /// Heka bounded columns by memory only, and took any header name (even empty).
    @Test func argumentsHekaAccepted() throws {
        #expect(try failure("circular_buffer.new(2, 1, 86400)") == nil)
        // Heka 0.10: accepted (bounded by memory only); luapiped: at most 256 columns
        #expect(try failure("circular_buffer.new(2, 300, 1)") == "process_message() test.lua:1: bad argument #2 to 'new' (columns must be > 0 and <= 256)")
        // Heka 0.10: accepted; luapiped: no empty header names
        #expect(try failure("circular_buffer.new(2, 1, 1):set_header(1, '')") == "process_message() test.lua:1: bad argument #2 to 'set_header' (the name must not be empty)")
    }

    @Test func methodArgumentErrors() throws {
        let cb = "local cb = circular_buffer.new(2, 1, 1) "
        try expectFailures([
            (cb + "cb:set(0, 2, 1.0)", "bad argument #2 to 'set' (column out of range)"),
            (cb + "cb:set(0, 0, 1.0)", "bad argument #2 to 'set' (column out of range)"),
            (cb + "cb:set(0, nil, 1.0)", "bad argument #2 to 'set' (number expected, got nil)"),
            (cb + "cb:set(nil, 1, 1.0)", "bad argument #1 to 'set' (number expected, got nil)"),
            // Heka 0.10: "... (lsb.circular_buffer expected, got number)"; luapiped: its type is named clp.circular_buffer
            (cb + "cb.get(1, 1, 1)", "bad argument #1 to 'get' (clp.circular_buffer expected, got number)"),
            (cb + "cb:set(0, 1, nil)", "bad argument #3 to 'set' (number expected, got nil)"),
            // Heka 0.10: "bad argument #-1 to 'set' (incorrect number of arguments)"; luapiped: Lua's standard argument text
            (cb + "cb:set(0)", "bad argument #2 to 'set' (number expected, got no value)"),
            // Heka 0.10: "bad argument #-1 to 'add' (incorrect number of arguments)"; luapiped: Lua's standard argument text
            (cb + "cb:add(0)", "bad argument #2 to 'add' (number expected, got no value)"),
            // Heka 0.10: "bad argument #-1 to 'get' (incorrect number of arguments)"; luapiped: Lua's standard argument text
            (cb + "cb:get(0)", "bad argument #2 to 'get' (number expected, got no value)"),
            // Heka 0.10: "bad argument #-1 to 'compute' (incorrect number of arguments)"; luapiped: Lua's standard argument text
            (cb + "cb:compute(0)", "bad argument #1 to 'compute' (invalid option '0')"),
            (cb + "cb:compute('func', 1)", "bad argument #1 to 'compute' (invalid option 'func')"),
            (cb + "cb:compute('sum', 0)", "bad argument #2 to 'compute' (column out of range)"),
            (cb + "cb:compute('sum', 1, 2e9, 1e9)", "bad argument #4 to 'compute' (end must be >= start)"),
            (cb + "cb:format('invalid')", "bad argument #1 to 'format' (invalid option 'invalid')"),
            // Heka 0.10: "bad argument #-1 to 'format' (incorrect number of arguments)"; luapiped: Lua's standard argument text
            (cb + "cb:format()", "bad argument #1 to 'format' (string expected, got no value)"),
            // Heka 0.10: "fromstring() too few values: 0, expected 2"; luapiped: fromstring's own wording
            (cb + "cb:fromstring('')", "fromstring() invalid time"),
            // Heka 0.10: "fromstring() too few values: 0, expected 2"; luapiped: fromstring's own wording
            (cb + "cb:fromstring('0 0 na 1')", "fromstring() too few values"),
            (cb + "cb:fromstring('0 0 1 2 3')", "fromstring() too many values, more than: 2"),
            // Heka 0.10: "bad argument #-1 to 'get_header' (incorrect number of arguments)"; luapiped: Lua's standard argument text
            (cb + "cb:get_header()", "bad argument #1 to 'get_header' (number expected, got no value)"),
            (cb + "cb:get_header(99)", "bad argument #1 to 'get_header' (column out of range)"),
        ])
        // Heka 0.10: "bad argument #-1 to 'format' (incorrect number of arguments)"; luapiped: an extra argument is ignored, as by Lua's standard functions
        #expect(try failure(cb + "assert(cb:format('cbuf', true) == cb)") == nil)
        // Heka 0.10: "bad argument #4 to 'set_header' (invalid option 'avg')"; luapiped: 'avg' is one of its aggregations (docs/metrics.md)
        #expect(try failure(cb + "assert(cb:set_header(1, 'x', 'u', 'avg') == 1 and select(3, cb:get_header(1)) == 'avg')") == nil)
    }

    @Test func mannWhitneyUArgumentErrors() throws {
        let cb = "local cb = circular_buffer.new(2, 1, 1) "
        try expectFailures([
            (cb + "cb:mannwhitneyu()", "bad argument #-1 to 'mannwhitneyu' (incorrect number of arguments)"),
            (cb + "cb:mannwhitneyu(nil, 0, 0, 0, 0)", "bad argument #1 to 'mannwhitneyu' (number expected, got nil)"),
            (cb + "cb:mannwhitneyu(0, 0, 0, 0, 0)", "bad argument #1 to 'mannwhitneyu' (column out of range)"),
            (cb + "cb:mannwhitneyu(1, 0, 5, 2, 7)", "bad argument #3 to 'mannwhitneyu' (ranges must not overlap)"),
            (cb + "cb:mannwhitneyu(1, 5, 0, 2, 7)", "bad argument #3 to 'mannwhitneyu' (end_1 must be >= start_1)"),
            (cb + "cb:mannwhitneyu(1, 0, 5, 10, 6)", "bad argument #5 to 'mannwhitneyu' (end_2 must be >= start_2)"),
            (cb + "cb:mannwhitneyu(1, 0, 1, 2, 3, true, 5)", "bad argument #-1 to 'mannwhitneyu' (too many arguments)"),
            (cb + "cb:mannwhitneyu(1, 0, 5, 6, 10, 'a')", "bad argument #6 to 'mannwhitneyu' (use_continuity must be a boolean)"),
        ])
    }

    /// A time selects the row `t - t % seconds_per_row` with `t = trunc(ns / 1e9)`; reads
    /// (get, compute, mannwhitneyu) never move the window, add and set move it forward.
    @Test func rowsFromFloatTimesAndTheWindowEdges() throws {
        _ = try run("""
            local cb = circular_buffer.new(4, 1, 10)
            assert(cb:current_time() == 30e9, 'rows 0, 10, 20 and 30 s')
            assert(cb:set(19.9e9, 1, 5) == 5, 'fractional seconds fall in the row of 10 s')
            assert(cb:get(10e9, 1) == 5 and cb:get(19999999999.7, 1) == 5, 'any time inside the row reads it')
            assert(cb:current_time() == 30e9, 'a time inside the window does not move it')
            local nan = cb:get(30e9, 1) assert(nan ~= nan, 'newest row, NaN until set')
            nan = cb:get(0, 1) assert(nan ~= nan, 'oldest row')
            assert(cb:get(40e9, 1) == nil, 'get never advances: a future row is nil')
            assert(cb:get(-10e9, 1) == nil, 'before the window')
            assert(cb:add(60e9, 1, 1) == 1 and cb:current_time() == 60e9, 'add advances the window')
            nan = cb:get(30e9, 1) assert(nan ~= nan, 'row 30 s is now the oldest')
            assert(cb:get(20e9, 1) == nil, 'row 20 s left the window')
            assert(cb:set(29.9e9, 1, 1) == nil and cb:add(29.9e9, 1, 1) == nil, 'set and add before the window')
            assert(cb:set(95e9, 1, 2) == 2 and cb:current_time() == 90e9, 'set advances too')
            assert(cb:get(60e9, 1) == 1 and cb:get(50e9, 1) == nil)
            local g = circular_buffer.new(10, 1, 1)
            assert(not g:get(10e9, 1), 'beyond the end')
            g:set(20e9, 1, 1)
            assert(not g:get(10e9, 1), 'beyond the start once moved')
            """)
    }

    /// The C cast truncates toward zero, so a time in (-seconds_per_row, 0) is row 0.
    @Test func negativeFractionalTimesTruncateTowardZero() throws {
        _ = try run("""
            local cb = circular_buffer.new(4, 1, 10)
            assert(cb:add(-0.5e9, 1, 2) == 2, '-0.5 s is row 0')
            assert(cb:get(-9.9e9, 1) == 2, '-9.9 s is row 0')
            """)
    }

    @Test func computeFunctionsAndRanges() throws {
        _ = try run("""
            local stats = circular_buffer.new(5, 1, 1)
            for i = 1, 4 do stats:set(i * 1e9, 1, i) end
            local t, c = stats:compute('sum', 1) assert(t == 10 and c == 4, 'sum')
            t, c = stats:compute('avg', 1) assert(t == 2.5 and c == 4, 'avg')
            t, c = stats:compute('variance', 1) assert(t == 1.25 and c == 4, 'variance')
            t, c = stats:compute('sd', 1) assert(t == math.sqrt(1.25) and c == 4, 'sd')
            t, c = stats:compute('min', 1) assert(t == 1 and c == 4, 'min')
            t, c = stats:compute('max', 1) assert(t == 4 and c == 4, 'max')
            assert(stats:compute('sum', 1, 3e9, 4e9) == 7 and stats:compute('avg', 1, 3e9, 4e9) == 3.5)
            assert(stats:compute('sd', 1, 3e9, 4e9) == math.sqrt(0.25))
            assert(stats:compute('sum', 1, 3e9) == 7 and stats:compute('sum', 1, 3e9, nil) == 7, 'end defaults to the newest row')
            assert(stats:compute('sum', 1, nil, 2e9) == 3, 'start defaults to the oldest row')
            assert(stats:compute('sum', 1, 2.5e9, 3.9e9) == 5, 'times inside a row select the whole row')
            assert(stats:compute('sum', 1, 11e9, 14e9) == nil, 'after the window')
            assert(stats:compute('sum', 1, -1e9, 2e9) == nil, 'start before the window')
            assert(stats:compute('sum', 1, 3e9, 5e9) == nil, 'end past the newest row')
            local gaps = circular_buffer.new(4, 1, 1)
            gaps:set(1e9, 1, 0/0) gaps:set(2e9, 1, 8) gaps:set(3e9, 1, 8)
            t, c = gaps:compute('avg', 1) assert(t == 8 and c == 2, 'NaN rows are skipped')
            local empty = circular_buffer.new(4, 1, 1)
            for _, f in ipairs({'avg', 'sd', 'variance', 'min', 'max'}) do
              local v, n = empty:compute(f, 1) assert(v ~= v and n == 0, f .. ' of no values is NaN')
            end
            t, c = empty:compute('sum', 1) assert(t == 0 and c == 0, 'sum of no values')
            """)
    }

    /// Out of range, compute returns nil and the row count 0 (two values).
    @Test func computeOutOfRangeStillCountsRows() throws {
        _ = try run("""
            local v, n = circular_buffer.new(5, 1, 1):compute('sum', 1, 11e9, 14e9)
            assert(v == nil and n == 0, 'nil and 0, got ' .. tostring(n))
            """)
    }

    @Test func mannWhitneyUValues() throws {
        _ = try run("""
            local cb = circular_buffer.new(40, 1, 1)
            for i, v in ipairs(\(Self.samples)) do cb:set(i * 1e9, 1, v) end
            local u, p = cb:mannwhitneyu(1, 1e9, 20e9, 21e9, 40e9)
            assert(u == 171 and math.floor(p * 100000) == 22037, 'continuity: ' .. u .. ' ' .. p)
            u, p = cb:mannwhitneyu(1, 1e9, 20e9, 21e9, 40e9, false)
            assert(u == 171 and math.floor(p * 100000) == 21638, 'no continuity: ' .. u .. ' ' .. p)
            u, p = cb:mannwhitneyu(1, 41e9, 60e9, 61e9, 80e9)
            assert(u == nil and p == nil, 'outside the buffer')
            cb:set(40e9, 1, 15309)
            u, p = cb:mannwhitneyu(1, 1e9, 20e9, 21e9, 40e9)
            assert(u == 168.5 and math.floor(p * 100000) == 20084, 'ties: ' .. u .. ' ' .. p)
            u, p = circular_buffer.new(20, 1, 1):mannwhitneyu(1, 0, 9e9, 10e9, 19e9)
            assert(u == nil and p == nil, 'only NaN rows')
            """)
    }

    /// Heka returned U1, the statistic of the first range (so swapping the ranges gives
    /// n1 * n2 - U1), counted NaN rows as samples tied at the lowest rank, and returned
    /// nothing when every value is the same.
    @Test func mannWhitneyUIsTheFirstRangesStatistic() throws {
        _ = try run("""
            local cb = circular_buffer.new(40, 1, 1)
            for i, v in ipairs(\(Self.samples)) do cb:set(i * 1e9, 1, v) end
            local u1 = cb:mannwhitneyu(1, 1e9, 20e9, 21e9, 40e9)
            local u2 = cb:mannwhitneyu(1, 21e9, 40e9, 1e9, 20e9)
            assert(u1 == 171 and u2 == 229, 'U1 of each order: ' .. u1 .. ' ' .. u2)
            local n = circular_buffer.new(6, 1, 1)
            for i, v in ipairs({5, 6, 1, 2, 3}) do n:set(i * 1e9, 1, v) end
            local a, p = n:mannwhitneyu(1, 0, 2e9, 3e9, 5e9)
            local b = n:mannwhitneyu(1, 3e9, 5e9, 0, 2e9)
            assert(a == 6 and b == 3 and math.floor(p * 100000) == 33126, 'NaN row 0 is a sample: ' .. a .. ' ' .. b .. ' ' .. p)
            local same = circular_buffer.new(10, 1, 1)
            for i = 1, 10 do same:set(i * 1e9, 1, 1) end
            local su, sp = same:mannwhitneyu(1, 1e9, 5e9, 6e9, 10e9)
            assert(su == nil and sp == nil, 'identical values: ' .. tostring(su))
            """)
    }

    @Test func valuesHeadersConfigurationAndRestore() throws {
        _ = try run("""
            local cb = circular_buffer.new(2, 1, 1)
            assert(cb:current_time() == 1e9, 'a new buffer ends at (rows - 1) * seconds_per_row')
            local nan = cb:get(0, 1) assert(nan ~= nan, 'rows start as NaN')
            assert(cb:set(0, 1, 1) == 1 and cb:get(0, 1) == 1)
            local v = cb:add(0, 1, 0/0) assert(v ~= v, 'adding NaN gives NaN')
            cb:fromstring('1 1 nan 99')
            nan = cb:get(0, 1) assert(nan ~= nan, 'restored NaN')
            assert(cb:get(1e9, 1) == 99 and cb:current_time() == 1e9)
            local rows, cols, spr = circular_buffer.new(10, 3, 60):get_configuration()
            assert(rows == 10 and cols == 3 and spr == 60)
            local h = circular_buffer.new(10, 2, 1)
            assert(h:set_header(1, 'widget', 'count', 'max') == 1)
            local n, u, a = h:get_header(1) assert(n == 'widget' and u == 'count' and a == 'max')
            assert(h:set_header(2, 'A very long column name!', 'm/s*long!', 'none') == 2)
            n, u, a = h:get_header(2) assert(n == 'A_very_long_col' and u == 'm/s*lon' and a == 'none', n .. ' ' .. u .. ' ' .. a)
            assert(h:format('cbuf') == h, 'format returns the buffer')
            local m = circular_buffer.new(2, 1, 1) m:set_header(1, 'low', 'ms', 'min')
            assert(m:set(0, 1, 5) == 5 and m:set(0, 1, 7) == 5 and m:set(0, 1, 3) == 3 and m:set(0, 1, 0/0) == 3, 'min keeps the smallest')
            """)
    }

    /// lua_sandbox's own cbuf test: three columns, a sliding window, NaN rows written "nan".
    @Test func cbufOutputAsTheWindowSlides() throws {
        let out = try run("""
            data = circular_buffer.new(3, 3, 1)
            local ADD = data:set_header(1, 'Add column')
            local SET = data:set_header(2, 'Set column', 'count')
            local GET = data:set_header(3, 'Get column', 'count', 'sum')
            local function record(ts)
              if data:add(ts, ADD, 1) then data:set(ts, GET, data:get(ts, ADD)) end
              data:set(ts, SET, 1)
            end
            inject_payload('cbuf', 'a', data)
            for _, ts in ipairs({0, 1e9, 1e9, 2e9, 2e9, 2e9}) do record(ts) end
            inject_payload('cbuf', 'b', data)
            record(4e9)
            inject_payload('cbuf', 'c', data)
            record(10e9)
            add_to_payload(data)
            inject_payload('cbuf', 'd')
            """)
        let columns = #""columns":3,"seconds_per_row":1,"column_info":[{"name":"Add_column","unit":"count","aggregation":"sum"},{"name":"Set_column","unit":"count","aggregation":"sum"},{"name":"Get_column","unit":"count","aggregation":"sum"}]}"#
        #expect(out == [
            #"{"time":0,"rows":3,"# + columns + "\nnan\tnan\tnan\nnan\tnan\tnan\nnan\tnan\tnan\n",
            #"{"time":0,"rows":3,"# + columns + "\n1\t1\t1\n2\t1\t2\n3\t1\t3\n",
            #"{"time":2,"rows":3,"# + columns + "\n3\t1\t3\nnan\tnan\tnan\n1\t1\t1\n",
            #"{"time":8,"rows":3,"# + columns + "\nnan\tnan\tnan\nnan\tnan\tnan\n1\t1\t1\n",
        ])
    }

    /// Values are written as add_to_payload writes numbers: at most 8 decimals.
    @Test func cbufNumberFormatting() throws {
        let out = try run("""
            local cb = circular_buffer.new(2, 3, 1)
            cb:set(0, 1, 0.1) cb:set(0, 2, 1/3) cb:set(0, 3, 2/3)
            cb:set(1e9, 1, 1e-8) cb:set(1e9, 2, 2.5e-9) cb:set(1e9, 3, 1234567.891)
            inject_payload('cbuf', 'f', cb)
            """)
        #expect(out.first?.hasSuffix("}]}\n0.1\t0.33333333\t0.66666667\n0.00000001\t0\t1234567.891\n") == true, "\(out)")
    }
}

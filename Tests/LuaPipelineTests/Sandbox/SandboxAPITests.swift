import Testing
@testable import LuaPipeline

/// Heka's Lua API as scripts see it.
@Suite struct SandboxAPITests {
    /// Runs `body` as process_message and returns the payload it injects.
    private func payload(_ body: String, kind: PluginKind = .filter, config: [String: ConfigValue] = [:]) throws -> String? {
        let h = try ScriptHarness("function process_message() \(body) return 0 end", kind: kind, config: config)
        let r = h.process()
        if let reason = terminationReason(r) { return "terminated: " + reason }
        return h.messages.last?.payload
    }

    @Test func aTableInjectionsNotedLayoutReadsLikeAScanOfItsBytes() throws {
        // The C encoder notes where it writes each header and field, and the view of an
        // injection uses that instead of scanning: it must read exactly as a scan would,
        // also for fields longer than 127 bytes (moved when their length is written).
        let long = String(repeating: "x", count: 300)
        for kind in [PluginKind.decoder, .filter] {
            let h = try ScriptHarness("""
                function process_message()
                    inject_message({Payload = "p", Fields = {name = "\(long)", n = 1, d = 0.5, b = true}})
                    inject_message({Type = "t", Logger = "l", Severity = "3", Pid = 7, Hostname = "h", EnvVersion = "1",
                                    Uuid = "01234567-89ab-cdef-0123-456789abcdef", Timestamp = 5, Payload = "\(long)"})
                    inject_message({Fields = {{name = "arr", value = {1, 2, 3}, representation = "ms"},
                                              {name = "big", value = {"\(long)", "y"}}, {name = "v", value = 1.5, value_type = 3},
                                              {name = "\(long)", value = false}}})
                    inject_message({Severity = -1, Pid = -2, Timestamp = -3})
                    inject_message({})
                    return 0
                end
                """, kind: kind)
            #expect(terminationReason(h.process()) == nil)
            #expect(h.injected.count == 5)
            for case .message(let noted) in h.injected {
                let scanned = try MessageView(encoded: Array(noted.bytes))
                #expect(noted.decoded() == scanned.decoded())
                for header in Header.allCases { #expect(noted.range(of: header) == scanned.range(of: header), "\(header)") }
                #expect(noted.timestamp == scanned.timestamp)
                #expect(noted.severityValue == scanned.severityValue)
                #expect(noted.pidValue == scanned.pidValue)
                #expect(noted.fieldRanges == scanned.fieldRanges)
                for i in 0..<noted.fieldCount { #expect(noted.nameRange(ofField: i) == scanned.nameRange(ofField: i)) }
            }
        }
    }

    @Test func readMessageHeaders() throws {
        let out = try payload("""
            local u = read_message('Uuid')
            inject_payload('txt', '', u, " ", math.type(read_message('Timestamp')), ' ',
              read_message('Timestamp'), ' ', read_message('Type'), ' ', read_message('Logger'), ' ',
              read_message('Severity'), ' ', read_message('Payload'), ' ', read_message('EnvVersion'), ' ',
              read_message('Pid'), ' ', read_message('Hostname'), ' ', tostring(read_message('Nope')))
            """)
        #expect(out == "00010203-0405-0607-0809-0a0b0c0d0e0f integer 1795514400123456789 nginx.access input 6 GET / 200 0.8 1234 web1 nil")
    }

    @Test func readMessageFields() throws {
        let out = try payload("""
            inject_payload('txt', '', math.type(read_message('Fields[status]')), ' ', read_message('Fields[bytes]'), ' ',
              read_message('Fields[multi]', 0, 2), ' ', read_message('Fields[multi]', 1), ' ',
              tostring(read_message('Fields[multi]', 2)), ' ', read_message('Fields[ratio]'), ' ',
              tostring(read_message('Fields[ok]')), ' ', tostring(read_message('Fields[missing]')), ' ',
              tostring(read_message('Fields[multi]', 0, 3)))
            """)
        #expect(out == "integer 5120 c second nil 0.25 true nil nil")
    }

    @Test func readMessageRawFramedSize() throws {
        let out = try payload("""
            local raw = read_message('raw')
            local framed = read_message('framed')
            inject_payload('txt', '', #raw == read_message('size'), ' ', framed:byte(1), ' ', framed:sub(-#raw) == raw,
              ' ', decode_message(raw).Payload)
            """)
        #expect(out == "true 30 true GET / 200")
    }

    @Test func negativeIndexesKeepHekasWording() throws {
        #expect(try payload("read_message('Fields[x]', -1)") == "terminated: process_message() test.lua:1: bad argument #2 to 'read_message' (field index must be >= 0)")
        #expect(try payload("read_message('Fields[x]', 0, -1)") == "terminated: process_message() test.lua:1: bad argument #3 to 'read_message' (array index must be >= 0)")
    }

    @Test func readNextFieldIterates() throws {
        let out = try payload("""
            local parts = {}
            while true do
              local vt, name, value, rep, count = read_next_field()
              if not vt then break end
              parts[#parts + 1] = string.format('%s:%d:%s:%s:%d', name, vt, tostring(value), rep, count)
            end
            inject_payload('txt', '', table.concat(parts, ' '))
            """)
        #expect(out == "status:2:200::1 bytes:2:5120:B:1 multi:0:a::3 ratio:3:0.25::1 ok:4:true::1 multi:0:second::1")
    }

    @Test func readConfigTypes() throws {
        let out = try payload("""
            inject_payload('txt', '', read_config('s'), ' ', math.type(read_config('i')), ' ', read_config('d'), ' ',
              tostring(read_config('b')), ' ', tostring(read_config('absent')))
            """, config: ["s": .string("hello"), "i": .integer(7), "d": .double(2.5), "b": .bool(false)])
        #expect(out == "hello integer 2.5 false nil")
    }

    @Test func injectMessageHashForm() throws {
        let h = try ScriptHarness("""
            function process_message()
              inject_message({Type = 'counts', Payload = 'p', Severity = 3, Timestamp = 5.9,
                Fields = {i = 1, d = 1.0, s = 'x', b = false, arr = {1, 2, 3}, mixed = {1, 2.5},
                  sized = {value = 5120, representation = 'B'}, raw = {value = '\\0\\1', value_type = 1},
                  forced = {value = 3, value_type = 3}, strs = {'a', 'b'}}})
              return 0
            end
            """)
        #expect(h.process() == .ok(status: 0, message: nil))
        let m = try #require(h.messages.first)
        #expect(m.type == "heka.sandbox.counts")
        #expect(m.logger == "test")
        #expect(m.hostname == "testhost")
        #expect(m.pid == 42)
        #expect(m.severity == 3)
        #expect(m.timestamp == 5)
        #expect(m.payload == "p")
        #expect(m.fields.map(\.name) == ["arr", "b", "d", "forced", "i", "mixed", "raw", "s", "sized", "strs"])
        #expect(m.field("i")?.value == .integer([1]))
        #expect(m.field("d")?.value == .double([1.0]))
        #expect(m.field("s")?.value == .string(["x"]))
        #expect(m.field("b")?.value == .bool([false]))
        #expect(m.field("arr")?.value == .integer([1, 2, 3]))
        #expect(m.field("mixed")?.value == .double([1, 2.5]))
        #expect(m.field("sized") == Field(name: "sized", value: .integer([5120]), representation: "B"))
        #expect(m.field("raw")?.value == .bytes([[0, 1]]))
        #expect(m.field("forced")?.value == .double([3]))
        #expect(m.field("strs")?.value == .string(["a", "b"]))
    }


    /// Names made afresh for each message (long strings, collected in between) may land
    /// at the addresses of the last message's names, in another order: the last order
    /// must not be taken for theirs.
    @Test func freshNamesAtReusedAddressesAreSortedAgain() throws {
        let h = try ScriptHarness("""
            local n = 0
            function process_message()
              n = n + 1
              collectgarbage("collect")
              local fields = {}
              -- made in the same order each time, sorting the other way every other time
              fields[string.format("%052d", 2 * n + n % 2 * 1000)] = 1
              fields[string.format("%052d", 2 * n + 1 + (n + 1) % 2 * 1000)] = 2
              inject_message({Fields = fields})
              return 0
            end
            """, kind: .decoder)
        for _ in 0..<200 { #expect(h.process() == .ok(status: 0, message: nil)) }
        let unsorted = h.messages.filter { m in m.fields.map(\.name) != m.fields.map(\.name).sorted() }
        #expect(h.messages.count == 200 && unsorted.isEmpty)
    }

    /// The encoder reuses the last name order when a table comes back with the same names
    /// in the same table order; names added, removed or replaced in between must still
    /// come out sorted, with their own values.
    @Test func hashFormFieldsStaySortedAsOneTableChanges() throws {
        let h = try ScriptHarness("""
            local fields = {b = 1, a = 2, c = 3}
            local msg = {Fields = fields}
            local step = 0
            function process_message()
              step = step + 1
              if step == 3 then fields.aa = 4 end
              if step == 4 then fields.b = nil end
              if step == 5 then fields.c = nil; fields.zz = 5 end
              if step == 6 then fields = {}; msg.Fields = fields; for i = 1, 40 do fields["k" .. (41 - i)] = i end end
              inject_message(msg)
              return 0
            end
            """, kind: .decoder)
        for _ in 0..<7 { #expect(h.process() == .ok(status: 0, message: nil)) }
        let names = h.messages.map { $0.fields.map(\.name) }
        let sorted = names.map { $0.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) } }
        #expect(names == sorted)
        #expect(names[0] == ["a", "b", "c"] && names[1] == ["a", "b", "c"])
        #expect(names[2] == ["a", "aa", "b", "c"])
        #expect(names[3] == ["a", "aa", "c"])
        #expect(names[4] == ["a", "aa", "zz"])
        #expect(names[5].count == 40 && names[6].count == 40)
        #expect(h.messages[4].field("zz")?.value == .integer([5]))
        #expect(h.messages[6].field("k1")?.value == .integer([40]))
    }
    @Test func injectMessageArrayFormKeepsOrderAndRepeats() throws {
        let h = try ScriptHarness("""
            function process_message()
              inject_message({Fields = {{name = 'z', value = 1}, {name = 'a', value = {'x', 'y'}, representation = 'r'},
                {name = 'z', value = 2.5}}})
              return 0
            end
            """)
        h.process()
        let m = try #require(h.messages.first)
        #expect(m.fields == [
            Field(name: "z", value: .integer([1])),
            Field(name: "a", value: .string(["x", "y"]), representation: "r"),
            Field(name: "z", value: .double([2.5])),
        ])
        #expect(m.type == "heka.sandbox.")
    }

    @Test func timestampsSurviveTheRoundTrip() throws {
        let h = try ScriptHarness("function process_message() inject_message({Timestamp = read_message('Timestamp')}) return 0 end")
        h.process()
        #expect(h.messages.first?.timestamp == 1_795_514_400_123_456_789)
    }

    @Test func decodersInheritUnsetHeaders() throws {
        let h = try ScriptHarness("""
            function process_message()
              inject_message({Type = 'parsed', Fields = {n = 1}})
              inject_message({Payload = 'second'})
              return 0
            end
            """, kind: .decoder)
        h.process()
        let ms = h.messages
        #expect(ms.count == 2)
        #expect(ms[0].type == "parsed")
        #expect(ms[0].uuid == Array(0..<16))
        #expect(ms[0].timestamp == ScriptHarness.sample.timestamp)
        #expect(ms[0].logger == "input" && ms[0].hostname == "web1" && ms[0].pid == 1234 && ms[0].severity == 6)
        // As Heka: Payload and EnvVersion are not inherited.
        #expect(ms[0].payload == nil && ms[0].envVersion == nil)
        #expect(ms[1].uuid != ms[0].uuid)  // a second message from one input needs its own Uuid
        #expect(ms[1].type == "nginx.access" && ms[1].payload == "second")
    }

    @Test func injectProtobufStringPassesThrough() throws {
        let h = try ScriptHarness("function process_message() inject_message(read_message('raw')) return 0 end")
        h.process()
        #expect(h.messages.first == ScriptHarness.sample)
        let bad = try ScriptHarness("function process_message() local ok, e = pcall(inject_message, 'junk') inject_payload('txt', '', e) return 0 end")
        bad.process()
        #expect(bad.messages.first?.payload?.hasPrefix("inject_message() protobuf unmarshal failed (") == true)
    }

    @Test func injectPayloadMakesSandboxOutput() throws {
        let h = try ScriptHarness("function process_message() add_to_payload('a', 1, ' ', 2.5, ' ', true, ' ', nil, false) inject_payload('json', 'stats', '!') return 0 end")
        h.process()
        let m = try #require(h.messages.first)
        #expect(m.type == "heka.sandbox-output")
        #expect(m.logger == "test")
        #expect(m.payload == "a1 2.5 true nilfalse!")
        #expect(m.field("payload_type")?.value == .string(["json"]))
        #expect(m.field("payload_name")?.value == .string(["stats"]))
    }

    @Test func numericStringsAreHeaderNumbersAsInHeka() throws {
        let h = try ScriptHarness("""
            function process_message()
              inject_message({Timestamp = "1234567890123456789", Severity = "7", Pid = " 42 ", Payload = "x"})
              local ok, err = pcall(inject_message, {Severity = "high"})
              inject_message({Payload = tostring(err)})
              return 0
            end
            """)
        h.process()
        let m = try #require(h.messages.first)
        #expect(m.timestamp == 1_234_567_890_123_456_789)
        #expect(m.severity == 7)
        #expect(m.pid == 42)
        #expect(h.messages.last?.payload?.hasSuffix("inject_message() Severity must be a number, got string") == true, "\(h.messages.last?.payload ?? "")")
    }

    @Test func encodersOutputTheirPayloadAsIs() throws {
        let h = try ScriptHarness("function process_message() inject_payload('txt', '', read_message('Payload'), '\\n') return 0 end", kind: .encoder)
        h.process()
        guard case .payload(let type, _, let bytes)? = h.injected.first else {
            Issue.record("no payload")
            return
        }
        #expect(type == "txt")
        #expect(bytes == Array("GET / 200\n".utf8))
    }

    @Test func decodeAndEncodeMessage() throws {
        let out = try payload("""
            local m = decode_message(read_message('raw'))
            local f = m.Fields[3]
            local again = decode_message(encode_message({Timestamp = 1, Payload = 'x', Fields = {a = {1, 2}}}))
            local framed = encode_message({Timestamp = 1}, true)
            inject_payload('txt', '', m.Type, ' ', m.Severity, ' ', #m.Fields, ' ', f.name, ' ', #f.value, ' ', f.value[3], ' ',
              m.Fields[2].representation, ' ', again.Payload, ' ', again.Fields[1].value[2], ' ', again.Fields[1].value_type,
              ' ', framed:byte(1))
            """)
        #expect(out == "nginx.access 6 6 multi 3 c B x 2 2 30")
        #expect(try payload("decode_message('junk')") == "terminated: process_message() test.lua:1: decode_message() invalid protobuf string")
    }

    @Test func writeMessageRewritesTheMessageADecoderPassesOn() throws {
        let h = try ScriptHarness("""
            function process_message()
              write_message('Type', 'rewritten')
              write_message('Fields[status]', 404)
              write_message('Fields[new]', 'v', 'unit')
              return 0
            end
            """, kind: .decoder)
        h.process()
        let m = try #require(h.sandbox.currentMessage?.decoded())
        #expect(h.sandbox.wroteMessage)
        #expect(m.type == "rewritten")
        #expect(m.field("status")?.value == .integer([404]))
        #expect(m.field("new") == Field(name: "new", value: .string(["v"]), representation: "unit"))
    }

    @Test func statusConventions() throws {
        let failing = try ScriptHarness("function process_message() return -1, 'bad line' end")
        #expect(failing.process() == .ok(status: -1, message: "bad line"))
        #expect(!failing.sandbox.isTerminated)
        let fatal = try ScriptHarness("function process_message() return 1, 'giving up' end")
        #expect(terminationReason(fatal.process()) == "process_message() giving up")
        let none = try ScriptHarness("function process_message() end")
        #expect(terminationReason(none.process()) == "process_message() must return a numeric status code")
        let badMessage = try ScriptHarness("function process_message() return -1, {} end")
        #expect(terminationReason(badMessage.process()) == "process_message() must return a nil or string error message")
        let runtime = try ScriptHarness("function process_message() local x = nil; return x.y end")
        #expect(terminationReason(runtime.process()) == "process_message() test.lua:1: attempt to index a nil value (local 'x')")
    }

    @Test func loadErrors() throws {
        #expect(throws: SandboxError(.load, "test.lua:1: unexpected symbol near '+'")) { try ScriptHarness("+") }
        #expect(throws: SandboxError(.load, "process_message() function was not found")) { try ScriptHarness("x = 1") }
        #expect(throws: SandboxError(.load, "test.lua:1: attempt to index a nil value (global 'io')")) {
            try ScriptHarness("io.write('x')")
        }
    }

    @Test func timerEvent() throws {
        let h = try ScriptHarness("function process_message() return 0 end function timer_event(ns, shutdown) inject_payload('txt', '', math.type(ns), ns, tostring(shutdown)) end")
        #expect(try h.sandbox.timerEvent(ns: 77, shutdown: true))
        #expect(h.messages.first?.payload == "integer77true")
        let without = try ScriptHarness("function process_message() return 0 end")
        #expect(try without.sandbox.timerEvent(ns: 1, shutdown: false) == false)
    }

    @Test func printGoesToTheLogBounded() throws {
        let h = try ScriptHarness("print('a', 1, nil, true) print(string.rep('x', 10000)) function process_message() return 0 end")
        #expect(h.logs.first == "a\t1\tnil\ttrue")
        #expect(h.logs.last?.utf8.count == 4096)
    }

    @Test func binaryPayloadsReachTheHostUnchanged() throws {
        let h = try ScriptHarness("function process_message() inject_payload('txt', 'bin', '\\255\\0\\1') return 0 end")
        h.process()
        guard case .message(let view)? = h.injected.first else {
            Issue.record("no message")
            return
        }
        let r = try #require(view.range(of: .payload))
        #expect(Array(view.bytes[r]) == [0xFF, 0x00, 0x01])
    }

    @Test func statusesThatAreNotNumbersOrOutOfRange() throws {
        let nan = try ScriptHarness("function process_message() return 0/0 end")
        #expect(terminationReason(nan.process()) == "process_message() must return a numeric status code")
        let huge = try ScriptHarness("function process_message() return 1e300 end")
        #expect(terminationReason(huge.process()) == "process_message() returned fatal status 1000000")
        let hugeNegative = try ScriptHarness("function process_message() return -math.huge end")
        #expect(hugeNegative.process() == .ok(status: -1_000_000, message: nil))
    }

    @Test func writeMessageRefusesBadValuesWithoutCrashing() throws {
        let h = try ScriptHarness("""
            function process_message()
              local results = {}
              for _, call in ipairs({
                function() write_message('Timestamp', 1e30) end,
                function() write_message('Type', 5) end,
                function() write_message('Uuid', 'short') end,
              }) do
                local ok, e = pcall(call)
                results[#results + 1] = tostring(ok) .. ':' .. tostring(e)
              end
              write_message('Uuid', '\\255\\254' .. string.rep('\\0', 14))
              inject_message({Payload = table.concat(results, '|')})
              return 0
            end
            """, kind: .decoder)
        #expect(h.process() == .ok(status: 0, message: nil))
        let m = try #require(h.messages.first)
        #expect(m.payload == "false:test.lua:4: write_message() Timestamp must be a number in the int64 range|false:test.lua:5: write_message() Type must be a string or nil|false:test.lua:6: write_message() Uuid must be 16 bytes, or 32 or 36 hex characters")
        #expect(m.uuid == [0xFF, 0xFE] + Array(repeating: 0, count: 14))
    }

    @Test func encodeMessageErrorsNameEncodeMessage() throws {
        #expect(try payload("encode_message({Type = {}})") == "terminated: process_message() test.lua:1: encode_message() Type must be a string, got table")
        #expect(try payload("inject_message({Type = {}})") == "terminated: process_message() test.lua:1: inject_message() Type must be a string, got table")
    }
}

import Testing
@testable import LuaPipeline

/// Heka 0.10's sandbox API case by case: the values a Heka script read and the error texts
/// hekad terminated a plugin with. Every expectation here is Heka 0.10's, including where
/// luapiped chose otherwise (SandboxAPITests holds luapiped's own contract); circular_buffer
/// is in HekaCircularBufferConformanceTests.
@Suite struct HekaConformanceTests {
    /// The message Heka's own sandbox tests read (lua_sandbox_test.go), with a fixed Uuid and host.
    static let hekaMessage = Message(
        uuid: Array(0..<16), timestamp: 5_123_456_789, type: "TEST", logger: "GoSpec", severity: 6,
        envVersion: "0.8", pid: 9283, hostname: "example.com",
        fields: [
            Field(name: "foo", value: .string(["bar"])),
            Field(name: "bytes", value: .bytes([Array("data".utf8)])),
            Field(name: "int", value: .integer([999, 1024])),
            Field(name: "double", value: .double([99.9])),
            Field(name: "bool", value: .bool([true])),
            Field(name: "foo", value: .string(["alternate"])),
            Field(name: "false", value: .bool([false])),
            Field(name: "empty_bytes", value: .bytes([[]])),
        ])

    /// Loads `function process_message() BODY return 0 end` (BODY on line 1 when it is one
    /// line) and runs it once on `message`.
    private func run(_ body: String, kind: PluginKind = .filter, message: Message = HekaConformanceTests.hekaMessage,
                     config: [String: ConfigValue] = [:], limits: SandboxLimits = SandboxLimits()) throws -> (ScriptHarness, ProcessResult) {
        let h = try ScriptHarness("function process_message() \(body) return 0 end", kind: kind, limits: limits, config: config)
        return (h, h.process(message))
    }

    /// The Payload of the last message `body` injected, or `terminated: <reason>`.
    private func payload(_ body: String, kind: PluginKind = .filter, message: Message = HekaConformanceTests.hekaMessage) throws -> String? {
        let (h, r) = try run(body, kind: kind, message: message)
        if let reason = terminationReason(r) { return "terminated: " + reason }
        return h.messages.last?.payload
    }

    /// Checks that each one-line body terminates the plugin with `process_message() test.lua:1: <reason>`.
    private func expectFailures(_ cases: [(body: String, reason: String)], kind: PluginKind = .filter,
                                limits: SandboxLimits = SandboxLimits(), sourceLocation: SourceLocation = #_sourceLocation) throws {
        for (body, reason) in cases {
            let (_, r) = try run(body, kind: kind, limits: limits)
            #expect(terminationReason(r) == "process_message() test.lua:1: " + reason, "\(body)", sourceLocation: sourceLocation)
        }
    }

    // MARK: read_message

    @Test func readMessageHeadersFieldsAndIndexes() throws {
        let out = try payload("""
            local r = {}
            local function add(v) r[#r + 1] = tostring(v) end
            add(read_message('Type')) add(read_message('Logger')) add(read_message('EnvVersion')) add(read_message('Hostname'))
            add(read_message('Timestamp')) add(read_message('Severity')) add(read_message('Pid'))
            add(read_message('Fields[foo]')) add(read_message('Fields[foo]', 0)) add(read_message('Fields[foo]', 0, 0))
            add(read_message('Fields[foo]', 1)) add(read_message('Fields[foo]', 1, 1)) add(read_message('Fields[foo]', 2))
            add(read_message('Fields[foo]', '1'))
            add(read_message('Fields[bytes]')) add(read_message('Fields[int]')) add(read_message('Fields[int]', 0, 1))
            add(read_message('Fields[double]')) add(read_message('Fields[bool]')) add(read_message('Fields[false]'))
            add(read_message('Bogus')) add(read_message('Fields[]')) add(read_message('Fields[foo')) add(read_message('fields[foo]'))
            add(read_message(5))
            inject_payload('txt', '', table.concat(r, ' '))
            """)
        #expect(out == "TEST GoSpec 0.8 example.com 5123456789 6 9283 bar bar bar alternate nil nil alternate data 999 1024 99.9 true false nil nil nil nil nil")
    }

    /// Heka returned the Uuid in its text form (Message.GetUuidString()), not the 16 bytes.
    @Test func readMessageUuidIsTheTextForm() throws {
        #expect(try payload("inject_payload('txt', '', read_message('Uuid'))") == "00010203-0405-0607-0809-0a0b0c0d0e0f")
    }

    /// Heka's Go getters return "" for an absent string header (its own read_message.lua
    /// checks `read_message("Payload") ~= ""`); an absent Pid is nil.
    @Test func absentStringHeadersReadAsEmptyStrings() throws {
        let out = try payload("""
            local r = {}
            for _, h in ipairs({'Type', 'Logger', 'Payload', 'EnvVersion', 'Hostname', 'Pid'}) do r[#r + 1] = '[' .. tostring(read_message(h)) .. ']' end
            inject_payload('txt', '', table.concat(r, ' '))
            """, message: Message(uuid: Array(0..<16), timestamp: 1))
        #expect(out == "[] [] [] [] [] [nil]")
    }

    /// An empty bytes value has no data pointer in Heka: it reads as nil.
    @Test func emptyBytesValueReadsAsEmptyString() throws {
        // Heka 0.10: nil; luapiped: "" (a string of length 0), in read_message and read_next_field
        #expect(try payload("local v = read_message('Fields[empty_bytes]') inject_payload('txt', '', type(v), '[', v, ']')") == "string[]")
    }

    /// Lua 5.1's luaL_optinteger truncated fractional indexes.
    @Test func fractionalIndexesAreTruncated() throws {
        #expect(try payload("inject_payload('txt', '', read_message('Fields[foo]', 1.7), ' ', read_message('Fields[int]', 0, 1.2))") == "alternate 1024")
    }

    @Test func readMessageArgumentErrors() throws {
        try expectFailures([
            ("read_message()", "read_message() incorrect number of arguments"),
            ("read_message('Type', 0, 0, 0)", "read_message() incorrect number of arguments"),
            ("read_message(nil)", "bad argument #1 to 'read_message' (string expected, got nil)"),
            ("read_message('Fields[foo]', -1)", "bad argument #2 to 'read_message' (field index must be >= 0)"),
            ("read_message('Fields[foo]', 0, -1)", "bad argument #3 to 'read_message' (array index must be >= 0)"),
            ("read_message('Fields[foo]', 'x')", "bad argument #2 to 'read_message' (number expected, got string)"),
        ])
    }

    @Test func nothingToReadDuringTimerEvent() throws {
        let h = try ScriptHarness("""
            function process_message() return 0 end
            function timer_event(ns)
              inject_payload('txt', '', tostring(read_message('Type')), ' ', tostring(read_message('raw')), ' ',
                tostring(read_message('Fields[foo]')), ' ', tostring(read_next_field()))
            end
            """)
        h.process(HekaConformanceTests.hekaMessage)
        try h.sandbox.timerEvent(ns: 0, shutdown: false)
        #expect(h.messages.last?.payload == "nil nil nil nil")
    }

    // MARK: read_next_field and read_config

    @Test func readNextFieldWalksTheFieldsAgainOnEachMessage() throws {
        let h = try ScriptHarness("""
            function process_message()
              local r = {}
              for i = 1, 7 do
                local t, name, value, rep, count = read_next_field()
                r[i] = string.format('%d:%s:%s:[%s]:%d', t, name, tostring(value), rep, count)
              end
              inject_payload('txt', '', table.concat(r, ' '))
              return 0
            end
            """)
        h.process(HekaConformanceTests.hekaMessage)
        h.process(HekaConformanceTests.hekaMessage)
        let expected = "0:foo:bar:[]:1 1:bytes:data:[]:1 2:int:999:[]:2 3:double:99.9:[]:1 4:bool:true:[]:1 0:foo:alternate:[]:1 4:false:false:[]:1"
        #expect(h.messages.map(\.payload) == [expected, expected])
    }

    /// An empty bytes value is nil, and the walk ends with five nils (read_next_field.lua).
    @Test func readNextFieldEmptyBytesAndTheEnd() throws {
        let out = try payload("""
            for i = 1, 7 do read_next_field() end
            local r = {}
            for i = 1, 2 do
              local v = table.pack(read_next_field())
              local s = {}
              for j = 1, v.n do s[j] = tostring(v[j]) end
              r[i] = v.n .. '=' .. table.concat(s, ',')
            end
            inject_payload('txt', '', table.concat(r, ' '))
            """)
        // Heka 0.10: "5=1,empty_bytes,nil,,1 ..."; luapiped: an empty bytes value is "", in read_message and read_next_field
        #expect(out == "5=1,empty_bytes,,,1 5=nil,nil,nil,nil,nil")
    }

    @Test func readNextFieldAndReadConfigArgumentErrors() throws {
        try expectFailures([
            ("read_next_field(1)", "read_next_field() takes no arguments"),
            ("read_config()", "read_config() must have a single argument"),
            ("read_config('a', 'b')", "read_config() must have a single argument"),
            ("read_config(nil)", "bad argument #1 to 'read_config' (string expected, got nil)"),
        ])
    }

    // MARK: inject_message

    @Test func injectMessageArgumentErrors() throws {
        let wrongArguments = "inject_message() takes a single string or table argument"
        try expectFailures([
            ("inject_message()", wrongArguments),
            ("inject_message(nil)", wrongArguments),
            ("inject_message(5)", wrongArguments),
            ("inject_message('txt', 'name')", wrongArguments),
            ("inject_message({}, {})", wrongArguments),
        ])
        // Heka 0.10: "inject_message() protobuf unmarshal failed"; luapiped: the same, followed by the decoder's detail in parentheses
        let (_, junk) = try run("inject_message('junk')")
        #expect(terminationReason(junk)?.hasPrefix("process_message() test.lua:1: inject_message() protobuf unmarshal failed (") == true, "\(junk)")
    }

    @Test func injectMessageEncodingErrors() throws {
        try expectFailures([
            // Heka 0.10: "inject_message() could not encode protobuf - array has mixed types"; luapiped: its own wording, naming the field
            ("inject_message({Fields = {counts = {2, 'ten', 4}}})", "inject_message() field 'counts': string value in a field of value_type 2"),
            // Heka 0.10: "inject_message() could not encode protobuf - invalid string value_type: 2"; luapiped: its own wording, naming the field
            ("inject_message({Fields = {x = {value = 's', value_type = 2}}})", "inject_message() field 'x': string value in a field of value_type 2"),
            // Heka 0.10: "inject_message() could not encode protobuf - invalid boolean value_type: 3"; luapiped: its own wording, naming the field
            ("inject_message({Fields = {x = {value = true, value_type = 3}}})", "inject_message() field 'x': boolean value in a field of value_type 3"),
            // Heka 0.10: "inject_message() could not encode protobuf - unsupported array type: table"; luapiped: its own wording, naming the field
            ("inject_message({Fields = {x = {{1}, {2}}}})", "inject_message() field 'x': unsupported value type"),
            // Heka 0.10: "inject_message() could not encode protobuf - unsupported type: function"; luapiped: its own wording, naming the field
            ("inject_message({Fields = {x = print}})", "inject_message() field 'x': unsupported value type"),
            // Heka 0.10: "inject_message() could not encode protobuf - field name must be a string"; luapiped: its own wording, naming the field
            ("inject_message({Fields = {{value = 1}}})", "inject_message() Fields[1] has no name"),
        ])
        // Heka 0.10: "inject_message() could not encode protobuf - unsupported type: nil"; luapiped: accepts {} as a field with no values
        let (empty, emptyResult) = try run("inject_message({Fields = {counts = {}}})")
        #expect(terminationReason(emptyResult) == nil)
        #expect(empty.messages.first?.fields == [Field(name: "counts", value: .string([]))])
        // Heka 0.10: "inject_message() could not encode protobuf - invalid numeric value_type: 0"; luapiped: accepts it, the number becomes a string field
        let (numeric, numericResult) = try run("inject_message({Fields = {x = {value = 1, value_type = 0}}})")
        #expect(terminationReason(numericResult) == nil)
        #expect(numeric.messages.first?.fields == [Field(name: "x", value: .string(["1"]))])
    }

    /// Heka encoded a header only when it had a usable type and silently left it out
    /// otherwise: a Uuid that is not 16 bytes and a Timestamp that is not a number are
    /// generated, a non-table Fields is ignored.
    @Test func injectMessageRefusesHeadersOfTheWrongType() throws {
        // Heka 0.10: injected with Type, Severity, Uuid, Timestamp and Fields dropped or generated, Payload "kept"; luapiped: an error naming the header (a silent drop hides bugs)
        let (h, r) = try run("inject_message({Type = {}, Severity = 'high', Uuid = 'short', Timestamp = 'soon', Fields = 'none', Payload = 'kept'})")
        #expect(terminationReason(r) == "process_message() test.lua:1: inject_message() Uuid must be 16 bytes or 36 characters")
        #expect(h.messages.isEmpty)
        // Heka 0.10: each header silently dropped; luapiped: an error naming the header (a silent drop hides bugs)
        try expectFailures([
            ("inject_message({Type = {}, Payload = 'kept'})", "inject_message() Type must be a string, got table"),
            ("inject_message({Severity = 'high', Payload = 'kept'})", "inject_message() Severity must be a number, got string"),
            ("inject_message({Uuid = 'short', Payload = 'kept'})", "inject_message() Uuid must be 16 bytes or 36 characters"),
            ("inject_message({Timestamp = 'soon', Payload = 'kept'})", "inject_message() Timestamp must be a number, got string"),
            ("inject_message({Fields = 'none', Payload = 'kept'})", "inject_message() Fields must be a table"),
        ])
    }

    @Test func injectMessageHeadersTakeNumbersAndNumericStrings() throws {
        let (h, _) = try run("inject_message({Type = 5, Payload = 1.5, EnvVersion = 2, Pid = '42', Severity = 4.9, Timestamp = '1000'})")
        let m = try #require(h.messages.first)
        #expect(m.type == "heka.sandbox.5")
        #expect(m.payload == "1.5")
        #expect(m.envVersion == "2")
        #expect(m.pid == 42)
        #expect(m.severity == 4)
        #expect(m.timestamp == 1000)
    }

    /// "Hostname and Logger are automatically set by the SandboxFilter and cannot be overridden."
    @Test func filtersCannotSetLoggerButKeepTheirHostname() throws {
        let (h, _) = try run("inject_message({Type = 't', Logger = 'mine', Hostname = 'mine'})")
        let m = try #require(h.messages.first)
        #expect(m.type == "heka.sandbox.t")
        #expect(m.logger == "test")
        // Heka 0.10: "testhost" (the host's name forced); luapiped: a Hostname set in the table is kept
        #expect(m.hostname == "mine")
    }

    @Test func injectMessageFieldForms() throws {
        let (h, _) = try run("""
            inject_message({Fields = {
              ints = {value = {1, 2, 3}, value_type = 2, representation = 'ms'},
              cut = {value = 1.9, value_type = 2},
              raw = {value = {'a', 'b'}, value_type = 1},
              flags = {value = {true, false}},
              ratio = {value = 2.5, representation = '%'},
              d = {value = 3, value_type = 3},
            }})
            inject_message({Fields = {{name = 'n', value = 7, value_type = 2, representation = 'B'}, {name = 'n', value = {'x', 'y'}}}})
            """)
        let ms = h.messages
        try #require(ms.count == 2)
        #expect(ms[0].field("ints") == Field(name: "ints", value: .integer([1, 2, 3]), representation: "ms"))
        #expect(ms[0].field("cut")?.value == .integer([1]))
        #expect(ms[0].field("raw")?.value == .bytes([[97], [98]]))
        #expect(ms[0].field("flags")?.value == .bool([true, false]))
        #expect(ms[0].field("ratio") == Field(name: "ratio", value: .double([2.5]), representation: "%"))
        #expect(ms[0].field("d")?.value == .double([3]))
        #expect(ms[1].fields == [
            Field(name: "n", value: .integer([7]), representation: "B"),
            Field(name: "n", value: .string(["x", "y"])),
        ])
    }

    /// Heka checked output_limit on the table encoding, never on an already encoded string.
    @Test func outputLimitAndInjectMessage() throws {
        let big = Message(uuid: Array(0..<16), timestamp: 1, payload: String(repeating: "p", count: 2000))
        let h = try ScriptHarness("function process_message() inject_message(read_message('raw')) return 0 end",
                                  limits: SandboxLimits(output: 1000))
        // Heka 0.10: injected (2000-byte payload); luapiped: output_limit also bounds an already encoded string (the limit bounds every injection)
        #expect(terminationReason(h.process(big)) == "process_message() test.lua:1: output_limit exceeded")
        #expect(h.messages.isEmpty)
        // Heka 0.10: "inject_message() output_limit exceeded"; luapiped: "output_limit exceeded", the same text for every injection
        try expectFailures([("inject_message({Payload = string.rep('p', 2000)})", "output_limit exceeded")],
                           limits: SandboxLimits(output: 1000))
    }

    // MARK: add_to_payload and inject_payload

    @Test func payloadArgumentErrors() throws {
        try expectFailures([
            ("add_to_payload()", "bad argument #0 to 'add_to_payload' (must have at least one argument)"),
            ("add_to_payload({})", "bad argument #1 to 'add_to_payload' (unsuported type)"),
            ("add_to_payload('a', print)", "bad argument #2 to 'add_to_payload' (unsuported type)"),
            ("inject_payload('txt', 'n', 'a', {})", "bad argument #4 to 'inject_payload' (unsuported type)"),
            ("inject_payload(nil)", "bad argument #1 to 'inject_payload' (string expected, got nil)"),
            ("inject_payload('txt', nil)", "bad argument #2 to 'inject_payload' (string expected, got nil)"),
            ("inject_payload({})", "bad argument #1 to 'inject_payload' (string expected, got table)"),
            ("inject_payload('txt', true)", "bad argument #2 to 'inject_payload' (string expected, got boolean)"),
            ("add_to_payload(string.rep('x', 200))", "output_limit exceeded"),
        ], limits: SandboxLimits(output: 128))
    }

    @Test func payloadTypeAndName() throws {
        let (h, _) = try run("inject_payload(5, 6, 'x') inject_payload('', 'n', 'y')")
        let ms = h.messages
        try #require(ms.count == 2)
        #expect(ms[0].field("payload_type")?.value == .string(["5"]))
        #expect(ms[0].field("payload_name")?.value == .string(["6"]))
        #expect(ms[1].field("payload_type")?.value == .string(["txt"]), "an empty type is the default")
    }

    /// hekad gave Fields[payload_type] the representation "file-extension", in filters and decoders.
    @Test func payloadTypeIsAFileExtension() throws {
        for kind in [PluginKind.filter, .decoder] {
            let (h, _) = try run("inject_payload('csv', 'report', 'a,b')", kind: kind)
            let m = try #require(h.messages.first)
            #expect(m.field("payload_type") == Field(name: "payload_type", value: .string(["csv"]), representation: "file-extension"), "\(kind)")
        }
    }

    /// Heka injected only when the payload buffer held something.
    @Test func anEmptyPayloadIsNotInjected() throws {
        let (h, r) = try run("inject_payload() inject_payload('json', 'empty') add_to_payload('') inject_payload('txt', 'still')")
        #expect(terminationReason(r) == nil)
        #expect(h.injected.isEmpty)
    }

    /// lua_sandbox's number formatting: up to 8 decimals, trailing zeros dropped, "%0.17g"
    /// above INT_MAX.
    @Test func payloadNumberFormatting() throws {
        let out = try payload("""
            inject_payload('txt', '', 0.1, ' ', 1/3, ' ', 2/3, ' ', 1234567.891, ' ', 2^31, ' ', 1e20, ' ', -2.5, ' ',
              5.0, ' ', -0.0, ' ', 2.5e-9, ' ', 1e-8, ' ', 7, ' ', 99.9)
            """)
        #expect(out == "0.1 0.33333333 0.66666667 1234567.891 2147483648 1e+20 -2.5 5 0 0 0.00000001 7 99.9")
    }

    @Test func payloadBufferSurvivesUntilInjected() throws {
        let h = try ScriptHarness("n = 0 function process_message() n = n + 1 if n == 1 then add_to_payload('a', nil, true) else inject_payload('txt', '', false) end return 0 end")
        h.process(HekaConformanceTests.hekaMessage)
        #expect(h.injected.isEmpty)
        h.process(HekaConformanceTests.hekaMessage)
        #expect(h.messages.map(\.payload) == ["aniltruefalse"])
    }

    // MARK: write_message (decoders)

    @Test func writeMessageErrors() throws {
        let invalidName = "write_message() invalid field name"
        try expectFailures([
            ("write_message()", "write_message() incorrect number of arguments"),
            ("write_message('Fields[bogus]', 0, 'count', 0, 0, 0)", "write_message() incorrect number of arguments"),
            // Heka 0.10: "write_message() failed"; luapiped: a descriptive text
            ("write_message('Unknown', 0)", invalidName),
            // Heka 0.10: "write_message() failed"; luapiped: a descriptive text
            ("write_message('[Bogus]', 0)", invalidName),
            // Heka 0.10: "write_message() failed"; luapiped: a descriptive text
            ("write_message('Fields[Bogus', 0)", invalidName),
            // Heka 0.10: "bad argument #4 to 'write_message' (field index must be >= 0)"; luapiped: its own descriptive text
            ("write_message('Fields[bogus]', 0, 'count', -1, 0)", "write_message() field index must be >= 0"),
            // Heka 0.10: "bad argument #5 to 'write_message' (array index must be >= 0)"; luapiped: its own descriptive text
            ("write_message('Fields[bogus]', 0, 'count', 0, -1)", "write_message() array index must be >= 0"),
            ("write_message(nil, 0)", "bad argument #1 to 'write_message' (string expected, got nil)"),
            // Heka 0.10: "write_message() failed"; luapiped: a descriptive text
            ("write_message('Uuid', '')", "write_message() Uuid must be 16 bytes, or 32 or 36 hex characters"),
            // Heka 0.10: "write_message() failed"; luapiped: a descriptive text
            ("write_message('Uuid', 'abcdefghijklmnopqrst')", "write_message() Uuid must be 16 bytes, or 32 or 36 hex characters"),
            // Heka 0.10: "write_message() failed"; luapiped: a descriptive text
            ("write_message('Timestamp', '')", "write_message() Timestamp must be a number in the int64 range"),
            // Heka 0.10: "write_message() failed"; luapiped: a descriptive text
            ("write_message('Timestamp', 'invalid')", "write_message() Timestamp must be a number in the int64 range"),
            // Heka 0.10: "write_message() failed"; luapiped: a descriptive text
            ("write_message('Severity', true)", "write_message() Severity must be a number"),
            // Heka 0.10: "write_message() failed"; luapiped: a descriptive text
            ("write_message('Hostname', 99)", "write_message() Hostname must be a string or nil"),
            // Heka 0.10: "write_message() only accepts numeric, string, or boolean field values, or nil to delete"; luapiped: a descriptive text
            ("write_message('Fields[x]', {})", "write_message() unsupported value type: table"),
            // Heka 0.10: "write_message() failed"; luapiped: a descriptive text
            ("write_message('Fields[foo]', 'x', '', 0, 2)", "write_message() array index 2 is out of range or the value type differs"),
        ], kind: .decoder)

        /// Runs `body` in a decoder and returns the current message after it.
        func written(_ body: String) throws -> Message? {
            let (h, r) = try run(body, kind: .decoder)
            #expect(terminationReason(r) == nil, "\(body)")
            return h.sandbox.currentMessage?.decoded()
        }
        let original = HekaConformanceTests.hekaMessage.fields
        // Heka 0.10: "write_message() failed"; luapiped: a new field index appends an occurrence
        #expect(try written("write_message('Fields[bogus]', 0, 'count', 200, 0)")?.fields
            == original + [Field(name: "bogus", value: .integer([0]), representation: "count")])
        // Heka 0.10: "write_message() failed"; luapiped: nil removes the header
        #expect(try written("write_message('Type', nil)").map { $0.type == nil && $0.fields == original } == true)
        // Heka 0.10: "write_message() failed"; luapiped: removing an occurrence that does not exist changes nothing
        #expect(try written("write_message('Fields[foo]', nil, '', 5)")?.fields == original)
        // Heka 0.10: "write_message() failed"; luapiped: nil with an array index removes the whole occurrence
        #expect(try written("write_message('Fields[foo]', nil, '', 0, 5)")?.fields == Array(original.dropFirst()))
        // Heka 0.10: "write_message() failed"; luapiped: a value of another type at index 0 replaces the field's values
        #expect(try written("write_message('Fields[foo]', true)")?.fields
            == [Field(name: "foo", value: .bool([true]))] + original.dropFirst())
    }

    /// Strings for Timestamp, Severity and Pid were parsed as integers.
    @Test func writeMessageParsesNumericStrings() throws {
        let out = try payload("""
            write_message('Timestamp', '1000000000') write_message('Severity', '4') write_message('Pid', '12345')
            inject_payload('txt', '', read_message('Timestamp'), ' ', read_message('Severity'), ' ', read_message('Pid'))
            """, kind: .decoder)
        #expect(out == "1000000000 4 12345")
    }

    /// nil with an array index removes that one value; without, the whole occurrence.
    @Test func writeMessageDeletes() throws {
        let out = try payload("""
            write_message('Fields[int]', nil, '', 0, 0)
            write_message('Fields[foo]', nil)
            write_message('Fields[nothere]', nil)
            inject_payload('txt', '', tostring(read_message('Fields[int]')), ' ', tostring(read_message('Fields[int]', 0, 1)), ' ',
              read_message('Fields[foo]'), ' ', tostring(read_message('Fields[foo]', 1)))
            """, kind: .decoder)
        // Heka 0.10: "1024 nil alternate nil" (only value 0 removed); luapiped: nil with an array index removes the whole occurrence
        #expect(out == "nil nil alternate nil")
    }

    @Test func writeMessageChangesTheMessage() throws {
        let (h, r) = try run("""
            write_message('Fields[foo]', 'x', '', 1, 1) write_message('Fields[new]', true) write_message('Fields[double]', 0.5)
            write_message('Severity', 4.7) write_message('Timestamp', 1.9e9 + 0.5) write_message('Payload', 'p')
            write_message('Uuid', '550d19b9-58c7-49d8-b0dd-b48cd1c5b305')
            """, kind: .decoder)
        #expect(terminationReason(r) == nil)
        let m = try #require(h.sandbox.currentMessage?.decoded())
        #expect(m.fields.filter { $0.name == "foo" }.map(\.value) == [.string(["bar"]), .string(["alternate", "x"])])
        #expect(m.field("new")?.value == .bool([true]))
        #expect(m.field("double")?.value == .double([0.5]))
        #expect(m.severity == 4 && m.timestamp == 1_900_000_000 && m.payload == "p")
        #expect(m.uuid == [0x55, 0x0d, 0x19, 0xb9, 0x58, 0xc7, 0x49, 0xd8, 0xb0, 0xdd, 0xb4, 0x8c, 0xd1, 0xc5, 0xb3, 0x05])
    }

    // MARK: decode_message, require

    @Test func decodeMessageErrors() throws {
        try expectFailures([
            ("decode_message()", "bad argument #0 to 'decode_message' (must have one string argument)"),
            ("decode_message(5)", "bad argument #0 to 'decode_message' (must have one string argument)"),
            // Heka 0.10: "invalid message, too short"; luapiped: its own wording
            ("decode_message('junk')", "decode_message() invalid protobuf string"),
            // Heka 0.10: "error in tag: 15 wiretype: 0 offset: 0"; luapiped: its own wording
            ("decode_message(string.rep('x', 30))", "decode_message() invalid protobuf string"),
        ])
    }

    @Test func decodeMessageTable() throws {
        let out = try payload("""
            local m = decode_message(read_message('raw'))
            local r = {#m.Uuid, m.Timestamp, m.Type, m.Logger, m.Severity, m.EnvVersion, m.Pid, m.Hostname, tostring(m.Payload), #m.Fields}
            for _, f in ipairs(m.Fields) do r[#r + 1] = f.name .. ':' .. f.value_type .. ':' .. #f.value .. ':' .. tostring(f.value[#f.value]) end
            inject_payload('txt', '', table.concat(r, ' '))
            """)
        #expect(out == "16 5123456789 TEST GoSpec 6 0.8 9283 example.com nil 8 foo:0:1:bar bytes:1:1:data int:2:2:1024 double:3:1:99.9 bool:4:1:true foo:0:1:alternate false:4:1:false empty_bytes:1:1:")
    }

    @Test func requireReturnsModulesAndNamesTheMissingOne() throws {
        let out = try payload("""
            local cb = require('circular_buffer')
            local ok, err = pcall(require, 'no_such_module')
            inject_payload('txt', '', tostring(cb == circular_buffer), ' ', tostring(require('string') == string), ' ', tostring(ok), ' ',
              err:match("^module 'no_such_module' not found") or err)
            """)
        #expect(out == "true true false module 'no_such_module' not found")
    }

    // MARK: return conventions and limits

    @Test func processMessageReturnConventions() throws {
        for source in ["function process_message() return '0' end", "function process_message() end",
                       "function process_message() return nil end"] {
            let h = try ScriptHarness(source)
            #expect(terminationReason(h.process()) == "process_message() must return a numeric status code", "\(source)")
        }
        #expect(try ScriptHarness("function process_message() return -1.7 end").process() == .ok(status: -1, message: nil))
        #expect(try ScriptHarness("function process_message() return -2, 'skip' end").process() == .ok(status: -2, message: "skip"))
        let h = try ScriptHarness("function process_message() return 0 end function timer_event(ns) error('boom') end")
        #expect(throws: SandboxError(.terminated, "timer_event() test.lua:1: boom")) { try h.sandbox.timerEvent(ns: 0, shutdown: false) }
    }

    /// Heka's hook raised without a position; a memory error was Lua's "not enough memory".
    @Test func limitReasons() throws {
        let (_, loop) = try run("while true do end")
        // Heka 0.10: "process_message() instruction_limit exceeded"; luapiped: the reason keeps the position of the call
        #expect(terminationReason(loop) == "process_message() test.lua:1: instruction_limit exceeded")
        let (_, memory) = try run("local t = {} for i = 1, 1e7 do t[i] = i end",
                                  limits: SandboxLimits(memory: 1_000_000, instructions: 0))
        // Heka 0.10: "process_message() not enough memory"; luapiped: "memory_limit exceeded", clearer than Lua's text
        #expect(terminationReason(memory) == "process_message() memory_limit exceeded")
    }
}

import Testing
@testable import LuaPipeline

/// A decoder reads a record's message without the host building it: headers and Payload
/// come from where they are, and the message is built only when the script (or a pass
/// through) needs the whole of it. Whatever the script reads must be what it read when
/// every record's message was built first.
@Suite struct RecordMessageTests {
    static let script = """
        function process_message()
          local p = read_message("Payload")
          if p == "pass" then return 0 end
          if p == "rewrite" then write_message("Fields[seen]", "yes") return 0 end
          if p == "payload" then inject_payload("txt", "n", "out") return 0 end
          local raw = read_message("raw")
          local m = decode_message(raw)
          inject_message({Payload = table.concat({m.Type, m.Logger, m.Hostname, m.Payload, tostring(m.Pid),
            tostring(read_message("size") == #raw), tostring(read_message("Fields[x]")), read_message("Type"),
            read_message("Logger"), read_message("Hostname"), tostring(read_message("Pid")),
            tostring(#read_message("Uuid") == 36), tostring(read_message("Severity"))}, "|")})
          return 0
        end
        """

    private func decode(_ payload: String, _ d: SandboxDecoder) -> [Message] {
        var out: [Message] = []
        let failure = Array(payload.utf8).withUnsafeBytes { d.decode($0) { out.append($0.decoded()) } }
        #expect(failure == nil, "\(payload)")
        return out
    }

    @Test func whatTheScriptReadsIsTheRecordsMessage() throws {
        let d = SandboxDecoder(sandbox: try ScriptHarness(Self.script, kind: .decoder).sandbox, inputName: "in")
        #expect(decode("hello", d).map(\.payload) == ["in|in|testhost|hello|42|true|nil|in|in|testhost|42|true|7"])
        // An empty record is an empty Payload, not a missing one.
        #expect(decode("", d).map(\.payload) == ["in|in|testhost||42|true|nil|in|in|testhost|42|true|7"])
    }

    @Test func aMessagePassedOnIsTheRecordsMessageOrItsRewrite() throws {
        let d = SandboxDecoder(sandbox: try ScriptHarness(Self.script, kind: .decoder).sandbox, inputName: "in")
        let passed = try #require(decode("pass", d).first)
        #expect(passed.payload == "pass")
        #expect(passed.type == "in" && passed.logger == "in" && passed.hostname == "testhost" && passed.pid == 42)
        #expect(passed.uuid.count == 16 && passed.fields.isEmpty)
        let rewritten = try #require(decode("rewrite", d).first)
        #expect(rewritten.payload == "rewrite")
        #expect(rewritten.fields == [Field(name: "seen", value: .string(["yes"]))])
        // Each record has its own Uuid; what a decoder injects first inherits it.
        let again = try #require(decode("pass", d).first)
        #expect(again.uuid != passed.uuid)
        let injected = try #require(decode("payload", d).first)
        #expect(injected.type == "in" && injected.hostname == "testhost" && injected.payload == "out")
    }
}

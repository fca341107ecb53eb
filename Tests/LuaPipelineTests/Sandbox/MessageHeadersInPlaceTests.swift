import LuapipedCore
import Testing
@testable import LuaPipeline

/// inject_message reads a message table's headers from Lua's table nodes (clp_encode.c,
/// scan_in_place), unless the table has an array part, which is read through lua_next.
/// Both ways give the same message, whatever the headers hold, for a decoder (which
/// inherits its input's headers) and a filter (Logger and Type's prefix are the host's).
@Suite struct MessageHeadersInPlaceTests {
    private static let script = """
        local msg = {Type = 't', Logger = 'l', Severity = 3, Timestamp = 5, Payload = 'p',
                     EnvVersion = '1', Pid = 9, Hostname = 'h', Fields = {a = 1}}
        if read_config('arrayed') then msg[1] = true end -- an array part: read through lua_next
        local steps = {
          function() end,
          function() msg.Type = 7 msg.Severity = '4' msg.Timestamp = 2.0 msg.Pid = '12' end,
          function() msg.Timestamp = '1e3' msg.Hostname = 2.5 msg.Pid = 7.9 end,
          function() msg.Type = nil msg.Logger = nil msg.Payload = nil msg.Severity = nil end,
          function() msg.Uuid = string.rep('u', 16) msg.Fields = nil end,
          function() msg.Timestamp = nil msg.Pid = nil msg.Hostname = nil msg.EnvVersion = nil msg.Uuid = nil end,
          function() msg.Type = string.rep('long type ', 8) msg.other = 'ignored' msg[2.5] = 'ignored' end,
          function() msg = {Payload = 'fresh', Fields = {b = 'x'}} end,
          function() msg.Type = {} end,
        }
        local n = 0
        function process_message()
          n = n + 1
          steps[n]()
          inject_message(msg)
          return 0
        end
        """

    @Test(arguments: [PluginKind.decoder, .filter])
    func eachStepInjectsTheSameMessageEitherWay(kind: PluginKind) throws {
        let inPlace = try ScriptHarness(Self.script, kind: kind, config: ["arrayed": .bool(false)])
        let walked = try ScriptHarness(Self.script, kind: kind, config: ["arrayed": .bool(true)])
        for step in 1...8 {
            #expect(inPlace.process() == .ok(status: 0, message: nil), "step \(step)")
            #expect(walked.process() == .ok(status: 0, message: nil), "step \(step)")
            #expect(inPlace.messages.count == step && inPlace.messages.last == walked.messages.last, "step \(step)")
        }
        // What the second step's values became, so that the comparison above is not of two
        // equal mistakes.
        let second = inPlace.messages[1]
        #expect(second.type == (kind == .filter ? "heka.sandbox.7" : "7"))
        #expect(second.severity == 4 && second.timestamp == 2 && second.pid == 12)
        #expect(inPlace.messages[2].timestamp == 1000 && inPlace.messages[2].hostname == "2.5" && inPlace.messages[2].pid == 7)
        #expect(inPlace.messages[4].uuid == Array(repeating: UInt8(ascii: "u"), count: 16))
        // A header of the wrong type is refused the same way.
        let refused = terminationReason(inPlace.process())
        #expect(refused?.hasSuffix("inject_message() Type must be a string, got table") == true)
        #expect(terminationReason(walked.process()) == refused)
    }
}

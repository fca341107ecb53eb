import Foundation
import Testing
@testable import LuaPipeline

/// MultiDecoder's cascade strategies, as Heka runs them.
@Suite struct MultiDecoderTests {
    /// Parses "METHOD PATH STATUS" from the Payload of the message it is handed.
    static let parser = """
        function process_message()
          local method, path, status = read_message("Payload"):match("^(%u+) (%S+) (%d+)$")
          if not method then return -1, "not a request line" end
          inject_message({Type = "request", Payload = read_message("Payload"), Hostname = read_message("Hostname"),
                          Fields = {method = method, path = path, status = tonumber(status)}})
          return 0
        end
        """

    private func decoder(_ strategy: Bool) throws -> MultiDecoder {
        let sb = try ScriptHarness(Self.parser, kind: .decoder, name: "parser").sandbox
        return MultiDecoder(name: "shipped", subs: [("ProtobufDecoder", ProtobufDecoder()), ("parser", SandboxDecoder(sandbox: sb, inputName: "in"))],
                            all: strategy, logSubErrors: false, log: PipelineLog(sink: { _ in }))
    }

    private func run(_ d: MultiDecoder, _ record: [UInt8]) -> (failure: String?, messages: [Message]) {
        var out: [Message] = []
        let failure = record.withUnsafeBytes { d.decode($0) { out.append($0.decoded()) } }
        return (failure, out)
    }

    @Test func allChainsEachSubDecoderOnThePreviousOnesMessages() throws {
        let d = try decoder(true)
        // Heka's own example: protobuf messages shipped over TCP, each with a log line.
        let shipped = Message(uuid: Array(repeating: 1, count: 16), timestamp: 5, payload: "GET /index.html 200", hostname: "web7").encoded()
        let (failure, messages) = run(d, shipped)
        #expect(failure == nil)
        let m = try #require(messages.first)
        #expect(messages.count == 1)
        #expect(m.type == "request" && m.hostname == "web7")
        #expect(m.field("status")?.value == .integer([200]))
        // A record the first refuses goes on to the next as it is.
        let plain = run(d, Array("POST /form 302".utf8))
        #expect(plain.failure == nil)
        #expect(plain.messages.first?.field("method")?.value == .string(["POST"]))
        // A message the second refuses goes on as the first made it.
        let other = run(d, Message(uuid: Array(repeating: 2, count: 16), timestamp: 6, payload: "hello").encoded())
        #expect(other.failure == nil)
        #expect(other.messages.map(\.payload) == ["hello"])
        // Only a record nobody accepts fails.
        let none = run(d, Array("hello".utf8))
        #expect(none.failure?.hasPrefix("no sub-decoder accepted the record") == true)
        #expect(none.messages.isEmpty)
    }

    @Test func firstWinsStopsAtTheFirstThatAccepts() throws {
        let d = try decoder(false)
        let shipped = Message(uuid: Array(repeating: 1, count: 16), timestamp: 5, payload: "GET /index.html 200").encoded()
        let (failure, messages) = run(d, shipped)
        #expect(failure == nil)
        #expect(messages.map(\.payload) == ["GET /index.html 200"])
        #expect(messages.first?.type != "request")
    }

    @Test func theAllStrategyIsAccepted() throws {
        let c = try PipelineConfig.parse(sources: [("c.toml", """
            [StdinInput]
            decoder = "shipped"

            [shipped]
            type = "MultiDecoder"
            subs = ["ProtobufDecoder", "ProtobufDecoder"]
            cascade_strategy = "all"
            """)], directory: temporaryDirectory().path)
        #expect(c.plugin(named: "shipped") != nil)
    }
}

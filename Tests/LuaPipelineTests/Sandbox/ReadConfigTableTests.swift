import Foundation
import Testing
@testable import LuaPipeline

/// `read_config` of a TOML array or table: a Lua table (as Hindsight's read_config, and
/// what Heka's native encoders with list settings need when they run as Lua).
@Suite struct ReadConfigTableTests {
    static let script = """
        local f = read_config("fields")
        local m = read_config("mappings")
        assert(type(f) == "table" and #f == 3 and f[1] == "Uuid" and f[3] == "Payload", "fields")
        assert(math.type(m.numbers[1]) == "integer" and m.numbers[1] == -9223372036854775807 - 1, "min int")
        assert(math.type(m.numbers[2]) == "float" and m.numbers[2] == 0.1, "0.1")
        assert(m.numbers[3] == math.huge and m.numbers[4] ~= m.numbers[4], "inf and nan")
        assert(m.Timestamp == "@timestamp" and m.flag == true, "keys")
        assert(m["quo\\"te\\n\\\\"] == "é\\0x", "escapes")
        f[1] = "changed"
        assert(read_config("fields")[1] == "Uuid", "a fresh table each call")
        assert(read_config("missing") == nil and read_config("scalar") == 7)
        function process_message() return 0 end
        """

    @Test func arraysAndTablesBecomeLuaTables() throws {
        let config: [String: ConfigValue] = [
            "fields": .array([.string("Uuid"), .string("Timestamp"), .string("Payload")]),
            "mappings": .table([
                "Timestamp": .string("@timestamp"), "flag": .bool(true), "quo\"te\n\\": .string("é\u{0}x"),
                "numbers": .array([.integer(.min), .double(0.1), .double(.infinity), .double(.nan)]),
            ]),
            "scalar": .integer(7),
        ]
        let h = try ScriptHarness(Self.script, config: config)
        guard case .ok(0, _) = h.process() else { Issue.record("process failed"); return }
    }

    @Test func fromTheConfigFile() throws {
        let dir = temporaryDirectory()
        try "assert(read_config('list')[2] == 'b' and read_config('nested').inner.n == 2); function process_message() return 0 end"
            .write(to: dir.appendingPathComponent("f.lua"), atomically: true, encoding: .utf8)
        let c = try PipelineConfig.parse(sources: [("t.toml", """
            [f]
            type = "SandboxFilter"
            filename = "f.lua"
            message_matcher = "TRUE"
            [f.config]
            list = ["a", "b"]
            nested = { inner = { n = 2 } }
            """)], directory: dir.path)
        _ = try Pipeline(config: c, log: PipelineLog(sink: { _ in }))

        #expect(throws: ConfigErrors.self) {
            try PipelineConfig.parse(sources: [("t.toml", """
                [f]
                type = "SandboxFilter"
                filename = "f.lua"
                message_matcher = "TRUE"
                [f.config]
                when = 1979-05-27T07:32:00Z
                """)], directory: dir.path)
        }
    }
}

import Foundation
import Testing
@testable import LuaPipeline

/// Counters are declared once: every counter a plugin updates is declared for its kind.
@Suite struct CounterDeclarationTests {
    @Test func anUndeclaredKeyFails() {
        let c = PluginCounters(name: "x", category: .filter)
        #expect(throws: UndeclaredCounter.self) { try c.value(named: "bogus") }
        #expect((try? c.value(named: "processed")) == 0)
        // A key declared, but not for this kind, is flagged.
        c.add(.connections)
        #expect(c.undeclaredUpdates == ["connections"])
    }

    @Test func everyCounterAPipelineUpdatesIsDeclared() throws {
        let dir = temporaryDirectory()
        FileManager.default.createFile(atPath: dir.appendingPathComponent("count.lua").path, contents: Data("""
            n = 0
            function process_message() n = n + 1; if n % 5 == 0 then return -1 end; return 0 end
            function timer_event() inject_payload("txt", "count", tostring(n)) end
            """.utf8))
        let text = """
            [luapiped]
            base_dir = "state"
            sandbox_dir_watch = "off"

            [StdinInput]

            [count]
            type = "SandboxFilter"
            filename = "count.lua"
            message_matcher = "Type == 'StdinInput'"

            [out]
            type = "FileOutput"
            path = "out.txt"
            message_matcher = "TRUE"
            encoder = "PayloadEncoder"

            [PayloadEncoder]
            """
        let path = dir.appendingPathComponent("c.toml").path
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let p = try Pipeline(config: try PipelineConfig.load(path: path), log: PipelineLog(sink: { _ in }), stdin: fds[0])
        p.start()
        writeInBackground(Array((0..<100).map { "line \($0)\n" }.joined().utf8), to: fds[1])
        p.runUntilInputsEnd()
        close(fds[0])
        for c in p.counters {
            #expect(c.undeclaredUpdates.isEmpty, "\(c.name) updated undeclared counters \(c.undeclaredUpdates)")
            for key in c.snapshot.keys { #expect(CounterKey.named(key) != nil) }
        }
        let filter = try #require(p.counters.first { $0.name == "count" })
        #expect(filter[.processed] == 100)
        #expect(filter[.failures] == 20)
        let input = try #require(p.counters.first { $0.name == "StdinInput" })
        #expect(input[.records] == 100)
        #expect(input[.bytes] > 0)
    }
}

import Foundation
import Testing
@testable import LuaPipeline

/// An output that cannot write, with full_action = "drop", holds nobody back.
@Suite struct BackpressureTests {
    let dir = temporaryDirectory()

    @Test func aStuckDropOutputDoesNotHoldBackItsSibling() throws {
        // A path under a regular file cannot be created, not even by root.
        FileManager.default.createFile(atPath: dir.appendingPathComponent("not-a-dir").path, contents: Data())
        let text = """
            [StdinInput]

            [stuck]
            type = "FileOutput"
            path = "not-a-dir/out.log"
            message_matcher = "TRUE"
            encoder = "PayloadEncoder"
            [stuck.buffering]
            max_buffer_size = 20000
            full_action = "drop"

            [good]
            type = "FileOutput"
            path = "good.log"
            message_matcher = "TRUE"
            encoder = "PayloadEncoder"
            flush_count = 500

            [PayloadEncoder]
            """
        let path = dir.appendingPathComponent("c.toml").path
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let p = try Pipeline(config: try PipelineConfig.load(path: path), log: PipelineLog(sink: { _ in }), stdin: fds[0])
        p.drainTimeout = 0.5
        p.start()
        writeInBackground(Array((1...20_000).map { "line \($0)" }.joined(separator: "\n").utf8) + [0x0A], to: fds[1])
        p.runUntilInputsEnd()
        close(fds[0])
        let good = try String(contentsOf: dir.appendingPathComponent("good.log"), encoding: .utf8).split(separator: "\n")
        #expect(good.count == 20_000)
        #expect(good.last == "line 20000")
        let stuck = try #require(p.counters.first { $0.name == "stuck" })
        #expect(stuck["write_failures"] > 0)
        #expect(stuck["dropped"] > 15_000)
    }
}

#if canImport(Glibc)
import Glibc
#endif

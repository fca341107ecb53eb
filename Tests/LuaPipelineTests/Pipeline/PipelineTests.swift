import Foundation
import Synchronization
import Testing
@testable import LuaPipeline

/// The daemon in-process: stdin (a pipe) → nginx decoder → router → status filter and
/// outputs, stopped gracefully at end of input.
@Suite struct PipelineTests {
    let dir = temporaryDirectory()
    let lua = repositoryRoot.appendingPathComponent("lua").path

    private func config(_ extra: String = "") throws -> PipelineConfig {
        let text = """
            [luapiped]
            base_dir = "state"
            share_dir = "\(lua)"

            [StdinInput]
            decoder = "nginx"

            """ + nginxStatusSections(luaDirectory: lua, summaryPath: "out/summary.json") + """
            [decoded]
            type = "FileOutput"
            path = "out/decoded.framed"
            message_matcher = "Type == 'nginx.access'"
            encoder = "ProtobufEncoder"
            flush_count = 100

            [ProtobufEncoder]
            \(extra)
            """
        let path = dir.appendingPathComponent("luapiped.toml").path
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return try PipelineConfig.load(path: path)
    }

    /// Runs the pipeline on `lines` through a pipe standing in for stdin.
    private func run(_ lines: [String], log: PipelineLog = PipelineLog(sink: { _ in })) throws -> Pipeline {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let p = try Pipeline(config: try config(), log: log, stdin: fds[0])
        p.start()
        writeInBackground(Array((lines.joined(separator: "\n") + "\n").utf8), to: fds[1])
        p.runUntilInputsEnd()
        close(fds[0])
        return p
    }

    private func summaries() throws -> [Message] {
        let text = try String(contentsOf: dir.appendingPathComponent("out/summary.json"), encoding: .utf8)
        return try text.split(separator: "\n").map { try Message.fromJSON(Array($0.utf8)).message }
    }

    @Test func nginxLinesAreDecodedCountedAndWritten() throws {
        var gen = NginxLogGenerator(seed: 11)
        let log = gen.make(2000)
        let p = try run(log.lines)
        let decoder = try #require(p.counters.first { $0.name == "StdinInput" })
        #expect(decoder["records"] == 2000)
        #expect(decoder["decode_failures"] == Int64(log.malformed))
        #expect(decoder["processed"] == Int64(2000 - log.malformed))

        let last = try #require(try summaries().last)
        #expect(last.field("total")?.value == .integer([Int64(2000 - log.malformed)]))
        for (status, n) in log.statusCounts {
            #expect(last.field("HTTP_\(status)")?.value == .integer([Int64(n)]))
        }
        // Every decoded message reached the protobuf file, framed, in order.
        let framed = try Data(contentsOf: dir.appendingPathComponent("out/decoded.framed"))
        var reader = FramedStreamReader()
        let records = reader.feed(Array(framed)) + reader.finish()
        let messages = records.compactMap { if case .message(let b) = $0 { return try? Message(protobuf: b) } else { return nil } }
        #expect(messages.count == 2000 - log.malformed)
        #expect(messages.allSatisfy { $0.type == "nginx.access" && $0.field("status") != nil })
        // preserve_data wrote the filter's state.
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("state/sandbox_preservation/status.data").path))
    }

    @Test func preservedCountsContinueAfterARestart() throws {
        var gen = NginxLogGenerator(seed: 5)
        let first = gen.make(300, malformedEvery: 1000), second = gen.make(200, malformedEvery: 1000)
        _ = try run(first.lines)
        _ = try run(second.lines)
        let last = try #require(try summaries().last)
        #expect(last.field("total")?.value == .integer([500]))
    }

    @Test func aTerminatedFilterIsReportedAndTheRestRuns() throws {
        FileManager.default.createFile(atPath: dir.appendingPathComponent("bomb.lua").path,
                                       contents: Data("function process_message() local t = {} while true do t[#t+1] = t end end".utf8))
        let lines = Mutex<[String]>([])
        var fds: [Int32] = [0, 0]
        _ = pipe(&fds)
        let cfg = try config("""
            [bomb]
            type = "SandboxFilter"
            filename = "\(dir.appendingPathComponent("bomb.lua").path)"
            message_matcher = "TRUE"
            [bomb.retries]
            max_retries = 0

            [terminations]
            type = "FileOutput"
            path = "out/terminated.json"
            message_matcher = "Type == 'heka.sandbox-terminated'"
            encoder = "JsonEncoder"
            """)
        let p = try Pipeline(config: cfg, log: PipelineLog(sink: { l in lines.withLock { $0.append(l) } }), stdin: fds[0])
        p.start()
        let row = "10.0.0.1 - - [24/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"x\"\n"
        _ = Array(String(repeating: row, count: 50).utf8).withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
        close(fds[1])
        p.runUntilInputsEnd()
        close(fds[0])
        #expect(lines.withLock { $0 }.contains { $0.hasPrefix("bomb: error: terminated: process_message() memory_limit exceeded") || $0.contains("instruction_limit exceeded") })
        let reported = try String(contentsOf: dir.appendingPathComponent("out/terminated.json"), encoding: .utf8)
        #expect(reported.contains("\"plugin\":\"bomb\""))
        #expect(try summaries().last?.field("total")?.value == .integer([50]))
    }

    @Test func oneWorkerServesSeveralFiltersFully() throws {
        FileManager.default.createFile(atPath: dir.appendingPathComponent("count.lua").path, contents: Data("""
            n = 0
            function process_message() n = n + 1 return 0 end
            function timer_event(ns, shutdown) if shutdown then inject_payload("txt", "count", n) end end
            """.utf8))
        var sections = """
            [luapiped]
            sandbox_workers = 1

            [StdinInput]

            [counts]
            type = "FileOutput"
            path = "counts.txt"
            message_matcher = "Type == 'heka.sandbox-output'"
            encoder = "PayloadEncoder"

            [PayloadEncoder]

            """
        for i in 1...3 {
            sections += """

                [count\(i)]
                type = "SandboxFilter"
                filename = "count.lua"
                message_matcher = "Type == 'StdinInput'"

                """
        }
        let path = dir.appendingPathComponent("pool.toml").path
        FileManager.default.createFile(atPath: path, contents: Data(sections.utf8))
        var fds: [Int32] = [0, 0]
        _ = pipe(&fds)
        let p = try Pipeline(config: try PipelineConfig.load(path: path), log: PipelineLog(sink: { _ in }), stdin: fds[0])
        p.start()
        writeInBackground(Array(String(repeating: "x\n", count: 5000).utf8), to: fds[1])
        p.runUntilInputsEnd()
        close(fds[0])
        let counts = try String(contentsOf: dir.appendingPathComponent("counts.txt"), encoding: .utf8).split(separator: "\n")
        #expect(counts == ["5000", "5000", "5000"])
    }

    @Test func aFilterThatTripsItsMemoryLimitIsRestartedWithItsCounts() throws {
        FileManager.default.createFile(atPath: dir.appendingPathComponent("fragile.lua").path, contents: Data("""
            n = 0
            function process_message()
              if read_message("Payload") == "boom" then
                local t = {} while true do t[#t + 1] = string.rep("x", 1000) end
              end
              n = n + 1
              return 0
            end
            function timer_event(ns, shutdown) if shutdown then inject_payload("txt", "count", n) end end
            """.utf8))
        let path = dir.appendingPathComponent("fragile.toml").path
        FileManager.default.createFile(atPath: path, contents: Data("""
            [luapiped]
            base_dir = "state"

            [StdinInput]

            [fragile]
            type = "SandboxFilter"
            filename = "fragile.lua"
            message_matcher = "Type == 'StdinInput'"
            preserve_data = true
            [fragile.retries]
            delay = "1ms"
            max_jitter = 0

            [counts]
            type = "FileOutput"
            path = "fragile.txt"
            message_matcher = "Type == 'heka.sandbox-output'"
            encoder = "PayloadEncoder"

            [everything]
            type = "FileOutput"
            path = "all.txt"
            message_matcher = "Type == 'StdinInput'"
            encoder = "PayloadEncoder"

            [PayloadEncoder]
            """.utf8))
        var fds: [Int32] = [0, 0]
        _ = pipe(&fds)
        let p = try Pipeline(config: try PipelineConfig.load(path: path), log: PipelineLog(sink: { _ in }), stdin: fds[0])
        p.start()
        let lines = (1...100).map { $0 % 25 == 0 ? "boom" : "line \($0)" }
        writeInBackground(Array((lines.joined(separator: "\n") + "\n").utf8), to: fds[1])
        p.runUntilInputsEnd()
        close(fds[0])
        let c = p.counters.first { $0.name == "fragile" }!
        #expect(c["terminations"] == 4 && c["restarts"] == 4 && c["skipped"] == 4)
        let count = try String(contentsOf: dir.appendingPathComponent("fragile.txt"), encoding: .utf8)
        #expect(count.split(separator: "\n").last == "96")  // the count survived every restart
        let all = try String(contentsOf: dir.appendingPathComponent("all.txt"), encoding: .utf8).split(separator: "\n")
        #expect(all.count == 100)  // the rest of the pipeline is unaffected
    }
}

#if canImport(Glibc)
import Glibc
#endif
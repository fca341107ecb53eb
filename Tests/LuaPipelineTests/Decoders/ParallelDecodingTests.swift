import Foundation
import Synchronization
import Testing
@testable import LuaPipeline

/// `decoder_workers`: a LogstreamerInput's records decoded by several instances of its
/// decoder on several threads, appended in the order they were read.
@Suite(.serialized) struct ParallelDecodingTests {
    let dir = temporaryDirectory()
    final class Log: Sendable { let lines = Mutex<[String]>([]) }
    let log = Log()

    init() throws {
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("logs"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("lua.d/decoders"), withIntermediateDirectories: true)
    }

    private func path(_ relative: String) -> String { dir.appendingPathComponent(relative).path }

    private func put(_ relative: String, _ text: String) {
        let tmp = path(relative) + ".tmp"
        _ = FileManager.default.createFile(atPath: tmp, contents: Data(text.utf8))
        _ = rename(tmp, path(relative))
    }

    /// A decoder tagging each line `"<tag> <line>"`; a line that is not "<stream> <n>" fails.
    static func taggingDecoder(_ tag: String) -> String {
        """
        local msg = {Type = "seq", Fields = {}}
        function process_message()
          local line = read_message("Payload")
          local stream, n = line:match("^(%a+) (%d+)$")
          if not stream then return -1, "not a sequence line" end
          msg.Payload = "\(tag) " .. line
          msg.Fields.stream = stream
          inject_message(msg)
          return 0
        end
        """
    }

    private func pipeline(workers: Int, input extra: String = "") throws -> Pipeline {
        let config = """
            [luapiped]
            base_dir = "state"
            sandbox_dir = "lua.d"
            sandbox_dir_debounce = "30ms"
            sandbox_dir_poll_interval = "50ms"

            [files]
            type = "LogstreamerInput"
            log_directory = "logs"
            file_match = '[ab]\\.log$'
            rescan_interval = "20ms"
            decoder = "tag"
            decoder_workers = \(workers)
            \(extra)

            [decoded]
            type = "FileOutput"
            path = "decoded.txt"
            message_matcher = "Type == 'seq'"
            encoder = "PayloadEncoder"

            [PayloadEncoder]
            """
        put("luapiped.toml", config)
        return try Pipeline(config: try PipelineConfig.load(path: path("luapiped.toml")),
                            log: PipelineLog(sink: { [log] line in log.lines.withLock { $0.append(line) } }))
    }

    private func counter(_ p: Pipeline, _ plugin: String, _ key: String) -> Int64 {
        p.counters.first { $0.name == plugin }?[key] ?? 0
    }

    private func lines() -> [String] {
        ((try? String(contentsOfFile: path("decoded.txt"), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// Runs the pipeline until `written` messages reached the output, then stops it.
    private func run(_ p: Pipeline, until written: Int64, while feeding: () throws -> Void = {}) rethrows {
        p.start()
        let runner = Thread { p.runUntilInputsEnd() }
        runner.start()
        try feeding()
        eventually("the output wrote \(written) messages", timeout: .seconds(120),
                   detail: { "log:\n" + log.lines.withLock { $0 }.suffix(20).joined(separator: "\n") }) {
            counter(p, "decoded", "processed") >= written
        }
        p.requestStop()
        eventually("the pipeline stopped") { runner.isFinished }
    }

    @Test func fourDecodeThreadsKeepEveryStreamsOrderAndLoseNothing() throws {
        put("lua.d/decoders/tag.lua", Self.taggingDecoder("v1"))
        let n = 30_000
        for stream in ["a", "b"] {
            // every 1,000th line is malformed: counted and logged, the others keep their order
            let text = (1...n).map { $0 % 1000 == 0 ? "bad line \($0)" : "\(stream) \($0)" }
            try append(lines: text, toFile: dir.appendingPathComponent("logs/\(stream).log"))
        }
        let p = try pipeline(workers: 4)
        let good = 2 * (n - n / 1000)
        try run(p, until: Int64(good))

        #expect(counter(p, "files", "records") == Int64(2 * n))
        #expect(counter(p, "files", "decode_failures") == Int64(2 * (n / 1000)))
        let out = lines()
        #expect(out.count == good)
        for stream in ["a", "b"] {
            let seen = out.filter { $0.hasPrefix("v1 \(stream) ") }.map { Int($0.split(separator: " ")[2])! }
            #expect(seen == (1...n).filter { $0 % 1000 != 0 }, "stream \(stream) in order, complete")
        }
        // the failures name their file and byte offset, as with one decode thread
        let failures = log.lines.withLock { $0 }.filter { $0.contains("not a sequence line") }
        #expect(failures.count == 2 * (n / 1000))
        #expect(failures.first?.contains(".log at byte ") == true)
    }

    /// The crew decodes a chunk while the input reads the next and appends the one before:
    /// a stop in the middle of a file finds a batch decoded and not yet appended. It is
    /// appended before the final journal, so the next run starts after it: every line
    /// written once, in order.
    @Test func aStopWithABatchInFlightResumesAtTheFirstLineNotWritten() throws {
        put("lua.d/decoders/tag.lua", Self.taggingDecoder("v1"))
        let n = 60_000
        try append(lines: (1...n).map { "a \($0)" }, toFile: dir.appendingPathComponent("logs/a.log"))
        let first = try pipeline(workers: 2)
        try run(first, until: 2_000)
        let written = lines().count
        #expect(Int64(written) == counter(first, "decoded", "processed"))
        let second = try pipeline(workers: 2)
        try run(second, until: Int64(n - written))
        let out = lines().map { Int($0.split(separator: " ")[2])! }
        #expect(out.count == n)
        let wrong = zip(out, 1...n).first { $0 != $1 }
        #expect(wrong == nil, "each line once, in order: line \(wrong?.1 ?? 0) is \(wrong?.0 ?? 0); the first run wrote \(written)")
    }

    /// With `delivery = "disk"` the durable queue closes before the inputs stop, so the
    /// batch in flight at a stop cannot be appended: the journal stays before it, and the
    /// next run reads it again (at least once, never lost).
    @Test func aBatchThatCannotBeAppendedAtTheStopIsReadAgain() throws {
        put("lua.d/decoders/tag.lua", Self.taggingDecoder("v1"))
        let n = 60_000
        try append(lines: (1...n).map { "a \($0)" }, toFile: dir.appendingPathComponent("logs/a.log"))
        let first = try pipeline(workers: 2, input: "delivery = \"disk\"")
        try run(first, until: 2_000)
        let second = try pipeline(workers: 2, input: "delivery = \"disk\"")
        try run(second, until: 0) {
            eventually("every line was written", timeout: .seconds(120)) { Set(lines()).count == n }
        }
        var seen = Set<Int>(), firsts: [Int] = []
        for line in lines() where seen.insert(Int(line.split(separator: " ")[2])!).inserted { firsts.append(Int(line.split(separator: " ")[2])!) }
        #expect(firsts.count == n)
        let wrong = zip(firsts, 1...n).first { $0 != $1 }
        #expect(wrong == nil, "every line, first seen in order: line \(wrong?.1 ?? 0) is \(wrong?.0 ?? 0)")
    }

    @Test func aNewVersionTakesOverInEveryInstanceAtOneRecord() throws {
        put("lua.d/decoders/tag.lua", Self.taggingDecoder("v1"))
        let p = try pipeline(workers: 3)
        let log = dir.appendingPathComponent("logs/a.log")
        var sent = 0
        func send(_ count: Int) throws {
            try append(lines: (sent + 1...sent + count).map { "a \($0)" }, toFile: log)
            sent += count
        }
        try run(p, until: 0) {
            try send(5_000)
            eventually("the first lines were decoded") { counter(p, "decoded", "processed") >= 5_000 }
            put("lua.d/decoders/tag.lua", Self.taggingDecoder("v2"))
            eventually("the new version took over", timeout: .seconds(60), interval: .milliseconds(20), step: { try? send(500) }) {
                (p.status["tag"]?.replacements ?? 0) >= 1
            }
            for _ in 0..<10 { try send(2_000) }  // whole batches for every instance
            eventually("every line was decoded", timeout: .seconds(120)) { counter(p, "decoded", "processed") >= Int64(sent) }
        }
        let out = lines()
        #expect(out.count == sent)
        #expect(out.map { Int($0.split(separator: " ")[2])! } == Array(1...sent), "in order, complete")
        // one boundary: v1 up to some record, v2 from the next one on, in every instance
        let firstNew = try #require(out.firstIndex { $0.hasPrefix("v2 ") })
        #expect(firstNew > 0)
        #expect(out[..<firstNew].allSatisfy { $0.hasPrefix("v1 ") })
        #expect(out[firstNew...].allSatisfy { $0.hasPrefix("v2 ") })
    }

    @Test func decoderWorkersOutOfRangeIsAConfigError() throws {
        let text = """
            [files]
            type = "LogstreamerInput"
            log_directory = "logs"
            file_match = 'a\\.log$'
            decoder_workers = 0
            """
        #expect {
            try PipelineConfig.parse(sources: [("bad.toml", text)], directory: dir.path, environment: [:])
        } throws: { error in
            "\(error)".contains("decoder_workers") && "\(error)".contains("from 1 to 64")
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

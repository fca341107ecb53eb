import Foundation
import Testing
@testable import LuaPipeline

/// LogstreamerInput end to end: rotation by rename and by copy-truncate mid-run, and a
/// restart that neither loses nor replays a line.
@Suite(.serialized) struct LogstreamerTests {
    let dir = temporaryDirectory()
    let lua = repositoryRoot.appendingPathComponent("lua").path
    var logs: URL { dir.appendingPathComponent("logs") }

    init() throws {
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("logs"), withIntermediateDirectories: true)
    }

    private func pipeline() throws -> Pipeline {
        let text = tailingNginxSections(luaDirectory: lua)
        let path = dir.appendingPathComponent("luapiped.toml").path
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        // Rotation notices go to stderr: they explain a failure; parse failures would drown them.
        return try Pipeline(config: try PipelineConfig.load(path: path), log: PipelineLog(sink: { line in
            if !line.contains("Failed to parse") { FileHandle.standardError.write(Data("log: \(line)\n".utf8)) }
        }))
    }

    private func append(_ lines: ArraySlice<String>, to name: String = "access.log") throws {
        try LuaPipelineTests.append(lines: lines, toFile: logs.appendingPathComponent(name))
    }

    /// Waits (bounded) until the status filter has processed `n` messages.
    private func waitForProcessed(_ p: Pipeline, _ n: Int64) {
        let status = p.counters.first { $0.name == "status" }!
        eventually("the status filter processed \(n) messages", timeout: .seconds(120),
                   detail: { p.counters.map { "\($0.name) \($0.snapshot)" }.joined(separator: "\n") }) {
            status["processed"] >= n
        }
    }

    private func lastSummary() throws -> Message {
        let text = try String(contentsOf: dir.appendingPathComponent("summary.json"), encoding: .utf8)
        let last = try #require(text.split(separator: "\n").last)
        return try Message.fromJSON(Array(last.utf8)).message
    }

    @Test func theScanListsNestedAndHiddenFilesWithoutFollowingLinkedFolders() throws {
        let fm = FileManager.default
        try fm.createDirectory(at: logs.appendingPathComponent("app/old"), withIntermediateDirectories: true)
        for f in ["a.log", ".hidden.log", "app/b.log", "app/old/c.log"] {
            _ = fm.createFile(atPath: logs.appendingPathComponent(f).path, contents: Data("x\n".utf8))
        }
        let elsewhere = dir.appendingPathComponent("elsewhere")
        try fm.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        _ = fm.createFile(atPath: elsewhere.appendingPathComponent("d.log").path, contents: Data("x\n".utf8))
        try fm.createSymbolicLink(at: logs.appendingPathComponent("linked"), withDestinationURL: elsewhere)
        #expect(FileMatch.walk(logs.path).sorted() == [".hidden.log", "a.log", "app", "app/b.log", "app/old", "app/old/c.log", "linked"])
        #expect(FileMatch.walk(dir.appendingPathComponent("missing").path).isEmpty)
    }

    @Test func rotationByRenameAndCopyTruncateLosesNothing() throws {
        var gen = NginxLogGenerator(seed: 3)
        let log = gen.make(200_000)
        let lines = log.lines[...]
        let p = try pipeline()
        p.start()
        let runner = Thread { p.runUntilInputsEnd() }
        runner.start()
        let valid = { (slice: ArraySlice<String>) in Int64(slice.filter { !$0.hasPrefix("not an access") }.count) }

        try append(lines[0..<40_000])
        try append(lines[40_000..<70_000])
        waitForProcessed(p, valid(lines[0..<50_000]))  // mid-file
        // Rename rotation: the old file keeps being read to its end under its new name.
        try FileManager.default.moveItem(at: logs.appendingPathComponent("access.log"), to: logs.appendingPathComponent("access.log.1"))
        try append(lines[70_000..<140_000])
        waitForProcessed(p, valid(lines[0..<100_000]))
        // Copy-truncate: what was not read yet is read from the copy.
        try append(lines[140_000..<150_000])
        try FileManager.default.copyItem(at: logs.appendingPathComponent("access.log"), to: logs.appendingPathComponent("access.log.2"))
        let h = try FileHandle(forWritingTo: logs.appendingPathComponent("access.log"))
        try h.truncate(atOffset: 0)
        try h.close()
        try append(lines[150_000..<200_000])

        waitForProcessed(p, valid(lines[...]))
        p.requestStop()
        eventually("the pipeline stopped") { runner.isFinished }

        let input = try #require(p.counters.first { $0.name == "access" })
        #expect(input["records"] == 200_000)
        #expect(input["decode_failures"] == Int64(log.malformed))
        let summary = try lastSummary()
        #expect(summary.field("total")?.value == .integer([Int64(200_000 - log.malformed)]))
        for (status, n) in log.statusCounts {
            #expect(summary.field("HTTP_\(status)")?.value == .integer([Int64(n)]), "status \(status)")
        }
    }

    @Test func aRestartResumesFromTheJournalExactlyOnce() throws {
        var gen = NginxLogGenerator(seed: 9)
        let lines = gen.make(3000, malformedEvery: 100_000).lines
        try append(lines[0..<1000])
        do {
            let p = try pipeline()
            p.start()
            let runner = Thread { p.runUntilInputsEnd() }
            runner.start()
            try append(lines[1000..<1500])
            waitForProcessed(p, 1500)
            p.requestStop()  // SIGTERM does this
            eventually("the first pipeline stopped") { runner.isFinished }
        }
        // While it is down: more lines, one of them left without its newline for a moment.
        try append(lines[1500..<2500])
        do {
            let p = try pipeline()
            p.start()
            let runner = Thread { p.runUntilInputsEnd() }
            runner.start()
            try append(lines[2500..<3000])
            waitForProcessed(p, 1500)
            p.requestStop()
            eventually("the second pipeline stopped") { runner.isFinished }
        }
        #expect(try lastSummary().field("total")?.value == .integer([3000]))
    }

    @Test func aRotatedSequenceIsReadOldestFirstAndFollowed() throws {
        // Three generations already there when luapiped starts, then a rotation that
        // renames every file one step older while it runs.
        for (name, range) in [("access.log.2", 1...3), ("access.log.1", 4...6), ("access.log", 7...9)] {
            try append(ArraySlice(range.map { "line \($0)" }), to: name)
        }
        let text = """
            [luapiped]
            base_dir = "seq-state"

            [access]
            type = "LogstreamerInput"
            log_directory = "logs"
            file_match = 'access\\.log\\.?(?P<Seq>\\d*)$'
            differentiator = ["access"]
            priority = ["^Seq"]
            rescan_interval = "20ms"

            [out]
            type = "FileOutput"
            path = "seq.txt"
            message_matcher = "TRUE"
            encoder = "PayloadEncoder"

            [PayloadEncoder]
            """
        let path = dir.appendingPathComponent("seq.toml").path
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        let p = try Pipeline(config: try PipelineConfig.load(path: path), log: PipelineLog(sink: { _ in }))
        p.start()
        let runner = Thread { p.runUntilInputsEnd() }
        runner.start()
        let out = p.counters.first { $0.name == "out" }!
        eventually("the three generations are written") { out["written"] >= 9 }
        let fm = FileManager.default
        try fm.moveItem(at: logs.appendingPathComponent("access.log.2"), to: logs.appendingPathComponent("access.log.3"))
        try fm.moveItem(at: logs.appendingPathComponent("access.log.1"), to: logs.appendingPathComponent("access.log.2"))
        try fm.moveItem(at: logs.appendingPathComponent("access.log"), to: logs.appendingPathComponent("access.log.1"))
        try append(["line 10", "line 11"])
        eventually("the lines after the rotation are written") { out["written"] >= 11 }
        p.requestStop()
        eventually("the pipeline stopped") { runner.isFinished }
        let got = try String(contentsOf: dir.appendingPathComponent("seq.txt"), encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(got == (1...11).map { "line \($0)" })
    }
}

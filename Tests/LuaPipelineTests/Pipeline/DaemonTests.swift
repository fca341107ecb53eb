import Foundation
import Testing
@testable import LuaPipeline

/// The `luapiped` daemon as an operator runs it: SIGTERM mid-file and a restart, a broken
/// config, `check`.
@Suite struct DaemonTests {
    let dir = temporaryDirectory()
    let lua = repositoryRoot.appendingPathComponent("lua").path

    private func run(_ args: [String]) throws -> Process {
        let p = Process()
        p.executableURL = CommandLineTests.binary
        p.arguments = args
        p.currentDirectoryURL = dir
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    private func appendLines(_ lines: ArraySlice<String>) throws {
        try append(lines: lines, toFile: dir.appendingPathComponent("logs/access.log"))
    }

    @Test func sigtermMidFileThenRestartCountsEveryLineOnce() throws {
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("logs"), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir.appendingPathComponent("luapiped.toml").path, contents: Data(tailingNginxSections(luaDirectory: lua).utf8))
        var gen = NginxLogGenerator(seed: 21)
        let lines = gen.make(120_000, malformedEvery: 1_000_000).lines
        try appendLines(lines[0..<100_000])
        let first = try run(["run", "-c", "luapiped.toml"])
        defer { terminateAndWait(first) }
        // Stop it once its journal shows it is reading: most likely in the middle of the file.
        let journal = dir.appendingPathComponent("state/logstreamer/access/access.log.journal").path
        eventually("the first run wrote its journal") { FileManager.default.fileExists(atPath: journal) }
        #expect(terminateAndWait(first) == 0)
        try appendLines(lines[100_000...])  // written while it is down
        let second = try run(["run", "-c", "luapiped.toml"])
        defer { terminateAndWait(second) }
        // Done when the journal reaches the end of the file.
        let size = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("logs/access.log").path)[.size] as! Int
        eventually("the second run's journal reached the end of the file") {
            LogstreamJournal.load(journal)?.offset == Int64(size)
        }
        #expect(terminateAndWait(second) == 0)
        let text = try String(contentsOf: dir.appendingPathComponent("summary.json"), encoding: .utf8)
        let last = try Message.fromJSON(Array(text.split(separator: "\n").last!.utf8)).message
        #expect(last.field("total")?.value == .integer([120_000]))
    }

    @Test func aBrokenConfigExitsOneWithLocatedErrors() throws {
        FileManager.default.createFile(atPath: dir.appendingPathComponent("broken.toml").path, contents: Data("""
            [StdinInput]
            decoder = "missing"

            [LogOutput]
            message_matcher = "Type =="
            """.utf8))
        for command in [["run", "-c", "broken.toml"], ["check", "-c", "broken.toml"]] {
            let p = Process()
            p.executableURL = CommandLineTests.binary
            p.arguments = command
            p.currentDirectoryURL = dir
            let err = Pipe()
            p.standardError = err
            p.standardInput = FileHandle.nullDevice
            try p.run()
            let stderr = PipeCollector(err)
            #expect(waitForExit(p) == 1)
            let text = stderr.finish()
            #expect(text.contains("broken.toml:1: [StdinInput] decoder: no section named \"missing\""))
            #expect(text.contains("broken.toml:5: [LogOutput] message_matcher: syntax error"))
        }
        FileManager.default.createFile(atPath: dir.appendingPathComponent("good.toml").path, contents: Data("[StdinInput]\n[LogOutput]\nmessage_matcher = \"TRUE\"\n".utf8))
        let ok = try run(["check", "-c", "good.toml"])
        #expect(waitForExit(ok) == 0)
    }
}

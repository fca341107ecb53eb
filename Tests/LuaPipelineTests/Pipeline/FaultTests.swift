#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import LuaPipeline

/// Faults stay where they happen: a filter that keeps failing or one stuck in a call holds
/// back neither the inputs nor the other plugins, and a stop is bounded.
@Suite struct FaultTests {
    let dir = temporaryDirectory()

    /// The daemon reading `lines` on its standard input (kept open), with `config`; its
    /// standard error is collected.
    private func daemon(_ config: String) throws -> (Process, FileHandle, PipeCollector) {
        FileManager.default.createFile(atPath: dir.appendingPathComponent("luapiped.toml").path, contents: Data(config.utf8))
        let p = Process()
        p.executableURL = CommandLineTests.binary
        p.arguments = ["run", "-v", "-c", "luapiped.toml"]
        p.currentDirectoryURL = dir
        let input = Pipe(), err = Pipe()
        p.standardInput = input
        p.standardOutput = FileHandle.nullDevice
        p.standardError = err
        try p.run()
        return (p, input.fileHandleForWriting, PipeCollector(err))
    }

    private func write(_ name: String, _ text: String) {
        FileManager.default.createFile(atPath: dir.appendingPathComponent(name).path, contents: Data(text.utf8))
    }

    private func lines(_ name: String) -> [Substring] {
        ((try? String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)) ?? "").split(separator: "\n")
    }

    /// The value of `key` in the last `-v` report line of `plugin`.
    private func reported(_ text: String, _ plugin: String, _ key: String) -> Int? {
        guard let line = text.split(separator: "\n").last(where: { $0.hasPrefix("\(plugin): ") && $0.contains(" processed=") }) else { return nil }
        return line.split(separator: " ").first { $0.hasPrefix("\(key)=") }.flatMap { Int($0.dropFirst(key.count + 1)) }
    }

    static let counting = """
        count = 0
        function process_message() count = count + 1 return 0 end
        function timer_event(ns, shutdown) inject_payload("txt", "count", tostring(count)) end
        """

    @Test func aFilterFailingOnEveryFifthMessageHoldsNobodyBack() throws {
        write("failing.lua", """
            n = 0
            function process_message()
              n = n + 1
              if n % 5 == 0 then error("every fifth message fails") end
              return 0
            end
            """)
        write("counting.lua", Self.counting)
        let (p, stdin, stderr) = try daemon("""
            [luapiped]
            base_dir = "state"
            sandbox_dir_watch = "off"
            shutdown_timeout = "20s"

            [StdinInput]

            [failing]
            type = "SandboxFilter"
            filename = "failing.lua"
            message_matcher = "Type == 'StdinInput'"
            
            [failing.buffering]
            max_buffer_size = 1048576

            [counting]
            type = "SandboxFilter"
            filename = "counting.lua"
            message_matcher = "Type == 'StdinInput'"
            ticker_interval = 3600

            [all]
            type = "FileOutput"
            path = "all.txt"
            message_matcher = "Type == 'StdinInput'"
            encoder = "PayloadEncoder"
            [PayloadEncoder]

            [counts]
            type = "FileOutput"
            path = "counts.txt"
            message_matcher = "Logger == 'counting'"
            encoder = "PayloadEncoder"
            """)
        defer { terminateAndWait(p) }
        let total = 100_000
        try stdin.write(contentsOf: Data((0..<total).map { "line \($0)" }.joined(separator: "\n").utf8 + [0x0A]))
        eventually("the FileOutput wrote every line", detail: { stderr.text.suffix(2000).description }) { lines("all.txt").count == total }
        stderr.wait(for: "failing: error: not running and its max_buffer_size is full")
        p.terminate()
        #expect(waitForExit(p, "it exited within shutdown_timeout", timeout: .seconds(40)) == 0)
        let text = stderr.finish()
        #expect(lines("counts.txt").last == "\(total)")
        let processed = try #require(reported(text, "failing", "processed")), dropped = try #require(reported(text, "failing", "dropped"))
        #expect(processed + dropped == total, "processed \(processed) (failed ones included) + dropped \(dropped)")
        #expect(try #require(reported(text, "failing", "skipped")) > 0)
    }

    @Test func aFilterStuckInOneCallLeavesItsWorkerAndTheStopIsBounded() throws {
        write("stuck.lua", """
            function process_message()
              if read_message("Payload") == "stick" then string.find(("a"):rep(3000), ".-.-.-.-b") end
              return 0
            end
            """)
        write("counting.lua", Self.counting)
        let (p, stdin, stderr) = try daemon("""
            [luapiped]
            base_dir = "state"
            sandbox_dir_watch = "off"
            sandbox_workers = 1
            max_process_duration = "500ms"
            shutdown_timeout = "2s"

            [StdinInput]

            [stuck]
            type = "SandboxFilter"
            filename = "stuck.lua"
            message_matcher = "Type == 'StdinInput'"

            [counting]
            type = "SandboxFilter"
            filename = "counting.lua"
            message_matcher = "Type == 'StdinInput'"
            ticker_interval = 1

            [counts]
            type = "FileOutput"
            path = "counts.txt"
            message_matcher = "Logger == 'counting'"
            encoder = "PayloadEncoder"
            [PayloadEncoder]
            """)
        defer { terminateAndWait(p) }
        try stdin.write(contentsOf: Data("stick\n".utf8))
        stderr.wait(for: "stuck: error: stuck in one call")
        // Both filters started on the one worker; the counter counts on without it.
        try stdin.write(contentsOf: Data((0..<1000).map { "line \($0)" }.joined(separator: "\n").utf8 + [0x0A]))
        eventually("the counting filter counted the lines sent while the other is stuck", detail: { stderr.text }) {
            lines("counts.txt").last == "1001"
        }
        p.terminate()
        #expect(waitForExit(p, "it exited within shutdown_timeout", timeout: .seconds(30)) == 0)
        let text = stderr.finish()
        #expect(text.contains("stopped after 2 s (shutdown_timeout) with work abandoned: filters stuck in a call: stuck"), "\(text)")
    }
}

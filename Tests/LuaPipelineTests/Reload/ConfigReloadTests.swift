import Foundation
import Testing
@testable import LuaPipeline

/// SIGHUP: the config files are read again while messages flow.
@Suite struct ConfigReloadTests {
    let h = ReloadHarness()

    private func filterSection(_ name: String, _ file: String) -> String {
        """
        [\(name)]
        type = "SandboxFilter"
        filename = "\(file)"
        message_matcher = "Type == 'StdinInput'"

        """
    }

    private func allLines(flushCount: Int) -> String {
        """
        [all]
        type = "FileOutput"
        path = "out/all.txt"
        message_matcher = "Type == 'StdinInput'"
        encoder = "PayloadEncoder"
        flush_count = \(flushCount)

        """
    }

    @Test func addedRemovedAndChangedSectionsTakeEffectWhileMessagesFlow() throws {
        h.put("keep_v1.lua", countingFilter(version: 1))
        h.put("keep_v2.lua", countingFilter(version: 2))
        h.put("gone.lua", countingFilter(version: 1))
        h.put("added.lua", countingFilter(version: 1))
        h.put("luapiped.toml", h.configText(filterSection("keep", "keep_v1.lua") + filterSection("gone", "gone.lua") + allLines(flushCount: 1)))
        try h.start()
        h.send(count: 1000)
        h.waitUntil("gone counted 1000") { h.counter("gone", "processed") == 1000 }
        h.put("luapiped.toml", h.configText(filterSection("keep", "keep_v2.lua") + filterSection("added", "added.lua") + allLines(flushCount: 7)))
        #expect(h.pipeline.reloadConfig())
        // Its worker ends before it reports the removal.
        h.waitUntil("gone is reported stopped") { h.status("gone")?.state == .stopped }
        #expect(h.status("added")?.state == .running)
        h.keepSending(until: "keep's new version took over") { h.status("keep")?.replacements == 1 }
        let beforeAdded = 1000
        h.send(count: 1000, from: 1000)
        // A broken config is reported; the running one stays.
        h.put("luapiped.toml", "[luapiped\nbroken = ")
        #expect(!h.pipeline.reloadConfig())
        #expect(h.logged.withLock { $0 }.contains { $0.contains("config: error: reload failed, the running config stays") })
        h.send(count: 500, from: 2000)
        h.finish()
        let records = h.counter("StdinInput", "records")
        let counts = Set(h.lines("out/counts.txt"))
        #expect(counts.contains("\(records) v2"))  // keep: every message once across the swap
        #expect(counts.contains("1000 v1"))  // gone: stopped cleanly after its 1000
        let added = Int(h.counter("added", "processed"))
        #expect(added >= Int(records) - beforeAdded - 100 && counts.contains("\(added) v1"))
        // The changed output took over its predecessor's cursor: every line once, in order.
        let all = h.lines("out/all.txt")
        #expect(all.count == Int(records))
        #expect(all.filter { $0 != "tick" } == (0..<2500).map { "line \($0)" })
        let actions = h.events().map { "\($0.plugin) \($0.action)" }
        // The broken config is reported as a message too.
        #expect(Set(actions) == ["gone removed", "added added", "keep replaced", "all replaced", "config rejected"])
    }

    @Test func aChangedLogstreamerInputResumesWhereItsPredecessorStopped() throws {
        func config(rescan: String) -> String {
            """
            [luapiped]
            base_dir = "state"

            [access]
            type = "LogstreamerInput"
            log_directory = "logs"
            file_match = 'access\\.log$'
            rescan_interval = "\(rescan)"

            [all]
            type = "FileOutput"
            path = "out/all.txt"
            message_matcher = "Type == 'access'"
            encoder = "PayloadEncoder"
            flush_count = 100

            [PayloadEncoder]
            """
        }
        let log = (0..<20_000).map { "line \($0)" }.joined(separator: "\n") + "\n"
        h.put("logs/access.log", log)
        h.put("luapiped.toml", config(rescan: "20ms"))
        let p = try Pipeline(config: try PipelineConfig.load(path: h.configPath), log: PipelineLog(sink: { _ in }))
        p.start()
        eventually("1,000 lines are read", interval: .milliseconds(1)) { (p.counters.first { $0.name == "access" }?["records"] ?? 0) >= 1000 }
        h.put("luapiped.toml", config(rescan: "30ms"))
        #expect(p.reloadConfig())
        let more = try FileHandle(forWritingTo: URL(fileURLWithPath: h.path("logs/access.log")))
        try more.seekToEnd()
        try more.write(contentsOf: Data(((20_000..<30_000).map { "line \($0)" }.joined(separator: "\n") + "\n").utf8))
        try more.close()
        eventually("every line is written", interval: .milliseconds(20)) { h.lines("out/all.txt").count >= 30_000 }
        p.stop()
        #expect(h.lines("out/all.txt") == (0..<30_000).map { "line \($0)" })
        #expect(p.status["access"]?.replacements == 1)
    }

    @Test func sighupReloadsTheDaemonsConfig() throws {
        try FileManager.default.createDirectory(atPath: h.path("lua.d/filters"), withIntermediateDirectories: true)
        h.put("lua.d/filters/first.lua", countingFilter(version: 1))
        h.put("second.lua", countingFilter(version: 1))
        let base = """
            [luapiped]
            base_dir = "state"
            sandbox_dir_watch = "poll"
            sandbox_dir_poll_interval = "50ms"

            [UdpInput]
            address = "127.0.0.1:0"

            """
        h.put("luapiped.toml", base)
        let err = Pipe()
        let p = Process()
        p.executableURL = CommandLineTests.binary
        p.arguments = ["run", "-c", "luapiped.toml"]
        p.currentDirectoryURL = h.dir
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = err
        try p.run()
        defer { terminateAndWait(p) }
        let text = PipeCollector(err)
        text.wait(for: "SIGHUP reloads")
        // The drop-in filter is picked up at start-up; a new section arrives with SIGHUP.
        h.put("luapiped.toml", base + """
            [second]
            type = "SandboxFilter"
            filename = "second.lua"
            message_matcher = "Type == 'UdpInput'"
            """)
        kill(p.processIdentifier, SIGHUP)
        text.wait(for: "second: added: started")
        // A broken config on SIGHUP: reported, the daemon goes on.
        h.put("luapiped.toml", "[second\n")
        kill(p.processIdentifier, SIGHUP)
        text.wait(for: "reload failed")
        #expect(p.isRunning)
        #expect(terminateAndWait(p) == 0)
        let value = text.finish()
        #expect(value.contains("second: added: started"))
        #expect(value.contains("config: error: reload failed, the running config stays"))
    }
}

#if canImport(Glibc)
import Glibc
#endif

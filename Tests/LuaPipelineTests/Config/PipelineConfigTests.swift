import Foundation
import Testing
@testable import LuaPipeline

/// Heka-shaped TOML: defaults, conveniences and located errors.
@Suite struct PipelineConfigTests {
    let dir = temporaryDirectory()

    private func write(_ name: String, _ text: String) -> String {
        let path = dir.appendingPathComponent(name).path
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    private func errors(_ text: String) -> [String] {
        do {
            _ = try PipelineConfig.load(path: write("bad.toml", text))
            return []
        } catch {
            return error.errors.map(\.description)
        }
    }

    @Test func theEmbeddedDefaultParses() throws {
        let c = try DefaultConfig.load(directory: dir.path)
        #expect(c.plugins.map(\.name) == ["TcpInput", "UdpInput", "StdinInput", "StatsdInput", "StatAccumInput", "LogOutput", "JsonEncoder"])
        #expect(c.global.maxMessageLoops == 4 && c.global.maxProcessInject == 1 && c.global.maxTimerInject == 10)
        #expect(c.global.maxProcessDuration == 5)
    }

    @Test func typesDefaultToTheSectionNameAndDefaultsFillIn() throws {
        _ = write("count.lua", "function process_message() return 0 end")
        let c = try PipelineConfig.load(path: write("ok.toml", """
            [hekad]
            max_process_duration = "250ms"
            hostname = "%ENV[LUAPIPED_TEST_HOST]"

            [counter]
            type = "SandboxFilter"
            filename = "count.lua"
            message_matcher = "Type == 'x'"
            [counter.buffering]
            full_action = "drop"
            [counter.config]
            threshold = 5

            [ProtobufEncoder]
            """), environment: ["LUAPIPED_TEST_HOST": "web7"])
        #expect(c.global.maxProcessDuration == 0.25)
        #expect(c.global.hostname == "web7")
        let f = try #require(c.plugin(named: "counter"))
        #expect(f.type.name == "SandboxFilter")
        #expect(f.script == dir.appendingPathComponent("count.lua").path)
        #expect(f.options.sandboxOptions?.instructionLimit == 1_000_000)
        #expect(f.options.readerOptions?.buffering.fullAction == "drop")
        #expect(f.options.readerOptions?.buffering.maxBufferSize == Buffering.defaultMaxBufferSize)
        #expect(c.plugin(named: "ProtobufEncoder")?.type.category == .encoder)
    }

    @Test func errorsNameFileSectionKeyAndLine() {
        let found = errors("""
            [luapiped]
            bogus_global = 1

            [Nope]

            [out]
            type = "FileOutput"
            message_matcher = "Type =="
            encoder = "missing_encoder"
            colour = "blue"

            [f]
            type = "SandboxFilter"
            filename = "does-not-exist.lua"
            message_matcher = "TRUE"
            ticker_interval = "often"
            """)
        let file = dir.appendingPathComponent("bad.toml").path
        #expect(found.contains("\(file):2: [luapiped] bogus_global: unknown key (known: admin_address, base_dir, checkpoint_interval, cpuprof, full_buffer_max_retries, health_window, hostname, log_flags, max_message_loops, max_message_size, max_pack_idle, max_process_duration, max_process_inject, max_queue_size, max_timer_inject, maxprocs, memprof, pid_file, plugin_chansize, poolsize, queue_sync, report_interval, sample_denominator, sandbox_dir, sandbox_dir_debounce, sandbox_dir_poll_interval, sandbox_dir_watch, sandbox_workers, share_dir, shutdown_timeout)"))
        #expect(found.contains { $0.hasPrefix("\(file):4: [Nope] type: unknown plugin type \"Nope\"") })
        #expect(found.contains { $0.hasPrefix("\(file):10: [out] colour: unknown key") })
        #expect(found.contains { $0.hasPrefix("\(file):6: [out] path: missing") })
        #expect(found.contains("\(file):8: [out] message_matcher: syntax error at column 8: expected a value after '==', but the expression ended"))
        #expect(found.contains("\(file):6: [out] encoder: no section named \"missing_encoder\""))
        #expect(found.contains { $0.hasPrefix("\(file):14: [f] filename: script not found") })
        #expect(found.contains("\(file):16: [f] ticker_interval: \"often\" is not a duration (e.g. \"250ms\", \"5s\", \"1m\")"))
    }

    /// A byte-order mark (editors on Windows write one) is not part of the first line.
    @Test func aByteOrderMarkKeepsTheFirstSectionsLines() {
        let found = errors("\u{FEFF}[luapiped]\nbogus_global = 1\n")
        let file = dir.appendingPathComponent("bad.toml").path
        #expect(found.contains { $0.hasPrefix("\(file):2: [luapiped] bogus_global: unknown key") })
    }

    @Test func brokenTOMLGivesTheParsersLine() {
        let found = errors("[a]\nx = 1\ny = = 2\n")
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix(dir.appendingPathComponent("bad.toml").path + ":3: invalid TOML:") == true)
    }

    @Test func aDirectoryIsReadInNameOrderAndSectionsMayNotRepeat() throws {
        let d = dir.appendingPathComponent("conf.d")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: d.appendingPathComponent("10-in.toml").path, contents: Data("[StdinInput]\n".utf8))
        FileManager.default.createFile(atPath: d.appendingPathComponent("20-out.toml").path, contents: Data("[LogOutput]\nmessage_matcher = \"TRUE\"\n".utf8))
        FileManager.default.createFile(atPath: d.appendingPathComponent("notes.txt").path, contents: Data("ignored".utf8))
        let c = try PipelineConfig.load(path: d.path)
        #expect(c.plugins.map(\.name) == ["StdinInput", "LogOutput"])
        FileManager.default.createFile(atPath: d.appendingPathComponent("30-again.toml").path, contents: Data("[LogOutput]\nmessage_matcher = \"TRUE\"\n".utf8))
        #expect(throws: ConfigErrors.self) { try PipelineConfig.load(path: d.path) }
    }
}

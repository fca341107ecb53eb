import Foundation
import Synchronization
import Testing
@testable import LuaPipeline

/// Scripts dropped into sandbox_dir run without a config section.
@Suite struct DropInDirectoryTests {
    let dir = temporaryDirectory()

    private func put(_ rel: String, _ text: String) {
        let url = dir.appendingPathComponent(rel)
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: url.path, contents: Data(text.utf8))
    }

    @Test func dropInPluginsLoadWithDefaultsTomlsAndOffMarkers() throws {
        let counter = """
            n = 0
            function process_message() n = n + 1 return 0 end
            function timer_event(ns, shutdown) if shutdown then inject_payload("txt", "count", n) end end
            """
        put("lua.d/filters/all.lua", counter)                       // no .toml: every message
        put("lua.d/filters/picky.lua", counter)
        put("lua.d/filters/picky.toml", "message_matcher = \"Payload == 'b'\"\n[config]\nx = 1\n")
        put("lua.d/filters/off.lua", counter)
        put("lua.d/filters/off.off", "")                              // disabled
        put("lua.d/filters/broken.lua", "function process_message( return 0 end")
        put("lua.d/filters/StdinInput.lua", counter)                  // clashes with a section
        put("lua.d/decoders/upper.lua", "function process_message() inject_message({Payload = read_message('Payload'):upper(), Type = 'up'}) return 0 end")
        // One worker: "all" finishes (and reports) before "picky" reports, whatever the timing,
        // once the stop's drain has completed. A generous shutdown_timeout keeps a loaded
        // machine from ending the drain early (then "all" could still be reading when
        // "picky" reports, and count its report).
        put("luapiped.toml", """
            [luapiped]
            sandbox_workers = 1
            shutdown_timeout = "120s"

            [StdinInput]
            decoder = "upper"

            [counts]
            type = "FileOutput"
            path = "counts.txt"
            message_matcher = "Type == 'heka.sandbox-output'"
            encoder = "PayloadEncoder"

            [PayloadEncoder]
            """)
        let cfg = try PipelineConfig.load(path: dir.appendingPathComponent("luapiped.toml").path)
        #expect(Set(cfg.plugins.filter(\.dropIn).map(\.name)) == ["all", "picky", "broken", "upper"])
        #expect(cfg.dropInErrors.map(\.description).contains { $0.contains("StdinInput.lua") && $0.contains("the name is taken") })
        let logged = Mutex<[String]>([])
        var fds: [Int32] = [0, 0]
        _ = pipe(&fds)
        let p = try Pipeline(config: cfg, log: PipelineLog(sink: { l in logged.withLock { $0.append(l) } }), stdin: fds[0])
        #expect(logged.withLock { $0 }.contains { $0.contains("broken.lua") && $0.contains("not loaded") })
        p.start()
        writeInBackground(Array("a\nb\nc\n".utf8), to: fds[1])
        p.runUntilInputsEnd()
        close(fds[0])
        let counts = try String(contentsOf: dir.appendingPathComponent("counts.txt"), encoding: .utf8).split(separator: "\n").sorted()
        // all: the 3 decoded messages; picky: none (the decoder upper-cased 'b' to 'B').
        #expect(counts == ["0", "3"], "\(logged.withLock { $0 }.joined(separator: "\n"))")
    }
}

#if canImport(Glibc)
import Glibc
#endif

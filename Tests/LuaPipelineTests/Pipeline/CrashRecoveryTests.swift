#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import LuaPipeline

/// Aggregates exact across kill -9: two tailed streams (one rotated by rename, the other
/// by copy-truncate during the run), a counting filter and a circular-buffer filter with
/// `preserve_data`, the daemon killed three times at seeded points, the counting filter
/// edited while it runs between two crashes. After the last restart the count equals the
/// lines and the per-minute sums equal the per-minute line counts, exactly.
@Suite struct CrashRecoveryTests {
    let dir = temporaryDirectory()
    static let total = 500_000
    static let batches = 50
    static let minutes = 100
    /// The first minute's start (a multiple of 60).
    static let t0 = 1_700_000_040

    static let config = """
        [luapiped]
        base_dir = "state"
        checkpoint_interval = "200ms"
        sandbox_dir = "lua.d"
        sandbox_dir_debounce = "30ms"
        sandbox_dir_poll_interval = "100ms"
        shutdown_timeout = "30s"

        [logs]
        type = "LogstreamerInput"
        log_directory = "logs"
        file_match = '^(a|b)\\.log$'
        rescan_interval = "100ms"
        decoder = "minute"

        [minute]
        type = "SandboxDecoder"
        filename = "minute.lua"

        [sums]
        type = "SandboxFilter"
        filename = "sums.lua"
        message_matcher = "Type == 'line'"
        preserve_data = true
        ticker_interval = 1

        [count_out]
        type = "FileOutput"
        path = "out/count.txt"
        message_matcher = "Type == 'heka.sandbox.count'"
        encoder = "PayloadEncoder"

        [sums_out]
        type = "FileOutput"
        path = "out/sums.txt"
        message_matcher = "Type == 'heka.sandbox.sums'"
        encoder = "PayloadEncoder"

        [PayloadEncoder]
        """

    /// "SECONDS INDEX" → a message at that time.
    static let decoder = """
        function process_message()
          local p = read_message("Payload")
          local t = tonumber(p:match("^(%d+) "))
          if not t then return -1, "no time" end
          inject_message({Timestamp = t * 1000000000, Type = "line", Payload = p})
          return 0
        end
        """

    /// Lines per minute in a circular buffer; each tick it reports "MINUTE:SUM ...".
    static let sums = """
        require "circular_buffer"
        sums = circular_buffer.new(240, 1, 60)
        function process_message()
          sums:add(read_message("Timestamp"), 1, 1)
          return 0
        end
        function timer_event(ns)
          local out = {}
          local now = sums:current_time()
          for i = 239, 0, -1 do
            local t = now - i * 60000000000
            local v = sums:get(t, 1)
            if v == v and v > 0 then out[#out + 1] = string.format("%d:%d", t // 60000000000, v) end
          end
          inject_message({Type = "sums", Payload = table.concat(out, " ")})
        end
        """

    static func counter(version: Int) -> String {
        """
        count = 0
        local VERSION = \(version)
        function process_message()
          count = count + 1
          return 0
        end
        function timer_event(ns)
          inject_message({Type = "count", Payload = tostring(count)})
        end
        """
    }

    static func line(_ i: Int) -> String {
        let minute = i * minutes / total
        return "\(t0 + minute * 60 + i % 60) \(i)"
    }

    func path(_ relative: String) -> String { dir.appendingPathComponent(relative).path }

    func put(_ relative: String, _ text: String) throws {
        let p = path(relative)
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let tmp = p + ".tmp~"
        FileManager.default.createFile(atPath: tmp, contents: Data(text.utf8))
        #expect(rename(tmp, p) == 0)
    }

    func append(_ text: String, to relative: String) throws {
        try LuaPipelineTests.append(text, toFile: URL(fileURLWithPath: path(relative)))
    }

    /// Batch `b`: even lines to a.log, odd ones to b.log.
    func write(batch b: Int) throws {
        let per = Self.total / Self.batches
        var a = "", bb = ""
        for i in b * per..<(b + 1) * per {
            if i % 2 == 0 { a += Self.line(i) + "\n" } else { bb += Self.line(i) + "\n" }
        }
        try append(a, to: "logs/a.log")
        try append(bb, to: "logs/b.log")
    }

    var store: CheckpointStore { CheckpointStore(directory: path("state/checkpoints")) }

    /// The newest committed checkpoint's number (0: none).
    func newestCommit() -> UInt64 {
        store.numbers().first { FileManager.default.fileExists(atPath: store.manifestPath($0)) } ?? 0
    }

    final class Daemon {
        let process = Process()
        let stderr = Pipe()
        let output: PipeCollector
        /// With `holdStdin`: the daemon's standard input, kept open (a StdinInput at the
        /// end of its input would end the daemon).
        let stdin: Pipe?

        init(in dir: URL, holdStdin: Bool = false) throws {
            process.executableURL = CommandLineTests.binary
            process.arguments = ["run", "-c", "luapiped.toml"]
            process.currentDirectoryURL = dir
            stdin = holdStdin ? Pipe() : nil
            process.standardInput = stdin ?? FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            process.standardError = stderr
            output = PipeCollector(stderr)
            try process.run()
        }
    }

    func lastLine(_ relative: String) -> String? {
        guard let text = try? String(contentsOfFile: path(relative), encoding: .utf8) else { return nil }
        return text.split(separator: "\n").last.map(String.init)
    }

    @Test func aggregatesAreExactAfterThreeKillsRotationsAndAHotEdit() throws {
        try put("luapiped.toml", Self.config)
        try put("minute.lua", Self.decoder)
        try put("sums.lua", Self.sums)
        try put("lua.d/filters/count.lua", Self.counter(version: 1))
        try put("lua.d/filters/count.toml", "message_matcher = \"Type == 'line'\"\npreserve_data = true\nticker_interval = 1\n")
        try FileManager.default.createDirectory(atPath: path("logs"), withIntermediateDirectories: true)

        // Seeded crash points, one rotation by rename between the first and second crash,
        // the hot edit and the copy-truncate between the second and third.
        var rng = GoldenRNG(seed: 13)
        let kills = [Int.random(in: 4...12, using: &rng), Int.random(in: 20...28, using: &rng), Int.random(in: 38...44, using: &rng)]
        let renameAt = Int.random(in: kills[0] + 1...kills[1] - 1, using: &rng)
        let editAt = Int.random(in: kills[1] + 1...kills[1] + 4, using: &rng)
        let truncateAt = Int.random(in: editAt + 1...kills[2] - 1, using: &rng)

        var daemon = try Daemon(in: dir)
        defer { terminateAndWait(daemon.process) }
        var since = newestCommit()
        for b in 0..<Self.batches {
            try write(batch: b)
            if b == renameAt {
                #expect(rename(path("logs/a.log"), path("logs/a.log.1")) == 0)
            }
            if b == editAt {
                try put("lua.d/filters/count.lua", Self.counter(version: 2))
                daemon.output.wait(for: "count: replaced")
            }
            if b == truncateAt {
                // Copy-truncate is followed by the fingerprint of what was read: a file
                // truncated before any byte of it was read cannot be (docs/checkpoints.md).
                eventually("the daemon has read some of b.log") {
                    (LogstreamJournal.load(path("state/logstreamer/logs/b.log.journal"))?.offset ?? 0) > 0
                }
                try FileManager.default.copyItem(atPath: path("logs/b.log"), toPath: path("logs/b.log.1"))
                #expect(truncate(path("logs/b.log"), 0) == 0)
            }
            if kills.contains(b) {
                eventually("checkpoint after \(since) committed before the crash at batch \(b)", detail: { daemon.output.text }) {
                    newestCommit() > since
                }
                #expect(kill(daemon.process.processIdentifier, SIGKILL) == 0)
                #expect(waitForExit(daemon.process) == SIGKILL)
                FileManager.default.createFile(atPath: path("daemon-\(b).log"), contents: Data(daemon.output.text.utf8))
                since = newestCommit()
                daemon = try Daemon(in: dir)
                daemon.output.wait(for: "checkpoint: restoring checkpoint")
            }
        }
        let total = String(Self.total)
        eventually("the count reached \(total)", timeout: .seconds(180), detail: { "\(lastLine("out/count.txt") ?? "none")\n\(daemon.output.text)" }) {
            lastLine("out/count.txt").flatMap { Int($0) }.map { $0 >= Self.total } ?? false
        }
        // Every line is in. The sums filter reads on its own thread and reports on its own
        // timer: wait until its report covers every line (nothing lost), then check that
        // each minute has exactly its share (nothing counted twice or misplaced).
        func sums() -> [Int: Int] {
            var got: [Int: Int] = [:]
            for pair in (lastLine("out/sums.txt") ?? "").split(separator: " ") {
                let kv = pair.split(separator: ":").compactMap { Int($0) }
                if kv.count == 2 { got[kv[0]] = kv[1] }
            }
            return got
        }
        eventually("the sums cover every line", detail: { lastLine("out/sums.txt") ?? "none" }) {
            sums().values.reduce(0, +) >= Self.total
        }
        #expect(lastLine("out/count.txt") == total)
        var expected: [Int: Int] = [:]
        for m in 0..<Self.minutes { expected[Self.t0 / 60 + m] = Self.total / Self.minutes }
        let got = sums()
        #expect(got == expected, "kills \(kills), rename \(renameAt), edit \(editAt), copy-truncate \(truncateAt); logs in \(dir.path)")
        #expect(terminateAndWait(daemon.process) == 0)
    }
}

import Foundation
import Synchronization
import Testing
@testable import LuaPipeline

/// Consistent checkpoints in-process: a corrupt newest checkpoint falls back to the one
/// before (and the count is still exact), a filter that is down delays the commit but not
/// the inputs.
@Suite struct CheckpointTests {
    let dir = temporaryDirectory()
    let logged = LogLines()

    init() throws {
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("logs"), withIntermediateDirectories: true)
    }

    static let countScript = """
        count = 0
        function process_message()
          if read_message("Payload") == "boom" then error("boom on purpose") end
          count = count + 1
          return 0
        end
        """

    private func config(retryDelay: String = "250ms", decodeThreads: Int = 0) -> String {
        """
        [luapiped]
        base_dir = "state"
        checkpoint_interval = "\(decodeThreads > 0 ? "20ms" : "50ms")"
        sandbox_workers = 1

        [logs]
        type = "LogstreamerInput"
        log_directory = "logs"
        file_match = 'a\\.log$'
        \(decodeThreads > 0 ? "decoder = \"pass\"\ndecoder_workers = \(decodeThreads)" : "")

        [pass]
        type = "SandboxDecoder"
        filename = "pass.lua"

        [count]
        type = "SandboxFilter"
        filename = "count.lua"
        message_matcher = "Logger == 'logs'"
        preserve_data = true

        [count.retries]
        delay = "\(retryDelay)"
        max_jitter = "0s"
        """
    }

    private func start(_ text: String) throws -> Pipeline {
        FileManager.default.createFile(atPath: dir.appendingPathComponent("count.lua").path, contents: Data(Self.countScript.utf8))
        let pass = "function process_message() inject_message({Payload = read_message(\"Payload\")}) return 0 end"
        FileManager.default.createFile(atPath: dir.appendingPathComponent("pass.lua").path, contents: Data(pass.utf8))
        let path = dir.appendingPathComponent("luapiped.toml").path
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        let p = try Pipeline(config: try PipelineConfig.load(path: path), log: logged.log)
        p.start()
        return p
    }

    private func append(_ lines: [String]) throws {
        try LuaPipelineTests.append(lines: lines, toFile: dir.appendingPathComponent("logs/a.log"))
    }

    private func counter(_ p: Pipeline, _ plugin: String, _ key: String) -> Int64 {
        p.counters.first { $0.name == plugin }?[key] ?? -1
    }

    var store: CheckpointStore { CheckpointStore(directory: dir.appendingPathComponent("state/checkpoints").path) }

    /// The `count` global of a filter snapshot.
    static func count(in snapshot: [UInt8]) throws -> Int {
        let h = try ScriptHarness("""
            count = -1
            function process_message() inject_message({Type = "count", Payload = tostring(count)}) return 0 end
            """)
        #expect(try h.sandbox.restore(snapshot))
        h.process()
        return Int(try #require(h.messages.first?.payload)) ?? -1
    }

    private func log() -> String { logged.text }

    enum Damage: CaseIterable { case tornManifest, corruptSnapshot, truncatedSnapshot }

    @Test(arguments: Damage.allCases)
    func aDamagedNewestCheckpointIsReportedAndThePreviousOneKeepsTheCountExact(_ damage: Damage) throws {
        try append((0..<1000).map { "line \($0)" })
        let first = try start(config())
        eventually("the first 1000 lines were counted") { counter(first, "count", "processed") == 1000 }
        let commits = first.checkpointStatus?.commits ?? 0
        eventually("two checkpoints were committed after them") { (first.checkpointStatus?.commits ?? 0) >= commits + 2 }
        try append((1000..<1500).map { "line \($0)" })
        eventually("all 1500 lines were counted") { counter(first, "count", "processed") == 1500 }
        first.stop()
        // The stop drained: its final checkpoint is the newest; the one before stays.
        let numbers = store.numbers()
        try #require(numbers.count == 2, "kept: \(numbers)")
        let (newest, previous) = (numbers[0], numbers[1])
        #expect(try store.load(newest).manifest.final)
        let before = try Self.count(in: try #require(try store.load(previous).snapshots["count"]))
        switch damage {
        case .tornManifest:
            let path = store.manifestPath(newest)
            let bytes = try #require(FileManager.default.contents(atPath: path))
            FileManager.default.createFile(atPath: path, contents: bytes.prefix(bytes.count / 2))
        case .corruptSnapshot:
            let path = dir.appendingPathComponent("state/checkpoints/" + CheckpointStore.snapshotFile(newest, filter: "count")).path
            var bytes = Array(try #require(FileManager.default.contents(atPath: path)))
            bytes[bytes.count / 2] ^= 0x20
            FileManager.default.createFile(atPath: path, contents: Data(bytes))
        case .truncatedSnapshot:
            let path = dir.appendingPathComponent("state/checkpoints/" + CheckpointStore.snapshotFile(newest, filter: "count")).path
            let bytes = try #require(FileManager.default.contents(atPath: path))
            FileManager.default.createFile(atPath: path, contents: bytes.prefix(bytes.count - 3))
        }

        logged.clear()
        let second = try start(config())
        defer { second.stop() }
        let status = try #require(second.checkpointStatus)
        #expect(status.restored == previous)
        #expect(status.rejected.count == 1)
        let why = switch damage {
        case .tornManifest: "its manifest is torn or corrupt"
        case .corruptSnapshot: "is corrupt (checksum mismatch)"
        case .truncatedSnapshot: "(truncated)"
        }
        #expect(log().contains("checkpoint \(newest) in "), "\(log())")
        #expect(log().contains(why), "\(log())")
        // The previous checkpoint's positions match its snapshot: what came after is read again, once.
        eventually("the lines after the previous checkpoint were counted again", detail: { "\(before) restored\n\(log())" }) {
            counter(second, "count", "processed") == Int64(1500 - before)
        }
        second.stop()
        let final = try #require(store.loadNewest { _, _ in })
        #expect(final.manifest.final)
        #expect(try Self.count(in: try #require(final.snapshots["count"])) == 1500)
        #expect(!store.numbers().contains(newest), "the damaged checkpoint is removed once a newer one is committed")
    }

    @Test func aFilterThatIsDownDelaysTheCommitButNotTheInputs() throws {
        try append((0..<100).map { "line \($0)" })
        let p = try start(config(retryDelay: "4s"))
        defer { p.stop() }
        eventually("the first lines were counted and checkpointed") {
            counter(p, "count", "processed") == 100 && (p.checkpointStatus?.commits ?? 0) >= 1
        }
        try append(["boom"])
        eventually("the filter was terminated") { counter(p, "count", "terminations") == 1 }
        eventually("a checkpoint waits for it", detail: { "\(String(describing: p.checkpointStatus))" }) {
            p.checkpointStatus?.waitingFor.contains { $0.hasPrefix("filter count") } ?? false
        }
        // Read the commit count only once a checkpoint has waited for the filter long enough
        // to be reported: one whose snapshot the filter handed over just before it was
        // terminated may still commit while the status already names the filter.
        eventually("the wait is reported in the log") { log().contains("has waited") && log().contains("filter count (not saved yet)") }
        let commits = p.checkpointStatus?.commits ?? 0
        // Meanwhile the input reads on.
        let records = counter(p, "logs", "records")
        try append((100..<300).map { "line \($0)" })
        eventually("the input read on while the filter was down") { counter(p, "logs", "records") == records + 200 }
        // Nothing committed while it was down. Read in this order, so that a machine slow
        // enough for the 4 s restart to have come meanwhile makes no false failure.
        let commitsNow = p.checkpointStatus?.commits
        if counter(p, "count", "restarts") == 0 { #expect(commitsNow == commits) }
        // Once it restarted, checkpoints commit again, and it counted everything but the bad line.
        eventually("the filter restarted and a checkpoint committed") {
            counter(p, "count", "restarts") == 1 && (p.checkpointStatus?.commits ?? 0) > commits
        }
        eventually("every good line was counted") { counter(p, "count", "processed") == 301 }
        // The commit is counted before it is logged.
        eventually("the commit after the wait is logged") { log().contains("committed after waiting") }
    }
}

extension CheckpointTests {
    /// With two decode threads the crew decodes a chunk while the input appends the one
    /// before, so cuts come while a batch is decoded and not yet appended: the position
    /// noted is that batch's first record. Stopped in the middle of the file and restored
    /// from the checkpoint before the final one, the count is still exact.
    @Test func cutsTakenWhileABatchIsDecodedKeepTheCountExact() throws {
        let n = 40_000
        try append((0..<n).map { "line \($0)" })
        let first = try start(config(decodeThreads: 2))
        eventually("some lines were counted and checkpointed") {
            counter(first, "count", "processed") >= 2_000 && (first.checkpointStatus?.commits ?? 0) >= 2
        }
        first.stop()
        let numbers = store.numbers()
        try #require(numbers.count == 2, "kept: \(numbers)")
        let previous = numbers[1]
        let before = try Self.count(in: try #require(try store.load(previous).snapshots["count"]))
        // The final checkpoint is damaged: the one before it, a cut taken while reading, is restored.
        let path = store.manifestPath(numbers[0])
        let bytes = try #require(FileManager.default.contents(atPath: path))
        FileManager.default.createFile(atPath: path, contents: bytes.prefix(bytes.count / 2))
        logged.clear()
        let second = try start(config(decodeThreads: 2))
        defer { second.stop() }
        #expect(second.checkpointStatus?.restored == previous)
        eventually("the rest of the file was counted", detail: { "\(before) restored\n\(log())" }) {
            counter(second, "count", "processed") >= Int64(n - before)
        }
        second.stop()
        let final = try #require(store.loadNewest { _, _ in })
        #expect(try Self.count(in: try #require(final.snapshots["count"])) == n, "each line counted once")
    }

    @Test func aPipelineWithNothingToKeepWritesNoCheckpoint() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        FileManager.default.createFile(atPath: dir.appendingPathComponent("count.lua").path, contents: Data(Self.countScript.utf8))
        let c = try PipelineConfig.parse(sources: [("c.toml", """
            [luapiped]
            base_dir = "state"
            checkpoint_interval = "50ms"

            [StdinInput]

            [counter]
            type = "SandboxFilter"
            filename = "count.lua"
            message_matcher = "TRUE"
            """)], directory: dir.path)
        let p = try Pipeline(config: c, log: PipelineLog(sink: { _ in }), stdin: fds[0])
        p.start()
        writeInBackground(Array("a\nb\n".utf8), to: fds[1])
        eventually("both lines were counted") { counter(p, "counter", "processed") == 2 }
        p.runUntilInputsEnd()
        close(fds[0])
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("state/checkpoints").path))
    }

    @Test func aStateThatCannotBeSavedIsReportedAndLeftOutWithoutStoppingCheckpoints() throws {
        FileManager.default.createFile(atPath: dir.appendingPathComponent("deep.lua").path, contents: Data("""
            deep = {}
            local t = deep
            for i = 1, 250 do t.next = {} t = t.next end
            function process_message() return 0 end
            """.utf8))
        try append((0..<10).map { "line \($0)" })
        let p = try start(config() + """

            [deep]
            type = "SandboxFilter"
            filename = "deep.lua"
            message_matcher = "TRUE"
            preserve_data = true
            """)
        defer { p.stop() }
        eventually("checkpoints commit with the other filter's state") {
            counter(p, "count", "processed") == 10 && (p.checkpointStatus?.commits ?? 0) >= 2
        }
        #expect(log().contains("deep: error: checkpoint") && log().contains("its state is not saved: preserve_data() tables nested deeper than 200"), "\(log())")
        #expect(log().components(separatedBy: "its state is not saved").count == 2, "reported once, not at every checkpoint")
        let newest = try #require(store.loadNewest { _, _ in })
        #expect(newest.manifest.filters["count"] != nil)
        #expect(newest.manifest.filters["deep"] == nil)
    }

    @Test func aStopThatDoesNotDrainKeepsTheLastCommit() throws {
        let port = try freeTcpPort()  // nothing listens there: the output never delivers
        try append((0..<200).map { "line \($0)" })
        let p = try start((config() + """

            [unreachable]
            type = "TcpOutput"
            address = "127.0.0.1:\(port)"
            message_matcher = "Payload == 'late'"
            encoder = "ProtobufEncoder"

            [ProtobufEncoder]
            """).replacingOccurrences(of: "checkpoint_interval", with: "shutdown_timeout = \"300ms\"\ncheckpoint_interval"))
        eventually("the lines were counted and checkpointed") {
            counter(p, "count", "processed") == 200 && (p.checkpointStatus?.commits ?? 0) >= 1
        }
        try append(["late"])
        eventually("the undeliverable line was read") { counter(p, "count", "processed") == 201 }
        let last = p.checkpointStatus?.lastCommit
        p.stop()
        #expect(log().contains("no final checkpoint: the stop did not drain"), "\(log())")
        let newest = try #require(store.loadNewest { _, _ in })
        #expect(!newest.manifest.final)
        #expect(newest.manifest.number >= (last ?? 0))
    }
}

/// Log lines collected from a pipeline.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])

    var log: PipelineLog { PipelineLog(sink: { [self] line in lines.withLock { $0.append(line) } }) }
    var text: String { lines.withLock { $0.joined(separator: "\n") } }
    func clear() { lines.withLock { $0 = [] } }
}

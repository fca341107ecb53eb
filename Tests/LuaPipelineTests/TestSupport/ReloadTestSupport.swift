import Foundation
import Synchronization
import Testing
@testable import LuaPipeline

/// A daemon in-process reading lines from a pipe, with a drop-in directory the test edits
/// while messages flow.
final class ReloadHarness: @unchecked Sendable {
    let dir = temporaryDirectory()
    let logged = Mutex<[String]>([])
    var pipeline: Pipeline!
    private var writeFD: Int32 = -1
    private var readFD: Int32 = -1

    /// The config: stdin lines, `extra` sections, and outputs of the filters' reports
    /// (`Type == 'heka.sandbox.count'` → out/counts.txt) and of the reload messages
    /// (out/events.json); `global`: more `[luapiped]` keys.
    func configText(_ extra: String = "", global: String = "") -> String {
        """
        [luapiped]
        base_dir = "state"
        sandbox_dir = "lua.d"
        sandbox_dir_debounce = "30ms"
        sandbox_dir_poll_interval = "50ms"
        sandbox_workers = 1
        \(global)

        [StdinInput]

        [counts]
        type = "FileOutput"
        path = "out/counts.txt"
        message_matcher = "Type == 'heka.sandbox.count'"
        encoder = "PayloadEncoder"

        [events]
        type = "FileOutput"
        path = "out/events.json"
        message_matcher = "Type == 'luapiped.reload' || Type == 'heka.sandbox-terminated'"
        encoder = "JsonEncoder"

        [PayloadEncoder]
        [JsonEncoder]
        \(extra)
        """
    }

    var configPath: String { dir.appendingPathComponent("luapiped.toml").path }

    func path(_ relative: String) -> String { dir.appendingPathComponent(relative).path }

    /// Writes a file as editors do: a temp file renamed over the old one.
    func put(_ relative: String, _ text: String) {
        let p = path(relative)
        try? FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let tmp = (p as NSString).deletingLastPathComponent + "/.\((p as NSString).lastPathComponent).swp"
        FileManager.default.createFile(atPath: tmp, contents: Data(text.utf8))
        _ = rename(tmp, p)
    }

    func delete(_ relative: String) { try? FileManager.default.removeItem(atPath: path(relative)) }

    func start(_ extra: String = "") throws {
        try FileManager.default.createDirectory(atPath: path("lua.d/filters"), withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: configPath) { put("luapiped.toml", configText(extra)) }
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        readFD = fds[0]
        writeFD = fds[1]
        pipeline = try Pipeline(config: try PipelineConfig.load(path: configPath),
                                log: PipelineLog(sink: { [unowned self] line in self.logged.withLock { $0.append(line) } }), stdin: readFD)
        // As `luapiped run` does: listeners bind before anything starts, so an address
        // that cannot be bound fails the start, naming it, instead of leaving an input that
        // logs the error on its own thread while the test waits for its port.
        try pipeline.open()
        pipeline.start()
    }

    /// Writes lines to the daemon's standard input.
    func send(_ lines: [String]) {
        writeAll(Array((lines.joined(separator: "\n") + "\n").utf8), to: writeFD)
    }

    func send(count: Int, from start: Int = 0) { send((start..<start + count).map { "line \($0)" }) }

    /// Ends the input and stops the daemon gracefully. Each end of the pipe is closed
    /// once, however often this is called: a second close of a number another test has
    /// since been given (a daemon's socket, a child's pipe) would close that instead.
    func finish() {
        if writeFD >= 0 { close(writeFD) }
        writeFD = -1
        pipeline.runUntilInputsEnd()
        if readFD >= 0 { close(readFD) }
        readFD = -1
    }

    /// Stops the daemon now (its input need not end) and waits for it, as `finish` does.
    func stop() {
        pipeline.requestStop()
        finish()
    }

    /// `eventually`, with the daemon's last log lines in the message when it times out.
    func waitUntil(_ what: String, sourceLocation: SourceLocation = #_sourceLocation, _ condition: () -> Bool) {
        eventually(what, detail: logTail, sourceLocation: sourceLocation, condition)
    }

    /// Sends a line at a time until `condition` holds: a new version gets its first call
    /// with the first message after it was built.
    func keepSending(until what: String, sourceLocation: SourceLocation = #_sourceLocation, _ condition: () -> Bool) {
        eventually(what, interval: .milliseconds(5), step: { send(["tick"]) }, detail: logTail, sourceLocation: sourceLocation, condition)
    }

    private func logTail() -> String {
        "log:\n" + logged.withLock { $0 }.suffix(30).joined(separator: "\n")
    }

    func status(_ name: String) -> PluginStatus? { pipeline.status[name] }

    func counter(_ plugin: String, _ key: String) -> Int64 {
        pipeline.counters.first { $0.name == plugin }?[key] ?? 0
    }

    func lines(_ relative: String) -> [String] {
        ((try? String(contentsOfFile: path(relative), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// The reload messages written to out/events.json, as (plugin, action).
    func events() -> [(plugin: String, action: String, detail: String)] {
        lines("out/events.json").compactMap { line in
            guard let m = try? Message.fromJSON(Array(line.utf8)).message else { return nil }
            func field(_ n: String) -> String {
                if case .string(let s)? = m.field(n)?.value { return s.first ?? "" }
                return ""
            }
            return (field("plugin"), m.type == "heka.sandbox-terminated" ? "terminated" : field("action"), m.payload ?? "")
        }
    }
}

/// A counting filter: `count` survives swaps; it reports `count version` when it stops.
func countingFilter(version: Int, extra: String = "") -> String {
    """
    count = 0
    local VERSION = \(version)
    \(extra)
    function process_message()
      count = count + 1
      return 0
    end
    function timer_event(ns, shutdown)
      if shutdown then inject_message({Type = "count", Payload = count .. " v" .. VERSION}) end
    end
    """
}

#if canImport(Glibc)
import Glibc
#endif

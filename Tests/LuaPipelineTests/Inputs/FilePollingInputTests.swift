import Foundation
import Synchronization
import Testing
@testable import LuaPipeline

/// FilePollingInput reading a /proc-style file every tick, decoded by Heka's
/// linux_loadavg decoder named by its Heka path.
@Suite(.serialized) struct FilePollingInputTests {
    let dir = temporaryDirectory()
    final class Log: Sendable { let lines = Mutex<[String]>([]) }
    let log = Log()

    private func path(_ relative: String) -> String { dir.appendingPathComponent(relative).path }

    private func write(_ relative: String, _ text: String) {
        let tmp = path(relative) + ".tmp"
        _ = FileManager.default.createFile(atPath: tmp, contents: Data(text.utf8))
        _ = rename(tmp, path(relative))
    }

    private func decoded() -> [Message] {
        let text = (try? String(contentsOfFile: path("out.json"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? Message.fromJSON(Array($0.utf8)).message }
    }

    @Test func readsTheFileEveryTickAndTheDecoderSeesFilePath() throws {
        write("loadavg", "0.50 0.40 0.30 2/100 123\n")
        _ = FileManager.default.createFile(atPath: path("binary"), contents: Data([0x31, 0xFF, 0xFE, 0x0A]))
        let config = """
            [luapiped]
            base_dir = "state"
            share_dir = "\(repositoryRoot.appendingPathComponent("lua").path)"

            [LoadAvg]
            type = "FilePollingInput"
            ticker_interval = "50ms"
            file_path = "loadavg"
            decoder = "LoadAvgDecoder"

            [Proc]
            type = "FilePollingInput"
            ticker_interval = "50ms"
            file_path = "/proc/loadavg"
            decoder = "LoadAvgDecoder"

            [Binary]
            type = "FilePollingInput"
            ticker_interval = "50ms"
            file_path = "binary"
            decoder = "LoadAvgDecoder"

            [Missing]
            type = "FilePollingInput"
            ticker_interval = "50ms"
            file_path = "no-such-file"

            [LoadAvgDecoder]
            type = "SandboxDecoder"
            filename = "lua_decoders/linux_loadavg.lua"

            [out]
            type = "FileOutput"
            path = "out.json"
            message_matcher = "Type == 'stats.loadavg'"
            encoder = "JsonEncoder"
            flush_count = 1
            """
        write("luapiped.toml", config)
        let p = try Pipeline(config: try PipelineConfig.load(path: path("luapiped.toml")),
                             log: PipelineLog(sink: { [log] line in log.lines.withLock { $0.append(line) } }))
        p.start()
        let runner = Thread { p.runUntilInputsEnd() }
        runner.start()
        eventually("two readings were decoded") { decoded().count >= 2 }
        // /proc files report a size of 0: they are read to their end all the same
        eventually("the real /proc/loadavg was decoded") { decoded().contains { $0.field("FilePath")?.value == .string(["/proc/loadavg"]) } }
        write("loadavg", "1.50 0.40 0.30 7/100 124\n")
        eventually("the new content was read") { decoded().contains { $0.field("1MinAvg")?.value == .double([1.5]) } }
        eventually("the missing file was counted more than once") {
            p.counters.first { $0.name == "Missing" }?["decode_failures"] ?? 0 >= 2
        }
        eventually("the file that is not UTF-8 was refused and counted") {
            p.counters.first { $0.name == "Binary" }?["decode_failures"] ?? 0 >= 1
        }
        p.requestStop()
        eventually("the pipeline stopped") { runner.isFinished }

        let first = try #require(decoded().first { $0.field("FilePath")?.value == .string([path("loadavg")]) })
        #expect(first.type == "stats.loadavg")
        #expect(first.field("1MinAvg")?.value == .double([0.5]))
        #expect(first.field("NumProcesses")?.value == .double([2]))
        #expect(first.field("FilePath")?.value == .string([path("loadavg")]))
        #expect(first.logger == "LoadAvg")
        let errors = log.lines.withLock { $0 }.filter { $0.contains("cannot read") }
        #expect(errors.count == 1, "a file that cannot be read is logged once: \(errors)")
        #expect(errors.first?.contains("no-such-file") == true && errors.first?.contains("No such file or directory") == true)
        #expect(log.lines.withLock { $0 }.contains { $0.hasPrefix("Binary: ") && $0.contains("invalid UTF-8") })
    }
}

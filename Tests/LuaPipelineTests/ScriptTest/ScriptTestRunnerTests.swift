import Foundation
import Testing
@testable import LuaPipeline

/// `luapiped test`: the harness script authors run.
@Suite struct ScriptTestRunnerTests {
    let dir = temporaryDirectory()
    let lua = repositoryRoot.appendingPathComponent("lua")

    private func file(_ name: String, _ text: String) -> String {
        let url = dir.appendingPathComponent(name)
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: url.path, contents: Data(text.utf8))
        return url.path
    }

    private func file(_ name: String, bytes: [UInt8]) -> String {
        let url = dir.appendingPathComponent(name)
        FileManager.default.createFile(atPath: url.path, contents: Data(bytes))
        return url.path
    }

    struct Run {
        var outcome: ScriptTestOutcome
        var stdout: String
        var stderr: String
        var stats: ScriptTestStats
        var lines: [String] { stdout.split(separator: "\n").map(String.init) }
        var messages: [Message] { lines.compactMap { try? Message.fromJSON(Array($0.utf8)).message } }
    }

    private func run(_ options: ScriptTestOptions) throws -> Run {
        let out = ByteSink(fd: nil), err = ByteSink(fd: nil)
        let runner = ScriptTestRunner(options: options, out: out, err: err)
        let outcome = try runner.run()
        return Run(outcome: outcome, stdout: String(decoding: out.captured, as: UTF8.self),
                   stderr: String(decoding: err.captured, as: UTF8.self), stats: runner.stats)
    }

    private func options(_ script: String, input: String, _ configure: (inout ScriptTestOptions) -> Void = { _ in }) -> ScriptTestOptions {
        var o = ScriptTestOptions(scriptPath: script)
        o.inputPath = input
        configure(&o)
        return o
    }

    @Test func nginxDecoderThenStatusFilterMatchAReferenceCount() throws {
        var gen = NginxLogGenerator(seed: 7)
        let log = gen.make(3000)
        let access = file("access.log", log.lines.joined(separator: "\n") + "\n")
        let decoded = try run(options(lua.appendingPathComponent("decoders/nginx_access.lua").path, input: access))
        #expect(decoded.outcome == .completed)
        #expect(decoded.stats.processed == 3000)
        #expect(decoded.stats.failures == log.malformed)
        #expect(decoded.stats.injected == 3000 - log.malformed)
        #expect(decoded.stderr.contains("line 97: process_message() failed with status -1: Failed to parse"))
        let first = try #require(decoded.messages.first)
        #expect(first.timestamp % 1_000_000_000 == 0 && first.timestamp >= 1_795_514_400_000_000_000)
        #expect(first.field("status")?.value == .integer([Int64(log.lines[0].split(separator: " ")[8])!]))
        #expect(first.payload == nil)  // Heka does not keep the line unless payload_keep is set
        #expect(first.field("body_bytes_sent")?.representation == "B")

        let json = file("decoded.json", decoded.stdout)
        let counted = try run(options(lua.appendingPathComponent("filters/http_status_count.lua").path, input: json))
        #expect(counted.outcome == .completed)
        let summary = try #require(counted.messages.first { $0.type == "heka.sandbox.http_status_count" })
        #expect(summary.field("total")?.value == .integer([Int64(3000 - log.malformed)]))
        for (status, n) in log.statusCounts {
            #expect(summary.field("HTTP_\(status)")?.value == .integer([Int64(n)]), "status \(status)")
        }
        let fiveXX = log.statusCounts.filter { $0.key >= 500 }.values.reduce(0, +)
        #expect(summary.field("HTTP_5xx")?.value == .integer([Int64(fiveXX)]))
        let payload = try #require(counted.messages.first { $0.type == "heka.sandbox-output" })
        #expect(payload.field("payload_name")?.value == .string(["status_counts"]))
    }

    /// A decoder's `tz` as the daemon applies it: injected Timestamps shifted, a message
    /// passed on left as it is; an unknown zone is refused.
    @Test func decoderTimeZone() throws {
        let script = file("decoders/tz.lua", """
            function process_message()
              if read_message("Payload") == "pass" then write_message("Fields[seen]", true) return 0 end
              inject_message({Timestamp = 1392037138 * 1000000000, Payload = "injected"})
              return 0
            end
            """)
        let input = file("tz.txt", "inject\npass\n")
        let r = try run(options(script, input: input) { $0.config["tz"] = .string("America/Los_Angeles") })
        #expect(r.messages.map(\.timestamp) == [1_392_065_938_000_000_000, 0])
        #expect(throws: ScriptTestError.self) { try run(options(script, input: input) { $0.config["tz"] = .string("Nowhere/X") }) }
    }

    @Test func badInputIsCountedReportedAndSkipped() throws {
        let script = file("filters/count.lua", "n = 0 function process_message() n = n + 1 return 0 end function timer_event() inject_payload('txt', 'n', n) end")
        let json = file("in.json", "{\"Payload\":\"a\"}\n{not json\n{\"Payload\":\"b\",\"Bogus\":1}\n\n{\"Payload\":\"c\"}\n")
        let r = try run(options(script, input: json))
        #expect(r.outcome == .completed)
        #expect(r.stats.processed == 2 && r.stats.rejected == 2)
        #expect(r.stderr.contains("line 2: rejected: "))
        #expect(r.stderr.contains("line 3: rejected: unknown key \"Bogus\""))
        #expect(r.messages.last?.payload == "2")

        let lines = file("in.txt", bytes: Array("good\n".utf8) + [0xFF, 0xFE, 0x0A] + Array("also good".utf8))
        let l = try run(options(script, input: lines) { $0.format = .lines })
        #expect(l.stats.processed == 2 && l.stats.rejected == 1)
        #expect(l.stderr.contains("line 2: rejected: invalid UTF-8 in Payload"))

        let good = StreamFraming.frame(Message(uuid: Array(repeating: 1, count: 16), timestamp: 5, payload: "ok").encoded())
        var invalidPayload = Message(uuid: Array(repeating: 2, count: 16), timestamp: 6).encoded()
        invalidPayload += [0x32, 0x02, 0xC3, 0x28]  // Payload with invalid UTF-8
        let stream = good + [0x1E, 0x05, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F] + Array("garbage".utf8) + StreamFraming.frame(invalidPayload) + good
        let framed = file("in.framed", bytes: stream)
        let f = try run(options(script, input: framed) { $0.format = .framed })
        #expect(f.outcome == .completed)
        #expect(f.stats.processed == 2 && f.stats.rejected == 2)
        #expect(f.stderr.contains("rejected: bad frame header at byte"))
        #expect(f.stderr.contains("rejected: invalid UTF-8 in Payload"))
    }

    /// A decoder's lines: split as the daemon splits them, across the harness's 1 MiB reads
    /// too, a CR before the newline dropped, invalid UTF-8 refused with its line's number,
    /// the last line decoded without its newline.
    @Test func aDecoderGetsEveryLineWhereverTheReadsEnd() throws {
        let script = file("decoders/echo.lua", "function process_message() inject_message({Payload = read_message('Payload')}) return 0 end")
        var bytes: [UInt8] = []
        var expected: [String] = []
        while bytes.count < 2 * (1 << 20) + 5000 {  // past two reads
            let n = expected.count + 1
            let line = "line \(n) " + String(repeating: "x", count: n % 300)
            expected.append(line)
            bytes += Array(line.utf8) + (n % 7 == 0 ? [0x0D, 0x0A] : [0x0A])
        }
        bytes += [0x0A]  // an empty line
        expected.append("")
        bytes += [0xC3, 0x28, 0x0A]  // invalid UTF-8
        let refusedLine = expected.count + 1
        bytes += Array("last, no newline".utf8)
        expected.append("last, no newline")
        let r = try run(options(script, input: file("many.txt", bytes: bytes)))
        #expect(r.outcome == .completed)
        #expect(r.messages.map { $0.payload ?? "" } == expected)
        #expect(r.stats.processed == expected.count && r.stats.rejected == 1)
        #expect(r.stderr.contains("line \(refusedLine): rejected: invalid UTF-8 in Payload"))
    }

    @Test func loadFailureAndTerminationExitCodes() throws {
        let input = file("one.json", "{\"Payload\":\"x\"}\n")
        let broken = try run(options(file("broken.lua", "function process_message( return 0 end"), input: input))
        #expect(broken.outcome == .loadFailed)
        #expect(broken.stderr.hasPrefix("error: broken.lua:1: "))
        let looping = try run(options(file("filters/loop.lua", "function process_message() while true do end end"), input: input))
        #expect(looping.outcome == .terminated)
        #expect(looping.stderr.contains("terminated: process_message() filters/loop.lua:1: instruction_limit exceeded"))
        let limited = try run(options(file("filters/small.lua", "function process_message() for i = 1, 500 do end return 0 end"), input: input) {
            $0.limits.instructions = 100
        })
        #expect(limited.outcome == .terminated)
    }

    @Test func timerEveryAndShutdown() throws {
        let script = file("filters/t.lua", "function process_message() return 0 end function timer_event(ns, shutdown) inject_payload('txt', 't', ns, ' ', tostring(shutdown)) end")
        let input = file("ts.json", (1...5).map { "{\"Timestamp\":\($0)000}" }.joined(separator: "\n"))
        let r = try run(options(script, input: input) { $0.timerEvery = 2 })
        #expect(r.messages.map(\.payload) == ["2000 false", "4000 false", "5000 true"])
    }

    @Test func matcherSelectsMessagesForFilters() throws {
        let script = file("filters/m.lua", "function process_message() inject_payload('txt', '', read_message('Payload')) return 0 end")
        let input = file("m.json", "{\"Type\":\"a\",\"Payload\":\"1\"}\n{\"Type\":\"b\",\"Payload\":\"2\"}\n{\"Type\":\"a\",\"Payload\":\"3\"}\n")
        let m = try MessageMatcher("Type == 'a'")
        let r = try run(options(script, input: input) { $0.matcher = { m.matches($0) } })
        #expect(r.messages.map(\.payload) == ["1", "3"])
    }

    @Test func stateFileCarriesPreservedGlobals() throws {
        let script = file("filters/s.lua", "n = 0 function process_message() n = n + 1 return 0 end function timer_event() inject_payload('txt', 'n', n) end")
        let input = file("three.json", "{}\n{}\n{}\n")
        let state = dir.appendingPathComponent("s.state").path
        for expected in ["3", "6", "9"] {
            let r = try run(options(script, input: input) { $0.statePath = state })
            #expect(r.messages.last?.payload == expected)
        }
    }

    @Test func statsAreTheLastLineOnStderr() throws {
        let script = file("filters/st.lua", "function process_message() inject_payload('txt', '', 'abc') return -1 end")
        let r = try run(options(script, input: file("st.json", "{}\n{}\n")) { $0.stats = true; $0.output = .none })
        #expect(r.stdout.isEmpty)
        let last = try #require(r.stderr.split(separator: "\n").last)
        let doc = try JSONParser.parse(String(last))
        #expect(doc["processed"] == .integer(2) && doc["failures"] == .integer(2) && doc["injected"] == .integer(2))
        #expect(doc["rejected"] == .integer(0) && doc["output_peak"] == .integer(3))
        if case .integer(let m)? = doc["memory_peak"] { #expect(m > 0) } else { Issue.record("memory_peak") }
        if case .integer(let i)? = doc["instructions_peak"] { #expect(i > 0 && i < 100) } else { Issue.record("instructions_peak") }
    }

    @Test func encoderOutputIsWrittenAsIs() throws {
        let script = file("encoders/e.lua", "function process_message() inject_payload('txt', '', read_message('Payload'), '|') return 0 end")
        let r = try run(options(script, input: file("e.json", "{\"Payload\":\"a\"}\n{\"Payload\":\"b\"}\n")))
        #expect(r.stdout == "a|b|")
    }

    @Test func configReachesReadConfig() throws {
        let script = file("decoders/c.lua", "function process_message() inject_message({Payload = read_config('greeting') .. math.type(read_config('n'))}) return 0 end")
        let r = try run(options(script, input: file("c.txt", "x\n")) {
            $0.config = ["greeting": ConfigValue(parsing: "hi-"), "n": ConfigValue(parsing: "3")]
        })
        #expect(r.messages.first?.payload == "hi-integer")
    }

    @Test func failingDecodesDropWhatTheyInjected() throws {
        let script = file("decoders/half.lua", """
            function process_message()
              inject_message({Payload = 'partial ' .. read_message('Payload')})
              if read_message('Payload') == 'bad' then return -1, 'bad line' end
              return 0
            end
            """)
        let r = try run(options(script, input: file("half.txt", "good\nbad\nfine\n")))
        #expect(r.messages.map(\.payload) == ["partial good", "partial fine"])
        #expect(r.stats.injected == 2 && r.stats.failures == 1)
        let counted = try run(options(script, input: file("half.txt", "good\nbad\nfine\n")) { $0.output = .none })
        #expect(counted.stats.injected == 2)
    }

    @Test func inputAndScriptUuidsNeverCollide() throws {
        let script = file("decoders/twice.lua", "function process_message() inject_message({}) inject_message({}) return 0 end")
        let r = try run(options(script, input: file("two.txt", "a\nb\n")))
        let uuids = r.messages.map(\.uuid)
        #expect(uuids.count == 4 && Set(uuids).count == 4)
    }

    /// Lines fed to a filter are messages too, each with its own Uuid.
    @Test func eachLineAFilterReadsHasItsOwnUuid() throws {
        let script = file("filters/uuid.lua", "function process_message() inject_payload('txt', 'u', read_message('Uuid')) return 0 end")
        let r = try run(options(script, input: file("three.txt", "a\nb\nc\n")) { $0.format = .lines })
        let seen = r.messages.compactMap(\.payload)
        #expect(seen.count == 3 && Set(seen).count == 3)
        #expect(!seen.contains("00000000-0000-0000-0000-000000000000"))
    }
}

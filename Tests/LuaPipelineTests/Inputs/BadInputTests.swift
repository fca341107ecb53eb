import Foundation
import Testing
@testable import LuaPipeline

/// Bad input to a running daemon: clear errors, counters, and the valid data after the
/// bad data still arrives.
@Suite struct BadInputTests {
    let dir = temporaryDirectory()

    private func pipeline(_ text: String, stdin: Int32 = 0, log: PipelineLog = PipelineLog(sink: { _ in })) throws -> Pipeline {
        let path = dir.appendingPathComponent("c.toml").path
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return try Pipeline(config: try PipelineConfig.load(path: path), log: log, stdin: stdin)
    }

    private func lines(_ name: String) -> [String] {
        ((try? String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    @Test func aDecodeFailureNamesTheFileTheByteOffsetAndTheRecord() throws {
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("logs"), withIntermediateDirectories: true)
        let text = "good one\ngood two\nbad \u{1}three\ngood four\n"
        FileManager.default.createFile(atPath: dir.appendingPathComponent("logs/app.log").path, contents: Data(text.utf8))
        FileManager.default.createFile(atPath: dir.appendingPathComponent("picky.lua").path, contents: Data("""
            function process_message()
              if read_message("Payload"):find("^bad") then return -1, "not a good line" end
              return 0
            end
            """.utf8))
        let logged = Mutex<[String]>([])
        let p = try pipeline("""
            [luapiped]
            base_dir = "state"
            sandbox_dir_watch = "off"

            [app]
            type = "LogstreamerInput"
            log_directory = "logs"
            file_match = 'app\\.log'
            decoder = "picky"

            [picky]
            type = "SandboxDecoder"
            filename = "picky.lua"

            [out]
            type = "FileOutput"
            path = "out.txt"
            message_matcher = "Type == 'app'"
            encoder = "PayloadEncoder"
            [PayloadEncoder]
            """, log: PipelineLog(sink: { line in logged.withLock { $0.append(line) } }))
        p.start()
        eventually("the good lines are written") { lines("out.txt").count == 3 }
        p.stop()
        let offset = "good one\ngood two\n".utf8.count
        let line = try #require(logged.withLock { $0 }.first { $0.contains("not a good line") })
        #expect(line.contains("app: error: record 3 ("), "\(line)")
        #expect(line.contains("logs/app.log at byte \(offset)): not a good line; the record: \"bad \\x01three\""), "\(line)")
    }

    @Test func garbageOversizeAndBadPayloadsOverTCP() throws {
        let port = try freeTcpPort()
        let p = try pipeline("""
            [luapiped]
            max_message_size = 1024

            [TcpInput]
            address = "127.0.0.1:\(port)"

            [out]
            type = "FileOutput"
            path = "out.txt"
            message_matcher = "TRUE"
            encoder = "PayloadEncoder"

            [PayloadEncoder]
            """)
        p.start()
        let runner = Thread { p.runUntilInputsEnd() }
        runner.start()
        let fd = try #require(eventually("TcpInput accepts a connection") { try? Socket.connect("127.0.0.1:\(port)") })
        func framed(_ payload: String) -> [UInt8] {
            StreamFraming.frame(Message(uuid: Array(repeating: 7, count: 16), timestamp: 1, payload: payload).encoded())
        }
        var stream: [UInt8] = Array("garbage that is no frame".utf8)
        stream += framed("first")
        stream += framed(String(repeating: "x", count: 2000))  // over max_message_size
        stream += [0x1E, 0x03, 0xFF, 0xFF, 0xFF, 0x1F]  // a header that does not parse
        stream += StreamFraming.frame([0x0A, 0x02, 0x00, 0x01])  // a frame that is not a message
        stream += framed("second")
        #expect(Socket.writeAll(fd, stream))
        close(fd)
        let counters = p.counters.first { $0.name == "TcpInput" }!
        eventually("both messages are processed and the 4 bad frames counted") {
            counters["processed"] >= 2 && counters["decode_failures"] >= 4
        }
        p.requestStop()
        eventually("the pipeline stopped") { runner.isFinished }
        #expect(lines("out.txt") == ["first", "second"])
        #expect(counters["decode_failures"] == 4)  // garbage, oversize, bad header, not a message
    }

    @Test func udpDatagramsAreRecordsAndOversizeOnesAreCounted() throws {
        let port = try freeTcpPort()
        let p = try pipeline("""
            [luapiped]
            max_message_size = 100

            [UdpInput]
            address = "127.0.0.1:\(port)"

            [out]
            type = "FileOutput"
            path = "udp.txt"
            message_matcher = "TRUE"
            encoder = "PayloadEncoder"

            [PayloadEncoder]
            """)
        p.start()
        let runner = Thread { p.runUntilInputsEnd() }
        runner.start()
        let counters = p.counters.first { $0.name == "UdpInput" }!
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        func send(_ text: String) {
            _ = Array(text.utf8).withUnsafeBytes { raw in
                withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, raw.baseAddress, raw.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                } }
            }
        }
        // The socket may not be bound yet: resend the first datagram until it is seen.
        eventually("the first datagram is a record", interval: .milliseconds(50), step: { send("hello") }) {
            counters["records"] > 0
        }
        let before = counters["records"]
        send(String(repeating: "x", count: 500))
        send("world")
        eventually("\"world\" is a record and the oversize datagram counted") {
            counters["records"] >= before + 1 && counters["decode_failures"] >= 1
        }
        close(fd)
        p.requestStop()
        eventually("the pipeline stopped") { runner.isFinished }
        let got = lines("udp.txt")
        #expect(got.last == "world")
        #expect(Set(got) == ["hello", "world"])
        #expect(counters["decode_failures"] == 1)
    }

    @Test func invalidUTF8AndAFailingDecoderAreCountedAndTheRestFlows() throws {
        FileManager.default.createFile(atPath: dir.appendingPathComponent("every10.lua").path, contents: Data("""
            n = 0
            function process_message()
              n = n + 1
              if n % 10 == 0 then error("line " .. n .. " is the tenth") end
              inject_message({Payload = read_message('Payload')})
              return 0
            end
            """.utf8))
        let logged = Mutex<[String]>([])
        var fds: [Int32] = [0, 0]
        _ = pipe(&fds)
        let p = try pipeline("""
            [StdinInput]
            decoder = "every10"

            [every10]
            type = "SandboxDecoder"
            filename = "every10.lua"

            [out]
            type = "FileOutput"
            path = "out.txt"
            message_matcher = "TRUE"
            encoder = "PayloadEncoder"

            [PayloadEncoder]
            """, stdin: fds[0], log: PipelineLog(sink: { l in logged.withLock { $0.append(l) } }))
        p.start()
        var input: [UInt8] = []
        for i in 1...30 { input += Array("line \(i)\n".utf8) }
        input += [0xC3, 0x28, 0x0A]  // invalid UTF-8
        input += Array("after\n".utf8)
        _ = input.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
        close(fds[1])
        p.runUntilInputsEnd()
        close(fds[0])
        let out = lines("out.txt")
        // Each error terminates the decoder's sandbox; the record is counted and a fresh
        // sandbox (its count back at 0) takes the next one: lines 10, 20 and 30 fail.
        let expected = (1...30).filter { ![10, 20, 30].contains($0) }.map { "line \($0)" } + ["after"]
        #expect(out == expected)
        let counters = p.counters.first { $0.name == "StdinInput" }!
        #expect(counters["records"] == 32)
        #expect(counters["decode_failures"] == 4)
        #expect(logged.withLock { $0 }.contains { $0.contains("terminated (restarted): process_message() every10.lua:4: line 10 is the tenth") })
        #expect(logged.withLock { $0 }.contains { $0.contains("invalid UTF-8 in Payload") })
    }
}

import Synchronization
#if canImport(Glibc)
import Glibc
#endif

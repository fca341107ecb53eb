import Foundation
import Testing
@testable import LuaPipeline

/// Two luapiped processes: A's TcpOutput → B's TcpInput with acks; B is stopped and
/// started twice while A sends, and B ends with every message once.
@Suite struct TcpAckTests {
    let dir = temporaryDirectory()

    private func start(_ config: String, stdin: Pipe? = nil) throws -> Process {
        let p = Process()
        p.executableURL = CommandLineTests.binary
        p.arguments = ["run", "-c", config]
        p.currentDirectoryURL = dir
        p.standardInput = stdin ?? FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    private func stop(_ p: Process) {
        terminateAndWait(p)  // SIGTERM: graceful
    }

    /// Waits (bounded) until B listens, by connecting.
    private func waitForListener(_ port: Int) {
        if let fd = eventually("B listens on \(port)", { try? Socket.connect("127.0.0.1:\(port)") }) { close(fd) }
    }

    @Test func everyMessageArrivesOnceThroughTwoRestarts() throws {
        let port = try freeTcpPort()
        let b = dir.appendingPathComponent("b.toml").path
        FileManager.default.createFile(atPath: b, contents: Data("""
            [luapiped]
            base_dir = "b-state"

            [TcpInput]
            address = "127.0.0.1:\(port)"
            ack = true

            [FileOutput]
            path = "b.framed"
            message_matcher = "TRUE"
            encoder = "ProtobufEncoder"
            flush_count = 100

            [ProtobufEncoder]
            """.utf8))
        let a = dir.appendingPathComponent("a.toml").path
        FileManager.default.createFile(atPath: a, contents: Data("""
            [luapiped]
            base_dir = "a-state"

            [StdinInput]

            [TcpOutput]
            address = "127.0.0.1:\(port)"
            message_matcher = "TRUE"
            """.utf8))

        var receiver = try start(b)
        defer { stop(receiver) }
        waitForListener(port)
        let pipe = Pipe()
        let sender = try start(a, stdin: pipe)
        defer { stop(sender) }
        let total = 50_000
        for part in 0..<5 {
            let lines = (part * 10_000 + 1...(part + 1) * 10_000).map { "message \($0)" }.joined(separator: "\n") + "\n"
            pipe.fileHandleForWriting.write(Data(lines.utf8))
            if part == 1 || part == 3 {
                stop(receiver)  // B goes away while A keeps sending
                receiver = try start(b)
                waitForListener(port)
            }
        }
        try pipe.fileHandleForWriting.close()
        // A stops at the end of its input, once B acknowledged everything.
        #expect(waitForExit(sender, "A sent everything and exited", timeout: .seconds(300)) == 0)
        stop(receiver)

        let bytes = try Data(contentsOf: dir.appendingPathComponent("b.framed"))
        var reader = FramedStreamReader()
        let records = reader.feed(Array(bytes)) + reader.finish()
        let payloads = records.compactMap { r -> String? in
            guard case .message(let m) = r else { return nil }
            return try? MessageView(encoded: m).string(.payload)
        }
        let unique = Set(payloads)
        #expect(unique.count == total)  // none missing
        #expect(payloads.count - unique.count == 0)  // and, with the receiver's Uuid memory, none twice
    }
}

#if canImport(Glibc)
import Glibc
#endif

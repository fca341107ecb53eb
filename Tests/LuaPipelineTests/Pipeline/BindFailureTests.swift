#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import LuaPipeline

/// A listener that cannot bind: a start-up error, or a rejected new version on reload.
@Suite struct BindFailureTests {
    @Test func aPortTakenAtStartExitsOneNamingThePluginAndTheAddress() throws {
        let dir = temporaryDirectory()
        let taken = try Socket.bindUDP("127.0.0.1:0")
        defer { close(taken) }
        let port = boundPort(taken)
        FileManager.default.createFile(atPath: dir.appendingPathComponent("taken.toml").path, contents: Data("""
            [luapiped]
            base_dir = "state"
            sandbox_dir_watch = "off"

            [StatsdInput]
            address = "127.0.0.1:\(port)"

            [LogOutput]
            message_matcher = "TRUE"
            """.utf8))
        let p = Process()
        p.executableURL = CommandLineTests.binary
        p.arguments = ["run", "-c", "taken.toml"]
        p.currentDirectoryURL = dir
        let err = Pipe()
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let stderr = PipeCollector(err)
        #expect(waitForExit(p) == 1)
        let text = stderr.finish()
        #expect(text.contains("[StatsdInput] address: cannot bind 127.0.0.1:\(port): Address already in use"), "\(text)")
    }

    @Test func aPortTakenOnReloadKeepsTheRunningVersion() throws {
        let h = ReloadHarness()
        let firstPort = try freeUdpPort()
        let taken = try Socket.bindUDP("127.0.0.1:0")
        defer { close(taken) }
        let takenPort = boundPort(taken)
        func udp(_ port: Int) -> String {
            """
            [udp]
            type = "UdpInput"
            address = "127.0.0.1:\(port)"

            [received]
            type = "FileOutput"
            path = "out/received.txt"
            message_matcher = "Type == 'udp'"
            encoder = "PayloadEncoder"
            """
        }
        try h.start(udp(firstPort))
        StatsdTests.waitUntilBound(firstPort)
        h.put("luapiped.toml", h.configText(udp(takenPort)))
        #expect(h.pipeline.reloadConfig())
        h.waitUntil("the new version is rejected, naming the address") {
            h.events().contains { $0.plugin == "udp" && $0.action == "rejected" && $0.detail.contains("cannot bind 127.0.0.1:\(takenPort)") }
        }
        #expect(h.status("udp")?.state == .running)
        // The running version still receives on its address.
        let sender = StatsdTests.Sender(port: firstPort)
        eventually("a datagram sent to the running version arrives", step: { sender.send("still here") }) {
            h.lines("out/received.txt").contains("still here")
        }
        h.stop()  // a UDP input has no end of its own
    }
}

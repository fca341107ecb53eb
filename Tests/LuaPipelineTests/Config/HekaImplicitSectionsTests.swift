#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import LuaPipeline

/// Heka registers its stock splitters, decoders and encoders without a section; a Heka
/// config names them as they are. And a TcpInput without a decoder decodes protobuf only
/// behind Heka framing.
@Suite struct HekaImplicitSectionsTests {
    let dir = temporaryDirectory()

    private func parse(_ text: String) throws(ConfigErrors) -> PipelineConfig {
        try PipelineConfig.parse(sources: [("heka.toml", text)], directory: dir.path)
    }

    @Test func stockTypesNeedNoSection() throws {
        let c = try parse("""
            [StdinInput]
            splitter = "TokenSplitter"
            decoder = "multi"

            [multi]
            type = "MultiDecoder"
            subs = ["ProtobufDecoder"]

            [LogOutput]
            message_matcher = "TRUE"
            encoder = "PayloadEncoder"

            [framed]
            type = "FileOutput"
            path = "out.pb"
            message_matcher = "TRUE"
            encoder = "ProtobufEncoder"

            [json]
            type = "FileOutput"
            path = "out.json"
            message_matcher = "TRUE"
            encoder = "JsonEncoder"
            """)
        for name in ["TokenSplitter", "ProtobufDecoder", "PayloadEncoder", "ProtobufEncoder", "JsonEncoder"] {
            #expect(c.plugin(named: name)?.type.name == name, "\(name)")
        }
        _ = try Pipeline(config: c, log: PipelineLog(sink: { _ in }))
    }

    @Test func otherNamesStillNeedTheirSection() {
        #expect(throws: ConfigErrors.self) {
            try parse("""
                [StdinInput]
                splitter = "LineSplitter"
                """)
        }
        do {
            _ = try parse("[StdinInput]\ndecoder = \"nginx\"\n")
            Issue.record("a decoder without its section was accepted")
        } catch {
            #expect(error.description.contains("no section named \"nginx\""), "\(error)")
        }
    }

    @Test func hekasBundledFolderNamesFindTheBundledScripts() throws {
        let lua = repositoryRoot.appendingPathComponent("lua").path
        let c = try parse("""
            [luapiped]
            share_dir = "\(lua)"

            [nginx]
            type = "SandboxDecoder"
            filename = "lua_decoders/nginx_access.lua"

            [status]
            type = "SandboxFilter"
            filename = "lua_filters/http_status.lua"
            message_matcher = "TRUE"
            """)
        #expect(c.plugin(named: "nginx")?.script == (lua as NSString).appendingPathComponent("decoders/nginx_access.lua"))
        #expect(c.plugin(named: "status")?.script == (lua as NSString).appendingPathComponent("filters/http_status.lua"))
    }

    @Test func tcpInputBehindALineSplitterMakesPayloads() throws {
        let port = try freeTcpPort()
        let config = try parse("""
            [lines]
            type = "TcpInput"
            address = "127.0.0.1:\(port)"
            splitter = "TokenSplitter"

            [out]
            type = "FileOutput"
            path = "out.json"
            message_matcher = "TRUE"
            encoder = "JsonEncoder"
            """)
        let p = try Pipeline(config: config, log: PipelineLog(sink: { _ in }))
        p.start()
        defer { p.stop() }
        let fd = try #require(eventually("TcpInput accepts a connection") { try? Socket.connect("127.0.0.1:\(port)") })
        #expect(Socket.writeAll(fd, Array("first line\nsecond line\n".utf8)))
        close(fd)
        let counters = p.counters.first { $0.name == "lines" }!
        eventually("both lines became messages") { counters["processed"] == 2 }
        #expect(counters["decode_failures"] == 0)
        p.stop()
        let text = try String(contentsOf: dir.appendingPathComponent("out.json"), encoding: .utf8)
        let messages = try text.split(separator: "\n").map { try Message.fromJSON(Array($0.utf8)).message }
        #expect(messages.map(\.payload) == ["first line", "second line"])
        #expect(messages.allSatisfy { $0.type == "lines" && $0.logger == "lines" })
    }
}

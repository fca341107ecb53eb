import Foundation
import Testing
@testable import LuaPipeline

/// HttpListenInput on libmicrohttpd: Heka's message form, and every refusal answered
/// clearly, counted, with nothing of a refused body kept and the daemon running on.
@Suite struct HttpListenInputTests {
    /// A daemon with an HttpListenInput (`settings` added to its section) whose messages go
    /// to out/http.json; a SandboxDecoder refuses records containing "bad".
    func start(_ settings: String) throws -> (ReloadHarness, Int) {
        let h = ReloadHarness()
        let port = try freeTcpPort()
        h.put("picky.lua", """
            function process_message()
              local p = read_message("Payload")
              if p:find("bad", 1, true) then return -1, "bad record: " .. p end
              inject_message({Type = read_message("Type"), Payload = p, Hostname = read_message("Hostname"),
                              Fields = {user = read_message("Fields[user]"), ["X-Trace"] = read_message("Fields[X-Trace]"),
                                        Protocol = read_message("Fields[Protocol]")}})
              return 0
            end
            """)
        try h.start("""
            [http]
            type = "HttpListenInput"
            address = "127.0.0.1:\(port)"
            \(settings)

            [picky]
            type = "SandboxDecoder"
            filename = "picky.lua"

            [LineSplitter]
            type = "TokenSplitter"

            [http_out]
            type = "FileOutput"
            path = "out/http.json"
            message_matcher = "Type == 'heka.httpdata.request'"
            encoder = "JsonEncoder"
            """)
        eventually("the input listens") { HttpTestClient.request(port: port, method: "OPTIONS") != nil }
        return (h, port)
    }

    func messages(_ h: ReloadHarness) -> [[String: Any]] {
        h.lines("out/http.json").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    @Test func eachRecordBecomesAMessageInHekasForm() throws {
        let (h, port) = try start("""
            splitter = "LineSplitter"
            decoder = "picky"
            request_headers = ["X-Trace"]
            [http.headers]
            X-Served-By = ["luapiped"]
            """)
        let r = HttpTestClient.request(port: port, path: "/events?user=bob", headers: ["X-Trace": "t-1"], body: Array("one\ntwo\nthree\n".utf8))
        #expect(r?.status == 200)
        #expect(r?.headers["x-served-by"] == "luapiped")
        h.waitUntil("three messages written") { messages(h).count == 3 }
        let m = messages(h)
        #expect(m.map { $0["Payload"] as? String } == ["one", "two", "three"])
        let fields = m[0]["Fields"] as? [String: Any]
        #expect(fields?["user"] as? String == "bob")
        #expect(fields?["X-Trace"] as? String == "t-1")
        #expect(fields?["Protocol"] as? String == "HTTP/1.1")
        #expect(m[0]["Hostname"] as? String == "127.0.0.1")
        // PUT too; any other method is refused.
        #expect(HttpTestClient.request(port: port, method: "PUT", body: Array("four".utf8))?.status == 200)
        #expect(HttpTestClient.request(port: port, method: "GET")?.status == 405)
        h.waitUntil("the PUT's message written") { messages(h).count == 4 }
        #expect(h.counter("http", "requests") >= 3)
        h.stop()
    }

    @Test func recordsThatFailToDecodeAreNamedAndTheOthersKept() throws {
        let (h, port) = try start("splitter = \"LineSplitter\"\ndecoder = \"picky\"")
        let r = HttpTestClient.request(port: port, body: Array("good 1\nbad 2\ngood 3\n".utf8) + [0xFF, 0x0A])
        #expect(r?.status == 400)
        #expect(r?.body.contains("record 2: bad record: bad 2") == true)
        #expect(r?.body.contains("record 4: not valid UTF-8") == true)
        h.waitUntil("the good records written") { messages(h).count == 2 }
        #expect(messages(h).map { $0["Payload"] as? String } == ["good 1", "good 3"])
        #expect(h.counter("http", "decode_failures") == 2)
        h.stop()
    }

    @Test func refusedRequestsAreAnsweredCountedAndLeaveNothing() throws {
        let (h, port) = try start("""
            auth_type = "Basic"
            username = "app"
            password = "s3cret"
            max_body_size = 1000
            """)
        let auth = ["Authorization": HttpTestClient.basic("app", "s3cret")]
        let wrong = HttpTestClient.request(port: port, headers: ["Authorization": HttpTestClient.basic("app", "guess")], body: Array("x".utf8))
        #expect(wrong?.status == 401)
        #expect(wrong?.headers["www-authenticate"]?.hasPrefix("Basic") == true)
        #expect(HttpTestClient.request(port: port, body: Array("x".utf8))?.status == 401)
        let big = [UInt8](repeating: 0x61, count: 1500)
        #expect(HttpTestClient.request(port: port, headers: auth, body: big)?.status == 413)
        #expect(HttpTestClient.request(port: port, headers: auth, body: big, chunked: true)?.status == 413)
        // A malformed chunked body: libmicrohttpd answers 400; it is logged and counted.
        let malformed = "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: \(auth["Authorization"]!)\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n"
        #expect(HttpTestClient.exchange(port: port, raw: Array(malformed.utf8))?.status == 400)
        // The daemon runs on, and only the good request is stored.
        #expect(HttpTestClient.request(port: port, headers: auth, body: Array("kept".utf8))?.status == 200)
        h.waitUntil("the good request written") { messages(h).count == 1 }
        #expect(messages(h).first?["Payload"] as? String == "kept")
        // Two 401s, two 413s, the malformed body and the start's OPTIONS probe (405).
        h.waitUntil("the refusals counted (\(h.counter("http", "refused")))") { h.counter("http", "refused") == 6 }
        #expect(h.logged.withLock { $0 }.contains { $0.contains("refused: bad or missing Basic credentials") })
        #expect(h.logged.withLock { $0 }.contains { $0.contains("refused: body over max_body_size (1000 bytes)") })
        #expect(h.logged.withLock { $0 }.contains { $0.contains("chunked encoding") })
        h.stop()
    }

    @Test func apiKeyAuthentication() throws {
        let (h, port) = try start("auth_type = \"API\"\nkey = \"k-123\"")
        #expect(HttpTestClient.request(port: port, headers: ["X-API-KEY": "nope"], body: Array("x".utf8))?.status == 401)
        #expect(HttpTestClient.request(port: port, headers: ["X-API-KEY": "k-123"], body: Array("y".utf8))?.status == 200)
        h.waitUntil("the authorised request written") { messages(h).count == 1 }
        h.stop()
    }

    @Test func badSettingsAreConfigErrors() throws {
        let dir = temporaryDirectory()
        let path = dir.appendingPathComponent("bad.toml").path
        FileManager.default.createFile(atPath: path, contents: Data("""
            [a]
            type = "HttpListenInput"
            auth_type = "Basic"
            username = "u"

            [b]
            type = "HttpListenInput"
            auth_type = "Digest"
            """.utf8))
        #expect {
            _ = try PipelineConfig.load(path: path)
        } throws: { error in
            let text = "\(error)"
            return text.contains("[a] auth_type: \"Basic\" needs username and password") && text.contains("[b] auth_type:")
        }
    }
}

import Foundation
import Testing
@testable import LuaPipeline

/// The example application (Examples/, built by scripts/test) against a daemon: its logs,
/// metrics and events all arrive.
@Suite struct ExampleTests {
    let h = ReloadHarness()

    var binary: String { repositoryRoot.appendingPathComponent("Examples/.build/debug/client-demo").path }

    func requireBinary() throws {
        try #require(FileManager.default.isExecutableFile(atPath: binary),
                     "\(binary) is missing: scripts/test builds it (swift build --package-path Examples)")
    }

    /// The client builds its messages with the daemon's own Lua-free core: the app links
    /// LuapipedCore, and neither Lua nor PCRE2.
    @Test func theAppLinksTheSharedCoreWithoutLuaOrPcre() throws {
        try requireBinary()
        let needed = runTool("/usr/bin/readelf", ["-d", binary])
        #expect(needed.status == 0, "\(needed.output)")
        #expect(needed.output.contains("libc.so"), "\(needed.output)")
        #expect(!needed.output.contains("lua"), "\(needed.output)")
        #expect(!needed.output.contains("pcre"), "\(needed.output)")
        let symbols = runTool("/usr/bin/nm", [binary])
        #expect(symbols.status == 0)
        let names = symbols.output.split(separator: "\n")
        #expect(names.contains { $0.contains("12LuapipedCore7MessageV7encoded") }, "the core's encoder is not in the app")
        #expect(!names.contains { $0.hasSuffix(" lua_pcallk") || $0.hasSuffix(" luaL_newstate") || $0.contains("pcre2_") })
    }

    @Test func theExampleAppReachesTheDaemonWithAllThree() throws {
        try requireBinary()
        let logs = try freeTcpPort(), events = try freeTcpPort(), statsd = try freeUdpPort()
        h.put("luapiped.toml", h.configText("""
            [logs]
            type = "TcpInput"
            address = "127.0.0.1:\(logs)"

            [orders]
            type = "TcpInput"
            address = "127.0.0.1:\(events)"
            ack = true

            [StatsdInput]
            address = "127.0.0.1:\(statsd)"

            [StatAccumInput]
            ticker_interval = 1

            [received]
            type = "FileOutput"
            path = "out/received.json"
            message_matcher = "Logger == 'checkout' || Type == 'heka.statmetric'"
            encoder = "JsonEncoder"
            """))
        try h.start()
        defer { h.stop() }
        let run = runTool(binary, ["127.0.0.1:\(logs)", "127.0.0.1:\(events)", "127.0.0.1:\(statsd)", "5"], timeout: 120)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("placed 5 orders"))
        func messages() -> [Message] { h.lines("out/received.json").compactMap { try? Message.fromJSON(Array($0.utf8)).message } }
        func counted() -> Double {
            messages().filter { $0.type == "heka.statmetric" }.flatMap { ($0.payload ?? "").split(separator: "\n") }
                .filter { $0.hasPrefix("stats.counters.checkout.orders_placed.count ") }
                .reduce(0) { $0 + (Double($1.split(separator: " ")[1]) ?? 0) }
        }
        h.waitUntil("5 log records, 5 events and the 5 orders counted") {
            let m = messages()
            return m.filter { $0.type == "app.log" }.count == 5 && m.filter { $0.type == "order.placed" }.count == 5 && counted() == 5
        }
        let event = try #require(messages().first { $0.type == "order.placed" && $0.payload == "order 0" })
        #expect(event.field("amount")?.value == .double([9.5]))
    }
}

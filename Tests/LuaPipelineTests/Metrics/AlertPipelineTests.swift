import Foundation
import Testing
@testable import LuaPipeline

/// The README's alert example, run as a user would: dropped into lua.d while the daemon
/// runs, fed nginx lines, reloaded; its alerts written by the bundled alert encoder.
@Suite struct AlertPipelineTests {
    let h = ReloadHarness()
    let lua = repositoryRoot.appendingPathComponent("lua").path

    /// The code block after `<!-- alert-example:NAME -->` in README.md.
    static func readmeBlock(_ name: String) throws -> String {
        let readme = try String(contentsOf: repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let marker = try #require(readme.range(of: "<!-- alert-example:\(name) -->"))
        let rest = readme[marker.upperBound...]
        let open = try #require(rest.range(of: "```"))
        let body = rest[open.upperBound...].drop { $0 != "\n" }.dropFirst()
        let close = try #require(body.range(of: "```"))
        return String(body[..<close.lowerBound])
    }

    static func nginx(_ status: Int, _ i: Int) -> String {
        "10.0.0.\(i % 250) - - [26/Nov/2026:10:00:\(String(format: "%02d", i % 60)) +0000] \"GET /p/\(i) HTTP/1.1\" \(status) 512 \"-\" \"test\""
    }

    @Test func theReadmeAlertFiresOnceAndItsThrottleSurvivesAReload() throws {
        let code = try Self.readmeBlock("lua")
        let settings = try Self.readmeBlock("toml").replacingOccurrences(of: "ticker_interval = 60", with: "ticker_interval = 1")
        h.put("luapiped.toml", """
            [luapiped]
            base_dir = "state"
            share_dir = "\(lua)"
            sandbox_dir_debounce = "30ms"

            [StdinInput]
            decoder = "nginx"

            [nginx]
            type = "SandboxDecoder"
            filename = "decoders/nginx_access.lua"
            [nginx.config]
            type = "nginx.access"

            [PayloadEncoder]

            [reloads]
            type = "FileOutput"
            path = "out/events.json"
            message_matcher = "Type == 'luapiped.reload'"
            encoder = "JsonEncoder"
            [JsonEncoder]

            \(try Self.readmeBlock("config"))
            """)
        h.put("lua.d/filters/nginx_5xx_alert.toml", settings)
        h.put("lua.d/filters/nginx_5xx_alert.lua", code)
        try h.start()
        // 200 requests, 20 of them 5xx: 10% > 5%.
        h.send((0..<200).map { Self.nginx($0 % 10 == 0 ? 503 : 200, $0) })
        h.waitUntil("an alert is written") { !h.lines("alerts.txt").isEmpty }
        // A new version (a changed comment) takes over; it must not alert again.
        h.put("lua.d/filters/nginx_5xx_alert.lua", code + "\n-- edited\n")
        var i = 200
        h.keepSending(until: "the new version took over") {
            i += 1
            return h.status("nginx_5xx_alert")?.replacements == 1
        }
        h.send((0..<100).map { Self.nginx(500, 1000 + $0) })
        h.waitUntil("the new version counted them") { h.counter("nginx_5xx_alert", "processed") >= 300 }
        Thread.sleep(forTimeInterval: 1.5)  // at least one timer_event of the new version
        h.finish()
        let text = h.lines("alerts.txt")
        #expect(text.filter { $0.hasPrefix("Alert: nginx 5xx") }.count == 1)
        #expect(text.contains("10.0% of 200 requests failed with a 5xx in the last 5 minutes"))
    }
}

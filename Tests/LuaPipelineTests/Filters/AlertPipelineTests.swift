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
        // A new version takes over; it must not alert again. The edit makes each of its
        // timer_events observable: it injects a message, counted in `injected`.
        h.put("lua.d/filters/nginx_5xx_alert.lua", code + """

            -- edited: the README's timer_event, then a message saying it ran
            local readme_timer_event = timer_event
            function timer_event(ns, shutdown)
                readme_timer_event(ns, shutdown)
                inject_message({Type = "timer_ran"})
            end

            """)
        var i = 200
        h.keepSending(until: "the new version took over") {
            i += 1
            return h.status("nginx_5xx_alert")?.replacements == 1
        }
        h.send((0..<100).map { Self.nginx(500, 1000 + $0) })
        h.waitUntil("the new version counted them") { h.counter("nginx_5xx_alert", "processed") >= 300 }
        // A timer_event that runs from now on sees all 300 requests (timer_event and
        // process_message run one after the other): it would alert again if the throttle
        // had been lost.
        let injected = h.counter("nginx_5xx_alert", "injected")
        h.waitUntil("a timer_event of the new version ran after the 5xx burst") { h.counter("nginx_5xx_alert", "injected") > injected }
        h.finish()
        let text = h.lines("alerts.txt")
        #expect(text.filter { $0.hasPrefix("Alert: nginx 5xx") }.count == 1)
        #expect(text.contains("10.0% of 200 requests failed with a 5xx in the last 5 minutes"))
    }
}

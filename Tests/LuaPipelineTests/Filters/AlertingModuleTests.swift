import Foundation
import Testing
@testable import LuaPipeline

/// The bundled anomaly, alert and annotation modules, run in a sandbox as filters use them.
@Suite struct AlertingModuleTests {
    let modules = repositoryRoot.appendingPathComponent("lua/modules").path

    private func harness(_ source: String) throws -> ScriptHarness {
        try ScriptHarness(source, modulePaths: [modules])
    }

    /// Series of 200 one-minute rows around 100 (deterministic noise of ±5).
    static let series = """
        require "circular_buffer"
        local anomaly = require "anomaly"
        local seed = 42
        local function noise() seed = (seed * 1103515245 + 12345) % 2147483648; return (seed % 1001) / 100 - 5 end
        local function make(shape)
          local cb = circular_buffer.new(201, 1, 60)
          cb:set_header(1, "Requests")
          for i = 0, 199 do cb:set(i * 60e9, 1, shape(i) + noise()) end
          return cb
        end
        local now = 200 * 60e9 + 1
        control = make(function(i) return 100 end)
        spike = make(function(i) return i >= 197 and 200 or 100 end)
        trend = make(function(i) return 100 + i * 0.3 end)
        """

    @Test func rocFlagsASpikeAndMwwASlowTrendButNotTheControl() throws {
        let h = try harness(Self.series + """
            function process_message()
              local cfg = anomaly.parse_config('roc("G", 1, 3, 0, 3, false, false) mww("G", 1, 20, 4, 0.0001, "increasing") mww_nonparametric("G", 1, 20, 4, 0.9, "increasing")')
              local roc = anomaly.parse_config('roc("G", 1, 3, 0, 3, false, false)')
              local mww = anomaly.parse_config('mww("G", 1, 20, 4, 0.0001, "increasing")')
              local np = anomaly.parse_config('mww_nonparametric("G", 1, 20, 4, 0.9, "increasing")')
              assert(anomaly.detect(now, "G", control, cfg) == nil, "control: quiet")
              local m, annos = anomaly.detect(now, "G", spike, roc)
              assert(m and m:find("G Requests: rate of change"), tostring(m))
              assert(#annos == 1 and annos[1].col == 1 and annos[1].type == "alert" and annos[1].ns == 199 * 60e9)
              assert(anomaly.detect(now, "G", trend, roc) == nil, "a slow trend is no spike")
              local t = anomaly.detect(now, "G", trend, mww)
              assert(t and t:find("mww: increasing trend"), tostring(t))
              local n = anomaly.detect(now, "G", trend, np)
              assert(n and n:find("mww_nonparametric: increasing trend"), tostring(n))
              assert(anomaly.detect(now, "other title", spike, cfg) == nil)
              return 0
            end
            """)
        #expect(terminationReason(h.process()) == nil)
    }

    @Test func lossAndStartOfData() throws {
        let h = try harness("""
            require "circular_buffer"
            local anomaly = require "anomaly"
            function process_message()
              local cfg = anomaly.parse_config('roc("G", 1, 2, 0, 3, true, true)')
              local lost = circular_buffer.new(20, 1, 1)
              for i = 0, 15 do lost:set(i * 1e9, 1, 10) end
              lost:set(19e9, 1, 0/0)  -- the window moved on without data
              assert(anomaly.detect(19e9, "G", lost, cfg):find("no data"))
              local started = circular_buffer.new(20, 1, 1)
              started:set(17e9, 1, 5)
              started:set(18e9, 1, 5)
              started:set(19e9, 1, 0/0)
              assert(anomaly.detect(19e9, "G", started, cfg):find("data started"))
              return 0
            end
            """)
        #expect(terminationReason(h.process()) == nil)
    }

    @Test func badConfigsAreClearErrors() throws {
        let h = try harness("""
            local anomaly = require "anomaly"
            function process_message()
              assert(anomaly.parse_config(nil) == nil and anomaly.parse_config("  ") == nil)
              for _, bad in ipairs({'nope("G", 1)', 'roc(1, 2, 3, 0, 1)', 'roc("G", 1, 3, 0, -1)', 'mww("G", 1, 20, 4, 0.1, "up")', 'roc("G", 1, 3, 0, 1) junk'}) do
                local ok, err = pcall(anomaly.parse_config, bad)
                assert(not ok and tostring(err):find("anomaly_config"), bad)
              end
              return 0
            end
            """)
        #expect(terminationReason(h.process()) == nil)
    }

    @Test func alertsAreThrottledAndTheThrottleIsPreserved() throws {
        let script = """
            local alert = require "alert"
            alert.set_throttle(60e9)
            function process_message()
              local ns = read_message("Timestamp")
              alert.send(ns, "at " .. ns / 1e9)
              return 0
            end
            function timer_event(ns)
              alert.queue(ns, "one")
              alert.queue(ns, "two")
              alert.send_queue(ns, "queued")
            end
            """
        let a = try harness(script)
        for s in [0, 30, 61, 90] { a.process(Message(timestamp: Int64(s) * 1_000_000_000, type: "t")) }
        let sent = a.messages.map { $0.payload ?? "" }
        #expect(sent == ["at 0.0", "at 61.0"])
        #expect(a.messages.allSatisfy { $0.field("payload_type")?.value == .string(["alert"]) })
        // A new sandbox (a restart or a hot reload) keeps the last alert time.
        let b = try harness(script)
        #expect(try b.sandbox.restore(try a.sandbox.preserve()))
        b.process(Message(timestamp: 100 * 1_000_000_000, type: "t"))
        #expect(b.messages.isEmpty)
        try b.sandbox.timerEvent(ns: 125 * 1_000_000_000, shutdown: false)
        #expect(b.messages.map { $0.payload ?? "" } == ["one\ntwo"])
    }

    @Test func annotationsKeptPrunedAndApplied() throws {
        let h = try harness("""
            require "circular_buffer"
            local annotation = require "annotation"
            function process_message()
              annotation.add("g", 120e9, 1, "alert", "spike")
              annotation.add("g", 60e9, 2, "info", "deploy \\"v2\\"")
              assert(annotation.json("g") == '[{"x":60000,"col":2,"shortText":"I","text":"deploy \\\\"v2\\\\""},{"x":120000,"col":1,"shortText":"A","text":"spike"}]')
              annotation.set_prune("g", 100e9)
              annotation.prune("g", 200e9)
              assert(annotation.json("g") == '[{"x":120000,"col":1,"shortText":"A","text":"spike"}]')
              annotation.concat("g", {{ns = 180e9, col = 1, type = "alert", text = "again"}})
              annotation.remove("g", 120e9, 1)
              local cb = circular_buffer.new(4, 1, 60)
              annotation.apply("g", cb)
              inject_payload("cbuf", "g", cb)
              return 0
            end
            """)
        #expect(terminationReason(h.process()) == nil)
        #expect(h.messages.first?.payload?.contains("\"annotations\":[{\"x\":180000,\"col\":1,\"shortText\":\"A\",\"text\":\"again\"}]") == true)
    }
}

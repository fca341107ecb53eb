import Foundation
import Synchronization
import Testing
@testable import LuaPipeline

/// Hot reload of the drop-in directory while messages flow: swaps keep the state and lose
/// nothing, broken versions leave the running one, plugins come and go.
@Suite struct HotReloadTests {
    let h = ReloadHarness()
    static let lines = "message_matcher = \"Type == 'StdinInput'\"\n"

    @Test func aCountingFilterReplacedThreeTimesCountsEveryMessageOnce() throws {
        h.put("lua.d/filters/counter.toml", Self.lines)
        h.put("lua.d/filters/counter.lua", countingFilter(version: 1))
        try h.start()
        let total = 100_000
        var sent = 0
        for swap in 1...3 {
            h.send(count: 25_000, from: sent)
            sent += 25_000
            h.put("lua.d/filters/counter.lua", countingFilter(version: swap + 1))
            // Messages keep flowing while the new version is built and swapped in.
            eventually("version \(swap + 1) took over", interval: .milliseconds(2), step: {
                h.send(count: 10, from: sent)
                sent += 10
            }) { h.status("counter")?.replacements ?? 0 >= swap }
        }
        h.send(count: total - sent, from: sent)
        h.finish()
        #expect(h.lines("out/counts.txt") == ["\(total) v4"])
        #expect(h.counter("counter", "processed") == Int64(total))
        #expect(h.events().filter { $0.plugin == "counter" }.map(\.action) == ["replaced", "replaced", "replaced"])
    }

    @Test func brokenVersionsLeaveTheRunningOneAndTheFixTakesOver() throws {
        h.put("lua.d/filters/counter.toml", Self.lines)
        h.put("lua.d/filters/counter.lua", countingFilter(version: 1))
        try h.start()
        h.send(count: 1000)
        // A syntax error: never loads.
        h.put("lua.d/filters/counter.lua", "count = 0\nfunction process_message(\n")
        h.waitUntil("the syntax error is reported") { h.status("counter")?.lastError?.contains("counter.lua") == true }
        h.send(count: 1000, from: 1000)
        // Loads, but its first call raises an error: rejected, the old one takes the message.
        h.put("lua.d/filters/counter.lua", """
            count = 0
            function process_message() error("version 2 is broken") end
            """)
        h.send(count: 1000, from: 2000)
        // Its first call comes with the first message after it was built.
        h.keepSending(until: "the error in process_message is reported") { h.status("counter")?.lastError?.contains("version 2 is broken") == true }
        // (If the filter was idle when version 2 arrived, it took over at once and was
        // then sent back on its first message: replaced, then rejected.)
        let before = h.status("counter")?.replacements ?? 0
        // Fixed: the new version takes over, with the count.
        h.put("lua.d/filters/counter.lua", countingFilter(version: 3))
        h.keepSending(until: "the fixed version took over") { h.status("counter")?.replacements == before + 1 }
        h.finish()
        // Every line counted once, by whichever version ran.
        #expect(h.lines("out/counts.txt") == ["\(h.counter("StdinInput", "records")) v3"])
        let actions = h.events().filter { $0.plugin == "counter" }
        #expect(actions.map(\.action) == ["rejected", "rejected", "replaced"] || actions.map(\.action) == ["rejected", "replaced", "rejected", "replaced"])
        #expect(actions[0].detail.contains("counter.lua:3: <name> or '...' expected near <eof>"))
        #expect(actions.contains { $0.action == "rejected" && $0.detail.contains("version 2 is broken") })
        #expect(h.status("counter")?.lastError == nil)
    }

    @Test func anIdleFiltersNewVersionTakesOverAtOnce() throws {
        // Nothing it matches arrives, and its timer is an hour away.
        h.put("lua.d/filters/idle.toml", "message_matcher = \"Type == 'never'\"\nticker_interval = 3600\n")
        h.put("lua.d/filters/idle.lua", countingFilter(version: 1))
        try h.start()
        h.waitUntil("the filter runs") { h.status("idle")?.state == .running }
        h.put("lua.d/filters/idle.lua", countingFilter(version: 2))
        h.waitUntil("the new version took over without a message or a tick") { h.status("idle")?.replacements == 1 }
        h.finish()
        #expect(h.lines("out/counts.txt") == ["0 v2"])
        #expect(h.events().filter { $0.plugin == "idle" }.map(\.action) == ["replaced"])
    }

    @Test func aBrokenTomlLeavesTheRunningVersion() throws {
        h.put("lua.d/filters/counter.toml", Self.lines)
        h.put("lua.d/filters/counter.lua", countingFilter(version: 1))
        try h.start()
        h.send(count: 100)
        h.put("lua.d/filters/counter.toml", "message_matcher = \"Type ==\"\n")
        h.waitUntil("the broken .toml is reported") { h.status("counter")?.lastError?.contains("counter.toml") == true }
        h.send(count: 100, from: 100)
        h.finish()
        #expect(h.lines("out/counts.txt") == ["200 v1"])
        // Reported as a luapiped.reload message too, naming the file and the key.
        let events = h.events().filter { $0.plugin == "counter" }
        #expect(events.map(\.action) == ["rejected"])
        #expect(events.first?.detail.contains("counter.toml:1: [counter] message_matcher: syntax error") == true)
    }

    @Test func aFilterIsAddedDisabledReenabledAndDeletedWhileRunning() throws {
        try h.start()
        h.send(count: 100)
        h.waitUntil("the first lines are read") { h.counter("StdinInput", "records") == 100 }
        h.put("lua.d/filters/counter.toml", Self.lines)
        h.put("lua.d/filters/counter.lua", countingFilter(version: 1))
        h.waitUntil("the filter is added") { h.status("counter")?.state == .running }
        h.send(count: 500)
        h.waitUntil("the filter counted 500") { h.counter("counter", "processed") == 500 }
        h.put("lua.d/filters/counter.off", "")
        h.waitUntil("the filter is disabled") { h.status("counter")?.state == .stopped }
        h.send(count: 300)  // not for it
        h.waitUntil("those lines are read") { h.counter("StdinInput", "records") == 900 }
        h.delete("lua.d/filters/counter.off")
        h.waitUntil("the filter is enabled again") { h.status("counter")?.state == .running }
        h.send(count: 200)
        h.waitUntil("the filter counted 200 more") { h.counter("counter", "processed") == 200 }
        h.delete("lua.d/filters/counter.lua")
        h.waitUntil("the filter is removed") { h.status("counter")?.state == .stopped }
        h.send(count: 50)
        h.finish()
        // Each stop reported its count; re-enabled, it went on from its saved state.
        #expect(h.lines("out/counts.txt") == ["500 v1", "700 v1"])
        #expect(h.events().filter { $0.plugin == "counter" }.map(\.action) == ["added", "removed", "added", "removed"])
        #expect(h.counter("StdinInput", "records") == 1150)
    }

    @Test func reenablingARejectedVersionTriesItFirstAndKeepsTheSavedState() throws {
        h.put("lua.d/filters/counter.toml", Self.lines)
        h.put("lua.d/filters/counter.lua", countingFilter(version: 1))
        try h.start()
        h.send(count: 4)
        h.waitUntil("version 1 counted 4") { h.counter("counter", "processed") == 4 }
        h.put("lua.d/filters/counter.lua", "count = 0\nfunction process_message() error(\"version 2 is broken\") end\n")
        h.keepSending(until: "version 2 is rejected") { h.status("counter")?.lastError?.contains("version 2 is broken") == true }
        h.put("lua.d/filters/counter.off", "")
        h.waitUntil("the filter is disabled, its state saved") { h.status("counter")?.state == .stopped }
        let saved = Int(h.counter("StdinInput", "records"))  // version 1 counted every line so far
        // Put back with the rejected version in place: its first call fails, so it stops
        // again without touching the saved state.
        h.delete("lua.d/filters/counter.off")
        h.keepSending(until: "the rejected version failed its first message again") {
            h.events().contains { $0.action == "rejected" && $0.detail.contains("stopped again, its saved state kept") }
        }
        h.put("lua.d/filters/counter.lua", countingFilter(version: 3))
        // (The put-back was the first start from the saved state; this is the second.)
        h.keepSending(until: "the fixed version started from the saved state") {
            h.events().filter { $0.action == "added" && $0.detail == "started with its saved state" }.count == 2
        }
        h.send(count: 10)
        h.finish()
        let last = try #require(h.lines("out/counts.txt").last)
        #expect(last.hasSuffix(" v3"))
        #expect(Int(last.split(separator: " ")[0])! >= saved + 10, "the count went on from \(saved): \(last)")
    }

    @Test func aChangedModuleReloadsTheFiltersThatRequireIt() throws {
        h.put("lua.d/modules/step.lua", "return {size = 1}")
        h.put("lua.d/filters/stepper.toml", Self.lines)
        h.put("lua.d/filters/stepper.lua", """
            local step = require "step"
            total = 0
            function process_message() total = total + step.size return 0 end
            function timer_event(ns, shutdown) if shutdown then inject_message({Type = "count", Payload = tostring(total)}) end end
            """)
        h.put("lua.d/filters/plain.toml", Self.lines)
        h.put("lua.d/filters/plain.lua", countingFilter(version: 1))
        try h.start()
        h.send(count: 100)
        h.put("lua.d/modules/step.lua", "return {size = 1000}")
        h.keepSending(until: "the filter using the module is replaced") { h.status("stepper")?.replacements == 1 }
        h.send(count: 10)
        h.finish()
        // The ticks keepSending sent, counted once nothing is in flight (the last one may
        // not have been read when the swap was seen).
        let after = Int(h.counter("StdinInput", "records")) - 110
        let counts = Set(h.lines("out/counts.txt"))
        // 100 lines at 1, the one that took the new version in and everything after at 1000.
        let plainTotal = 100 + after + 10
        #expect(counts.contains("\(plainTotal) v1"))
        // Each message counted once: at 1 before the swap, at 1000 from the one that took
        // the new version in, or from the swap when the filter was idle (at least the last
        // 10 lines).
        let stepped = counts.compactMap { Int($0) }.first ?? 0
        let atNewSize = (stepped - plainTotal) / 999
        #expect((stepped - plainTotal) % 999 == 0 && atNewSize >= 10 && atNewSize <= after + 10)
        #expect(h.status("plain")?.replacements == 0)
        #expect(h.events().contains { $0.plugin == "stepper" && $0.action == "replaced" && $0.detail.contains("module step") })
    }

    @Test func aTerminatedFilterRestartsAtOnceWhenItsFileChanges() throws {
        h.put("lua.d/filters/fragile.toml", Self.lines + "[retries]\ndelay = \"1h\"\nmax_jitter = 0\n")
        h.put("lua.d/filters/fragile.lua", countingFilter(version: 1, extra: """
            local pm = process_message
            function process_message() if read_message("Payload") == "boom" then error("boom") end count = count + 1 return 0 end
            """).replacingOccurrences(of: "function process_message()\n  count = count + 1\n  return 0\nend", with: ""))
        try h.start()
        h.send(count: 10)
        h.send(["boom"])
        h.waitUntil("it is terminated, its restart an hour away") { h.status("fragile")?.state == .restarting }
        h.send(count: 5, from: 10)  // wait for the restart (an hour away)
        h.put("lua.d/filters/fragile.lua", countingFilter(version: 2))
        h.waitUntil("the new version runs") { h.status("fragile")?.replacements == 1 }
        h.send(count: 5, from: 15)
        h.finish()
        // Its count came along; the killing message was skipped, the waiting ones were not.
        #expect(h.lines("out/counts.txt") == ["20 v2"])
        #expect(h.counter("fragile", "skipped") == 1)
    }

    @Test func aChangedPreservationVersionStartsTheNewVersionAfresh() throws {
        h.put("lua.d/filters/counter.toml", Self.lines)
        h.put("lua.d/filters/counter.lua", "_PRESERVATION_VERSION = 1\n" + countingFilter(version: 1))
        try h.start()
        h.send(count: 100)
        h.waitUntil("the first version counted 100") { h.counter("counter", "processed") == 100 }
        h.put("lua.d/filters/counter.lua", "_PRESERVATION_VERSION = 2\n" + countingFilter(version: 2))
        h.keepSending(until: "the new version took over") { h.status("counter")?.replacements == 1 }
        h.send(count: 10)
        h.finish()
        let ticks = Int(h.counter("StdinInput", "records")) - 110  // read once nothing is in flight
        // Only what the new version saw: from the message that took it in.
        let count = Int(h.lines("out/counts.txt").first?.split(separator: " ").first ?? "") ?? -1
        #expect(count >= 10 && count <= ticks + 10)
        #expect(h.events().contains { $0.action == "replaced" && $0.detail.contains("_PRESERVATION_VERSION changed") })
    }

    @Test func aFailingLastTimerEventStillSavesTheState() throws {
        h.put("lua.d/filters/counter.toml", Self.lines + "preserve_data = true\n")
        h.put("lua.d/filters/counter.lua", "count = 0\nfunction process_message() count = count + 1 return 0 end\nfunction timer_event(ns, shutdown) if shutdown then error('no') end end")
        try h.start()
        h.send(count: 7)
        h.finish()
        let saved = (try? String(contentsOfFile: h.path("state/sandbox_preservation/counter.data"), encoding: .utf8)) ?? ""
        #expect(saved.contains("_G[\"count\"] = 7"))
    }

    @Test func pollingNoticesAFilterDroppedIn() throws {
        h.put("luapiped.toml", h.configText(global: "sandbox_dir_watch = \"poll\""))
        try h.start()
        h.put("lua.d/filters/counter.toml", Self.lines)
        h.put("lua.d/filters/counter.lua", countingFilter(version: 1))
        h.waitUntil("the filter is added") { h.status("counter")?.state == .running }
        h.send(count: 20)
        h.finish()
        #expect(h.lines("out/counts.txt") == ["20 v1"])
    }

    @Test func aDropInDecoderIsSwappedInPlaceWithoutLosingARecord() throws {
        h.put("lua.d/decoders/upper.lua", """
            function process_message()
              inject_message({Type = "decoded", Payload = "v1 " .. read_message("Payload")})
              return 0
            end
            """)
        h.put("luapiped.toml", h.configText("""
            [decoded]
            type = "FileOutput"
            path = "out/decoded.txt"
            message_matcher = "Type == 'decoded'"
            encoder = "PayloadEncoder"
            """).replacingOccurrences(of: "[StdinInput]\n", with: "[StdinInput]\ndecoder = \"upper\"\n"))
        try h.start()
        h.send(count: 100)
        h.put("lua.d/decoders/upper.lua", """
            function process_message()
              inject_message({Type = "decoded", Payload = "v2 " .. read_message("Payload")})
              return 0
            end
            """)
        var n = 100
        eventually("the new decoder took over", interval: .milliseconds(5), step: {
            h.send(count: 1, from: n)
            n += 1
        }) { h.status("upper")?.replacements ?? 0 >= 1 }
        h.send(count: 10, from: n)
        n += 10
        h.finish()
        let out = h.lines("out/decoded.txt")
        #expect(out.count == n)
        #expect(out.map { String($0.split(separator: " ", maxSplits: 1)[1]) } == (0..<n).map { "line \($0)" })
        #expect(out.first?.hasPrefix("v1 ") == true && out.last?.hasPrefix("v2 ") == true)
    }
}

#if canImport(Glibc)
import Glibc
#endif

import Foundation
import Testing
@testable import LuaPipeline

/// Heka's decoder setting `tz`: a script parses a wall-clock time without an offset as
/// UTC, and the host reads the Timestamp again in the named zone.
@Suite struct DecoderTimeZoneTests {
    static let second: Int64 = 1_000_000_000

    @Test func zonesFromTheSystemDatabase() throws {
        let la = try TimeZoneShift(named: "America/Los_Angeles")
        // rsyslog's "Feb 10 12:58:58" on a host in Los Angeles (PST, UTC-8) ...
        #expect(la.utc(fromWallClock: 1_392_037_138 * Self.second) == 1_392_065_938 * Self.second)
        // ... and in summer (PDT, UTC-7); the fraction of a second is kept.
        #expect(la.utc(fromWallClock: 1_404_475_200 * Self.second + 250) == 1_404_500_400 * Self.second + 250)
        // A time the spring change skips (02:30 on 2014-03-09) reads as Go's time.Date reads it.
        #expect(la.utc(fromWallClock: 1_394_332_200 * Self.second) == 1_394_357_400 * Self.second)
        // Past the file's last transition, its POSIX rule (CET-1CEST,M3.5.0,M10.5.0/3) decides.
        let berlin = try TimeZoneShift(named: "Europe/Berlin")
        #expect(berlin.utc(fromWallClock: 2_224_756_800 * Self.second) == 2_224_749_600 * Self.second)
        #expect(try TimeZoneShift(named: "Asia/Kolkata").offset(atUTC: 0) == 19_800)
        #expect(try TimeZoneShift(named: "Etc/UTC").utc(fromWallClock: 42) == 42)
    }

    @Test func posixRulesAlone() throws {
        let us = try #require(PosixRule("PST8PDT,M3.2.0,M11.1.0"))
        #expect(us.offset(atUTC: 1_392_065_938) == -8 * 3600)  // February
        #expect(us.offset(atUTC: 1_404_500_400) == -7 * 3600)  // July
        let half = try #require(PosixRule("<+0330>-3:30"))
        #expect(half.offset(atUTC: 0) == 3 * 3600 + 1800)
        #expect(PosixRule("") == nil)
    }

    @Test func unknownZonesAreRefusedWithTheirName() {
        for name in ["Mars/Olympus_Mons", "../etc/passwd", ""] {
            #expect(throws: TimeZoneError.self) { try TimeZoneShift(named: name) }
        }
        do {
            _ = try TimeZoneShift(named: "Mars/Olympus_Mons")
        } catch {
            #expect(error.reason.hasPrefix("unknown time zone \"Mars/Olympus_Mons\""))
        }
    }

    @Test func aDecoderWithTzShiftsWhatItInjectsNotWhatItPassesOn() throws {
        let script = """
            function process_message()
              if read_message("Payload") == "pass" then
                write_message("Timestamp", 1392037138 * 1000000000)
                return 0
              end
              inject_message({Timestamp = 1392037138 * 1000000000, Payload = "injected"})
              return 0
            end
            """
        let sb = try ScriptHarness(script, kind: .decoder, name: "syslog").sandbox
        let d = SandboxDecoder(sandbox: sb, inputName: "in")
        d.timeZone = try TimeZoneShift(named: "America/Los_Angeles")
        // Injected: shifted. Passed on (even rewritten): left as it is, as Heka's host did.
        for (payload, want) in [("injected", 1_392_065_938 * Self.second), ("pass", 1_392_037_138 * Self.second)] {
            var out: [Message] = []
            let failure = Array(payload.utf8).withUnsafeBytes { d.decode($0) { out.append($0.decoded()) } }
            #expect(failure == nil)
            #expect(out.map(\.timestamp) == [want], "\(payload)")
            #expect(out.first?.payload == payload)
        }
    }

    @Test func theConfigNamesTheZone() throws {
        let dir = temporaryDirectory()
        try "function process_message() return 0 end".write(to: dir.appendingPathComponent("d.lua"), atomically: true, encoding: .utf8)
        func pipeline(_ tz: String) throws -> Pipeline {
            let c = try PipelineConfig.parse(sources: [("tz.toml", """
                [StdinInput]
                decoder = "d"

                [d]
                type = "SandboxDecoder"
                filename = "d.lua"
                [d.config]
                tz = "\(tz)"
                """)], directory: dir.path)
            return try Pipeline(config: c, log: PipelineLog(sink: { _ in }))
        }
        _ = try pipeline("America/New_York")
        _ = try pipeline("UTC")
        do {
            _ = try pipeline("Nowhere/Atlantis")
            Issue.record("an unknown zone was accepted")
        } catch {
            #expect("\(error)".contains("unknown time zone \"Nowhere/Atlantis\""), "\(error)")
        }
    }
}

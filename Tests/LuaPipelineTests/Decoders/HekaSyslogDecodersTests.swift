import Foundation
import Testing
@testable import LuaPipeline

/// The date_time and syslog modules and the rsyslog and nginx_error decoders, on lines as
/// rsyslog (from `logger`, sshd, cron, the kernel) and nginx write them.
@Suite struct HekaSyslogDecodersTests {
    let lua = repositoryRoot.appendingPathComponent("lua")
    var modules: [String] { [lua.appendingPathComponent("modules").path] }

    private func decode(_ script: String, _ payload: String, config: [String: ConfigValue] = [:]) throws -> (ProcessResult, [Message]) {
        let code = try String(contentsOf: lua.appendingPathComponent("decoders/\(script)"), encoding: .utf8)
        let h = try ScriptHarness(code, kind: .decoder, config: config, modulePaths: modules, name: script)
        let r = h.process(Message(timestamp: 1, type: "input", payload: payload, pid: 77, hostname: "input-host"))
        return (r, h.messages)
    }

    /// Seconds since the epoch of a UTC wall-clock time.
    private func utc(_ y: Int, _ mo: Int, _ d: Int, _ h: Int, _ mi: Int, _ s: Int) -> Int64 {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC")!
        let date = cal.date(from: DateComponents(year: y, month: mo, day: d, hour: h, minute: mi, second: s))!
        return Int64(date.timeIntervalSince1970)
    }

    private var currentUTCYear: Int {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC")!
        return cal.component(.year, from: Date())
    }

    /// rfc3164 times carry no year: the decoders use the current one (either side of a
    /// New Year's midnight that passes during the test).
    private func rfc3164Candidates(_ mo: Int, _ d: Int, _ h: Int, _ mi: Int, _ s: Int, yearBefore: Int) -> Set<Int64> {
        [utc(yearBefore, mo, d, h, mi, s) * 1_000_000_000, utc(currentUTCYear, mo, d, h, mi, s) * 1_000_000_000]
    }

    // MARK: date_time module

    /// Matches Payload with the grammar named by Fields[grammar] (or an strftime grammar of
    /// Fields[format]) and injects the time table with `ns` = time_to_ns(t).
    private let dateProbe = #"""
        local dt = require "date_time"
        function process_message()
            local name = read_message("Fields[grammar]")
            local text = read_message("Payload")
            if name == "seconds" then
                inject_message({Fields = {ns = dt.seconds_to_ns(text)}})
                return 0
            end
            local g = name == "strftime" and dt.build_strftime_grammar(read_message("Fields[format]")) or dt[name]
            local t = g:match(text)
            if not t then return -1, "no match" end
            local ns = dt.time_to_ns(t)
            t.ns = ns
            inject_message({Fields = t})
            return 0
        end
        """#

    private func dateTime(_ grammar: String, _ text: String, format: String? = nil) throws -> Message? {
        let h = try ScriptHarness(dateProbe, kind: .decoder, modulePaths: modules, name: "date_probe")
        var fields = [Field(name: "grammar", value: .string([grammar]))]
        if let format { fields.append(Field(name: "format", value: .string([format]))) }
        let r = h.process(Message(timestamp: 1, type: "input", payload: text, fields: fields))
        guard case .ok(0, _) = r else { return nil }
        return h.messages.first
    }

    @Test func dateTimeRFC3339() throws {
        let m = try #require(try dateTime("rfc3339", "2014-02-10T12:58:58.123456-08:00"))
        #expect(m.field("ns")?.value == .integer([1_392_065_938_123_456_000]))  // 20:58:58.123456 UTC
        #expect(m.field("year")?.value == .string(["2014"]))
        #expect(m.field("month")?.value == .string(["02"]))
        #expect(m.field("day")?.value == .string(["10"]))
        #expect(m.field("hour")?.value == .string(["12"]))
        #expect(m.field("sec_frac")?.value == .double([0.123456]))
        #expect(m.field("offset_sign")?.value == .string(["-"]))
        #expect(m.field("offset_hour")?.value == .integer([8]))
        #expect(m.field("offset_min")?.value == .integer([0]))

        let plus = try #require(try dateTime("rfc3339", "1999-05-05T23:23:59.217+05:30"))
        #expect(plus.field("ns")?.value == .integer([925_926_839_217_000_000]))
        let zulu = try #require(try dateTime("rfc3339", "2014-02-10T12:58:58.123456789Z"))
        #expect(zulu.field("ns")?.value == .integer([1_392_037_138_123_456_789]))  // exact to the nanosecond
        #expect(zulu.field("offset_sign") == nil)
        #expect(try dateTime("rfc3339", "2014-02-10 12:58:58") == nil)
    }

    @Test func dateTimeLogTimestamps() throws {
        let clf = try #require(try dateTime("clf_timestamp", "10/Feb/2014:12:58:58 -0800"))
        #expect(clf.field("ns")?.value == .integer([1_392_065_938_000_000_000]))
        #expect(clf.field("month")?.value == .string(["2"]))
        #expect(try dateTime("mysql_timestamp", "20140210125858")?.field("ns")?.value == .integer([1_392_037_138_000_000_000]))
        #expect(try dateTime("pgsql_timestamp", "2014-02-10 12:58:58")?.field("ns")?.value == .integer([1_392_037_138_000_000_000]))

        let yearBefore = currentUTCYear
        let rfc3164 = try #require(try dateTime("rfc3164_timestamp", "Feb  3 07:15:01"))
        #expect(rfc3164.field("day")?.value == .string(["3"]))
        guard case .integer(let ns)? = rfc3164.field("ns")?.value else { Issue.record("ns"); return }
        #expect(rfc3164Candidates(2, 3, 7, 15, 1, yearBefore: yearBefore).contains(ns[0]))

        #expect(try dateTime("seconds", "1392037138.123456789")?.field("ns")?.value == .integer([1_392_037_138_123_456_789]))
    }

    @Test func dateTimeStrftime() throws {
        let nginx = try #require(try dateTime("strftime", "2014/03/01 11:29:39", format: "%Y/%m/%d %T"))
        #expect(nginx.field("ns")?.value == .integer([1_393_673_379_000_000_000]))

        let pm = try #require(try dateTime("strftime", "03/Feb/14 01:05:06 PM", format: "%d/%b/%y %r"))
        #expect(pm.field("ns")?.value == .integer([utc(2014, 2, 3, 13, 5, 6) * 1_000_000_000]))
        #expect(pm.field("period")?.value == .string(["PM"]))
        let am = try #require(try dateTime("strftime", "03/Feb/14 12:05:06 AM", format: "%d/%b/%y %r"))
        #expect(am.field("ns")?.value == .integer([utc(2014, 2, 3, 0, 5, 6) * 1_000_000_000]))

        let ctime = try #require(try dateTime("strftime", "Mon Feb  3 04:05:06 PST 2014", format: "%a %b %e %H:%M:%S %Z %Y"))
        #expect(ctime.field("ns")?.value == .integer([utc(2014, 2, 3, 12, 5, 6) * 1_000_000_000]))

        let offset = try #require(try dateTime("strftime", "[2014-02-03 04:05:06 +0100]", format: "[%F %T %z]"))
        #expect(offset.field("ns")?.value == .integer([utc(2014, 2, 3, 3, 5, 6) * 1_000_000_000]))

        let epoch = try #require(try dateTime("strftime", "1392037138", format: "%s"))
        #expect(epoch.field("time_t")?.value == .integer([1_392_037_138]))
        #expect(epoch.field("ns")?.value == .integer([1_392_037_138_000_000_000]))

        #expect(try dateTime("strftime", "2014/03/01", format: "%d/%m/%Y") == nil)
    }

    @Test func dateTimeUnknownSpecifier() throws {
        let script = #"local dt = require "date_time"; dt.build_strftime_grammar("%Y-%m-%d %Q"); function process_message() return 0 end"#
        do {
            _ = try ScriptHarness(script, kind: .decoder, modulePaths: modules)
            Issue.record("the script loaded")
        } catch {
            #expect("\(error)".contains("unknown strftime specifier: Q"), "\(error)")
        }
    }

    // MARK: rsyslog decoder

    @Test func rsyslogTraditionalFileFormat() throws {
        let config: [String: ConfigValue] = [
            "type": .string("RSYSLOG_TraditionalFileFormat"),
            "template": .string(#"%TIMESTAMP% %HOSTNAME% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\n"#),
        ]
        let yearBefore = currentUTCYear
        let (r, out) = try decode("rsyslog.lua", "Feb 10 12:58:58 trink-x230 kernel: imklog 5.8.6, log source = /proc/kmsg started.", config: config)
        guard case .ok(0, _) = r else { Issue.record("\(r)"); return }
        let m = try #require(out.first)
        #expect(m.type == "RSYSLOG_TraditionalFileFormat")
        #expect(rfc3164Candidates(2, 10, 12, 58, 58, yearBefore: yearBefore).contains(m.timestamp))
        #expect(m.hostname == "trink-x230")
        #expect(m.payload == "imklog 5.8.6, log source = /proc/kmsg started.")
        #expect(m.field("programname")?.value == .string(["kernel"]))
        #expect(m.pid == 77)        // no [pid] in the tag: the input's
        #expect(m.severity == nil)  // no PRI in the format
        #expect(m.fields.count == 1)

        // a single-digit day, padded with a space, and a tag with a pid
        let (r2, out2) = try decode("rsyslog.lua", "Feb  3 07:15:01 web-01 CRON[24523]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)", config: config)
        guard case .ok(0, _) = r2 else { Issue.record("\(r2)"); return }
        let cron = try #require(out2.first)
        #expect(rfc3164Candidates(2, 3, 7, 15, 1, yearBefore: yearBefore).contains(cron.timestamp))
        #expect(cron.hostname == "web-01" && cron.pid == 24523)
        #expect(cron.field("programname")?.value == .string(["CRON"]))
        #expect(cron.payload == "(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)")

        // the default template is this one; a line with its newline (as a splitter keeps it) parses too
        let (r3, out3) = try decode("rsyslog.lua", "Feb 10 12:59:02 trink-x230 sshd[1234]: Accepted publickey for trink from 192.0.2.4 port 52922 ssh2\n")
        guard case .ok(0, _) = r3 else { Issue.record("\(r3)"); return }
        let sshd = try #require(out3.first)
        #expect(sshd.type == "input")
        #expect(sshd.pid == 1234 && sshd.hostname == "trink-x230")
        #expect(sshd.field("programname")?.value == .string(["sshd"]))
        #expect(sshd.payload == "Accepted publickey for trink from 192.0.2.4 port 52922 ssh2")

        let (r4, out4) = try decode("rsyslog.lua", "Feb 10 12:59:03 mail postfix/smtpd[987]: connect from unknown[198.51.100.3]")
        guard case .ok(0, _) = r4 else { Issue.record("\(r4)"); return }
        #expect(out4.first?.field("programname")?.value == .string(["postfix/smtpd"]))
        #expect(out4.first?.pid == 987)

        let (bad, badOut) = try decode("rsyslog.lua", "not a syslog line", config: config)
        guard case .ok(-1, "Failed to parse") = bad else { Issue.record("\(bad)"); return }
        #expect(badOut.isEmpty)
    }

    @Test func rsyslogFileFormatRFC3339() throws {
        let (r, out) = try decode("rsyslog.lua", "2014-02-10T12:58:58.123456-08:00 trink-x230 tag[9]: msg with  two spaces",
                                  config: ["template": .string(#"%TIMESTAMP:::date-rfc3339% %HOSTNAME% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\n"#)])
        guard case .ok(0, _) = r else { Issue.record("\(r)"); return }
        let m = try #require(out.first)
        #expect(m.timestamp == 1_392_065_938_123_456_000)
        #expect(m.hostname == "trink-x230" && m.pid == 9)
        #expect(m.payload == "msg with  two spaces")
        #expect(m.field("programname")?.value == .string(["tag"]))

        // the built-in template's name stands for its text
        let (named, namedOut) = try decode("rsyslog.lua", "2014-02-10T20:58:58+00:00 host kernel: [    0.000000] Linux version 6.1.0",
                                           config: ["template": .string("RSYSLOG_FileFormat")])
        guard case .ok(0, _) = named else { Issue.record("\(named)"); return }
        #expect(namedOut.first?.timestamp == 1_392_065_938_000_000_000)
        #expect(namedOut.first?.payload == "[    0.000000] Linux version 6.1.0")

        // a traditional timestamp does not fit the RFC 3339 template
        let (bad, _) = try decode("rsyslog.lua", "Feb 10 12:58:58 host kernel: x", config: ["template": .string("RSYSLOG_FileFormat")])
        guard case .ok(-1, _) = bad else { Issue.record("\(bad)"); return }
    }

    @Test func rsyslogForwardFormats() throws {
        let yearBefore = currentUTCYear
        let (r, out) = try decode("rsyslog.lua", "<38>Feb 10 12:58:58 trink-x230 sshd[1234]: Accepted password for trink",
                                  config: ["template": .string(#"<%PRI%>%TIMESTAMP% %HOSTNAME% %syslogtag:1:32%%msg:::sp-if-no-1st-sp%%msg%"#)])
        guard case .ok(0, _) = r else { Issue.record("\(r)"); return }
        let m = try #require(out.first)
        #expect(rfc3164Candidates(2, 10, 12, 58, 58, yearBefore: yearBefore).contains(m.timestamp))
        #expect(m.severity == 6)  // 38 = auth (4) * 8 + info (6)
        #expect(m.field("syslogfacility")?.value == .integer([4]))
        #expect(m.pid == 1234 && m.hostname == "trink-x230")
        #expect(m.payload == "Accepted password for trink")

        let (f, fOut) = try decode("rsyslog.lua", "<134>2014-02-10T12:58:58.5Z web-01 nginx: GET /", config: ["template": .string("RSYSLOG_ForwardFormat")])
        guard case .ok(0, _) = f else { Issue.record("\(f)"); return }
        #expect(fOut.first?.timestamp == 1_392_037_138_500_000_000)
        #expect(fOut.first?.severity == 6)
        #expect(fOut.first?.field("syslogfacility")?.value == .integer([16]))  // local0

        let line = #"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry..."#
        let (p, pOut) = try decode("rsyslog.lua", line, config: ["template": .string("RSYSLOG_SyslogProtocol23Format")])
        guard case .ok(0, _) = p else { Issue.record("\(p)"); return }
        let s = try #require(pOut.first)
        #expect(s.timestamp == 1_065_910_455_003_000_000)
        #expect(s.severity == 5 && s.field("syslogfacility")?.value == .integer([20]))
        #expect(s.hostname == "mymachine.example.com")
        #expect(s.payload == "An application event log entry...")
        #expect(s.field("app-name")?.value == .string(["evntslog"]))
        #expect(s.field("procid")?.value == .string(["-"]))
        #expect(s.field("msgid")?.value == .string(["ID47"]))
        #expect(s.field("structured-data")?.value == .string([#"[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]"#]))
    }

    @Test func rsyslogOtherProperties() throws {
        let template = #"%timegenerated:::date-unixtimestamp% %fromhost-ip% %syslogseverity-text% %source% %programname%: %msg%"#
        let (r, out) = try decode("rsyslog.lua", "1392037138 192.0.2.1 err web-01 app: disk full", config: ["template": .string(template)])
        guard case .ok(0, _) = r else { Issue.record("\(r)"); return }
        let m = try #require(out.first)
        #expect(m.timestamp == 1)  // no %TIMESTAMP%: the input's
        #expect(m.severity == 3)
        #expect(m.hostname == "web-01")
        #expect(m.payload == "disk full")
        #expect(m.field("timegenerated")?.value == .integer([1_392_037_138_000_000_000]))
        #expect(m.field("fromhost-ip")?.value == .string(["192.0.2.1"]))
        #expect(m.field("programname")?.value == .string(["app"]))
        #expect(m.field("syslogseverity-text") == nil)

        // hostname_keep: the input's Hostname stays, the line's is a field
        let (k, kOut) = try decode("rsyslog.lua", "Feb 10 12:58:58 trink-x230 kernel: x", config: ["hostname_keep": .bool(true)])
        guard case .ok(0, _) = k else { Issue.record("\(k)"); return }
        #expect(kOut.first?.hostname == "input-host")
        #expect(kOut.first?.field("hostname")?.value == .string(["trink-x230"]))
    }

    @Test func rsyslogBadConfig() throws {
        do {
            _ = try decode("rsyslog.lua", "x", config: ["template": .string("%TIMESTAMP% %bogus% %msg%")])
            Issue.record("loaded")
        } catch {
            #expect("\(error)".contains("invalid rsyslog property: 'bogus'"), "\(error)")
        }
        do {
            _ = try decode("rsyslog.lua", "x", config: ["template": .string("%TIMESTAMP% %HOSTNAME")])
            Issue.record("loaded")
        } catch {
            #expect("\(error)".contains("could not parse the rsyslog template"), "\(error)")
        }
        #expect(throws: (any Error).self) { try decode("rsyslog.lua", "x", config: ["template": .integer(1)]) }
    }

    // MARK: nginx_error decoder

    @Test func nginxError() throws {
        let (r, out) = try decode("nginx_error.lua", #"2014/03/01 11:29:39 [notice] 16842#0: *8878 using inherited sockets from "6;""#)
        guard case .ok(0, _) = r else { Issue.record("\(r)"); return }
        let m = try #require(out.first)
        #expect(m.type == "nginx.error")
        #expect(m.timestamp == 1_393_673_379_000_000_000)
        #expect(m.severity == 5)
        #expect(m.pid == 16842)
        #expect(m.payload == #"using inherited sockets from "6;""#)
        #expect(m.field("tid")?.value == .double([0]))
        #expect(m.field("connection")?.value == .double([8878]))
        #expect(m.fields.count == 2)

        // no connection number
        let (r2, out2) = try decode("nginx_error.lua", "2024/01/15 08:00:02 [emerg] 1#1: bind() to 0.0.0.0:80 failed (98: Address already in use)")
        guard case .ok(0, _) = r2 else { Issue.record("\(r2)"); return }
        #expect(out2.first?.severity == 0 && out2.first?.pid == 1)
        #expect(out2.first?.field("connection") == nil && out2.first?.field("tid")?.value == .double([1]))
        #expect(out2.first?.payload == "bind() to 0.0.0.0:80 failed (98: Address already in use)")

        // the client/server/request suffix stays in the Payload, as in Heka
        let line = #"2023/06/22 17:34:59 [error] 4008#4008: *1 open() "/usr/share/nginx/html/t" failed (2: No such file or directory), client: 192.168.56.1, server: _, request: "GET /t HTTP/1.1", host: "192.168.56.10""#
        let (r3, out3) = try decode("nginx_error.lua", line, config: ["type": .string("web.error")])
        guard case .ok(0, _) = r3 else { Issue.record("\(r3)"); return }
        let e = try #require(out3.first)
        #expect(e.type == "web.error" && e.severity == 3 && e.pid == 4008)
        #expect(e.timestamp == 1_687_455_299_000_000_000)
        #expect(e.field("connection")?.value == .double([1]))
        #expect(e.payload == #"open() "/usr/share/nginx/html/t" failed (2: No such file or directory), client: 192.168.56.1, server: _, request: "GET /t HTTP/1.1", host: "192.168.56.10""#)

        let warn = "2024/01/15 08:00:01 [warn] 1234#1234: *42 an upstream response is buffered to a temporary file /var/cache/nginx/proxy_temp/1/00/0000000001 while reading upstream, client: 203.0.113.7, server: example.com"
        let (r4, out4) = try decode("nginx_error.lua", warn, config: ["payload_keep": .bool(true)])
        guard case .ok(0, _) = r4 else { Issue.record("\(r4)"); return }
        #expect(out4.first?.severity == 4 && out4.first?.payload == warn)

        for level in [("debug", 7), ("info", 6), ("crit", 2), ("alert", 1)] {
            let (rl, outl) = try decode("nginx_error.lua", "2024/01/15 08:00:02 [\(level.0)] 1#1: x")
            guard case .ok(0, _) = rl else { Issue.record("\(rl)"); return }
            #expect(outl.first?.severity == Int32(level.1), "\(level.0)")
        }

        let (bad, badOut) = try decode("nginx_error.lua", "garbage line")
        guard case .ok(-1, "Failed to parse") = bad else { Issue.record("\(bad)"); return }
        #expect(badOut.isEmpty)
        let (unknown, _) = try decode("nginx_error.lua", "2024/01/15 08:00:02 [bogus] 1#1: x")
        guard case .ok(-1, _) = unknown else { Issue.record("\(unknown)"); return }
    }
}

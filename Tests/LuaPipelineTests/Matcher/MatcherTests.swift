import Testing
@testable import LuaPipeline

/// Heka's own matcher test message (message_matcher_test.go / lua_sandbox's
/// test_heka_message_matcher.c), plus a few fields for the cases Heka did not cover.
private let uuidBytes: [UInt8] = [
    0x27, 0x88, 0x81, 0xdc, 0x32, 0x6f, 0x4e, 0x3f, 0x9a, 0x5a, 0x93, 0x86, 0xa3, 0x7e, 0x24, 0x6f,
]
private let uuidText = "278881dc-326f-4e3f-9a5a-9386a37e246f"
/// 2015-04-11T17:30:26.113040228Z
private let timestamp: Int64 = 1_428_773_426_113_040_228

private let fullView = MessageView(Message(
    uuid: uuidBytes, timestamp: timestamp, type: "TEST", logger: "GoSpec", severity: 6,
    payload: "Test Payload", envVersion: "0.8", pid: 32157, hostname: "trink-x230",
    fields: [
        Field(name: "foo", value: .string(["bar"])),
        Field(name: "number", value: .integer([64])),
        Field(name: "bytes", value: .bytes([Array("data".utf8)])),
        Field(name: "int", value: .integer([999, 1024])),
        Field(name: "double", value: .double([99.9])),
        Field(name: "bool", value: .bool([true])),
        Field(name: "foo", value: .string(["alternate"])),
        Field(name: "Payload", value: .string(["name=test;type=web;"])),
        Field(name: "Timestamp", value: .string(["Mon Jan 02 15:04:05 -0700 2006"]), representation: "date-time"),
        Field(name: "zero", value: .integer([0])),
        Field(name: "string", value: .string(["43"])),
        Field(name: "off", value: .bool([false, true])),
        Field(name: "one", value: .integer([1])),
        Field(name: "onepointzero", value: .double([1.0, 2.5])),
        Field(name: "negative", value: .integer([-5])),
        Field(name: "nothing", value: .string([])),
        Field(name: "empty", value: .string([""])),
        Field(name: "unicode", value: .string(["héllo wörld"])),
        Field(name: "binary", value: .bytes([[0x66, 0xFF, 0x6F, 0x6F]])),
        Field(name: "big", value: .integer([9_007_199_254_740_993])),
        Field(name: "with space", value: .string(["x"])),
        Field(name: "path", value: .string(["C:\\tmp\\a/b"])),
        Field(name: "quotes", value: .string(["it's \"q\""])),
    ]))

/// Only the required headers: every optional header and field is absent.
private let bareView = MessageView(Message(uuid: uuidBytes, timestamp: 0))

private func matches(_ expression: String, _ view: MessageView = fullView) throws -> Bool {
    try MessageMatcher(expression).matches(view)
}

private func errorText(_ expression: String) -> String? {
    do {
        _ = try MessageMatcher(expression)
        return nil
    } catch {
        return error.description
    }
}

@Suite("MessageMatcher")
struct MatcherTests {
    @Test("matches", arguments: [
        // Heka's positive cases.
        "TRUE",
        "(Severity == 7 || Payload == 'Test Payload') && Type == 'TEST'",
        "EnvVersion == \"0.8\"", "EnvVersion == '0.8'", "EnvVersion != '0.9'", "EnvVersion > '0.7'",
        "EnvVersion >= '0.8'", "EnvVersion < '0.9'", "EnvVersion <= '0.8'",
        "Hostname != ''", "Logger == 'GoSpec'", "Pid != 0",
        "Severity != 5", "Severity < 7", "Severity <= 6", "Severity == 6", "Severity > 5", "Severity >= 6",
        "Timestamp > 0", "Type != 'test'", "Type == 'TEST' && Severity == 6",
        "Type == 'test' && Severity == 7 || Payload == 'Test Payload'",
        "Type == 'TEST'", "Type == 'foo' || Type == 'bar' || Type == 'TEST'",
        "Uuid == '\(uuidText)'",
        "Fields[foo] == 'bar'", "Fields[foo][0] == 'bar'", "Fields[foo][0][0] == 'bar'",
        "Fields[foo][1] == 'alternate'", "Fields[foo][1][0] == 'alternate'",
        "Fields[bytes] == 'data'", "Fields[int] == 999", "Fields[int][0][1] == 1024",
        "Fields[double] == 99.9", "Fields[bool] == TRUE",
        "Type =~ /TEST/", "Type !~ /bogus/", "Type =~ /TEST/ && Payload =~ /Payload/",
        "Fields[foo][1] =~ /alt/", "Fields[Payload] =~ /name=\\w+/", "Type =~ /(ST)/",
        "Fields[int] != NIL", "Fields[int][0][1] != NIL", "Fields[int][0][2] == NIL", "Fields[missing] == NIL",
        "Type =~ /^TE/", "Type =~ /ST$/", "Type !~ /^te/", "Type !~ /st$/",
        // lua_sandbox's additions: exponents, RFC 3339 timestamps, NIL on headers.
        "Timestamp > 1.428773420000e+18", "Timestamp < 1.428773426999e18",
        "Timestamp == 1428773426113040228",
        "Timestamp > '2015-04-11T17:30:26Z'", "Timestamp > '2015-04-11T17:30:26.112Z'",
        "Timestamp < '2015-04-11T17:30:26.114Z'", "Timestamp == \"2015-04-11T17:30:26.113040228Z\"",
        "Timestamp == '2015-04-11T19:30:26.113040228+02:00'", "Timestamp == '2015-04-11T12:30:26.113040228-0500'",
        "Fields[foo][255] == NIL", "Fields[foo][0][255] == NIL",
        "Type != NIL", "Pid != NIL", "Fields[foo] != NIL",
        // Field kinds and indices.
        "Fields[foo][2] == NIL", "Fields[int][1] == NIL", "Fields[nothing] == NIL", "Fields[empty] != NIL",
        "Fields[empty] == ''", "Fields[int] == 999.0", "Fields[int][0][1] > 1023.5", "Fields[double] > 99",
        "Fields[double] < 100", "Fields[double] >= 99.9", "Fields[double] <= 99.9", "Fields[double] != 99.8",
        "Fields[negative] == -5", "Fields[negative] < -4.5", "Fields[negative] > -5e1",
        "Fields[big] == 9007199254740993", "Fields[big] != 9007199254740992", "Fields[big] > 9007199254740992",
        "Fields[number] == 64 && Fields[number] == +64 && Fields[number] == 6.4e1 && Fields[number] == 640e-1",
        "Severity == 6.0", "Severity == 6.", "Severity == .6e1", "Severity == 6E0", "Severity > 5.99",
        "Fields[off] == FALSE", "Fields[off] != TRUE", "Fields[off][0][1] == TRUE", "Fields[bool] != FALSE",
        "Fields[one] == TRUE", "Fields[zero] == FALSE", "Fields[onepointzero] == TRUE", "Fields[number] != FALSE",
        "Fields[onepointzero][0][1] == 2.5", "Fields[onepointzero][0][1] != TRUE",
        "Fields[with space] == 'x'", "Fields[unicode] == 'héllo wörld'", "Fields[unicode] =~ /^h.llo\\sw.rld$/",
        "Fields[unicode] > 'hello'", "Fields[binary] =~ /oo$/", "Fields[binary] =~ /^f/",
        "Fields[binary] =~ /o{2}/", "Fields[binary] !~ /f.o/",
        "Fields[path] == 'C:\\tmp\\a/b'", "Fields[path] == 'C:\\\\tmp\\\\a/b'", "Fields[path] =~ /a\\/b$/",
        "Fields[quotes] == 'it\\'s \"q\"'", "Fields[quotes] == \"it's \\\"q\\\"\"",
        // Strings compare byte-wise; a prefix sorts first.
        "Type > 'TES'", "Type >= 'TES'", "Type < 'TESTA'", "Type <= 'TESTA'", "Type < 'test'", "Logger > 'GoSpe'",
        // Regexes: anchors, classes, alternation, case, empty pattern, Unicode.
        "Payload =~ /^Test Payload$/", "Payload =~ /^T/", "Payload =~ //", "Payload =~ /t\\sP/",
        "Payload =~ /(?i)^test payload$/", "Payload =~ /Test|Nope/", "Payload =~ /a.l/",
        "Payload !~ /^Payload/", "Payload !~ /Test$/", "Hostname =~ /^[a-z]+-x\\d{3}$/",
        "Uuid =~ /^278881dc-/", "Uuid > '278881db'", "Uuid != '278881DC-326F-4E3F-9A5A-9386A37E246F'",
        // Precedence and grouping.
        "FALSE || TRUE", "TRUE || FALSE && FALSE", "FALSE && FALSE || TRUE", "(TRUE)", "((TRUE))",
        "TRUE && (FALSE || TRUE)",
        " \tType\t==\t'TEST'  ", "Type=='TEST'&&Severity==6", "Type == 'TEST' &&\nSeverity == 6",
    ])
    func matching(_ expression: String) throws {
        #expect(try matches(expression), "\(expression)")
    }

    @Test("does not match", arguments: [
        // Heka's negative cases.
        "FALSE",
        "Type == 'test'&&(Severity==7||Payload=='Test Payload')",
        "EnvVersion == '0.9'", "EnvVersion != '0.8'", "EnvVersion > '0.9'", "EnvVersion >= '0.9'",
        "EnvVersion < '0.8'", "EnvVersion <= '0.7'",
        "Severity == 5", "Severity != 6", "Severity < 6", "Severity <= 5", "Severity > 6", "Severity >= 7",
        "Fields[foo] == 'ba'", "Fields[foo][1] == 'bar'", "Fields[foo][0][1] == 'bar'", "Fields[bool] == FALSE",
        "Type =~ /Test/", "Type !~ /TEST/", "Payload =~ /^Payload/", "Type == \"te'st\"", "Type == 'te\"st'",
        "Fields[int] =~ /999/", "Fields[zero] == \"0\"", "Fields[string] == 43",
        "Fields[int] == NIL", "Fields[int][0][1] == NIL", "Fields[missing] != NIL",
        "Type =~ /^te/", "Type =~ /st$/", "Type !~ /^TE/", "Type !~ /ST$/",
        "Logger =~ /./ && Type =~ /^anything/",
        "Timestamp == 1e9", "Timestamp > '2015-04-11T17:30:27Z'", "Timestamp == 1428773426113040227",
        "Fields[foo] > 'bara'", "Fields[foo] >= 'bara'", "Fields[foo] == 'bara'",
        // A field of the wrong kind never matches, whatever the operator.
        "Fields[int] !~ /999/", "Fields[string] != 43", "Fields[foo] == TRUE", "Fields[foo] != TRUE",
        "Fields[bool] == 1", "Fields[bool] != 1", "Fields[bool] == 'true'", "Fields[bool] =~ /t/",
        "Fields[bytes] == 0", "Fields[double] == '99.9'", "Fields[number] == TRUE", "Fields[number] == FALSE",
        // An absent field matches only == NIL.
        "Fields[missing] == 'x'", "Fields[missing] != 'x'", "Fields[missing] < 'x'", "Fields[missing] != 1",
        "Fields[missing] !~ /x/", "Fields[missing] == FALSE", "Fields[missing] != TRUE",
        "Fields[foo][2] != 'x'", "Fields[int][0][2] != 0", "Fields[nothing] != NIL", "Fields[nothing] != 'x'",
        "Fields[Foo] == 'bar'", "Fields[foo ] == 'bar'", "Fields[with] == 'x'",
        "Fields[binary] == 'foo'", "Fields[big] == 9007199254740992",
        "Fields[path] == 'C:\\\\\\\\tmp\\\\\\\\a/b'",
        // Strings and regexes are case-sensitive and byte-wise.
        "Type == 'test'", "Type < 'TES'", "Type > 'TESTA'", "Type == 'TEST '", "Type == ''",
        "Payload =~ /^test/", "Payload =~ /Payload\\n/", "Payload =~ /Payload$\\n/",
        "Uuid == '278881DC-326F-4E3F-9A5A-9386A37E246F'", "Uuid == '278881dc326f4e3f9a5a9386a37e246f'",
        // Precedence: && binds tighter than ||.
        "FALSE && FALSE || FALSE", "TRUE && FALSE || FALSE && TRUE", "FALSE && (TRUE || TRUE)",
        "(TRUE || TRUE) && FALSE", "Type == 'TEST' && (Severity == 5 || Severity == 7)",
        "Type != NIL && Type == NIL", "Pid == NIL",
    ])
    func notMatching(_ expression: String) throws {
        #expect(try !matches(expression), "\(expression)")
    }

    @Test("absent optional headers sort below every value; Severity reads as 7", arguments: [
        ("Type == NIL", true), ("Type != NIL", false), ("Logger == NIL", true), ("Payload == NIL", true),
        ("EnvVersion == NIL", true), ("Hostname == NIL", true), ("Pid == NIL", true), ("Pid != NIL", false),
        ("Type == ''", false), ("Type != ''", true), ("Type != 'x'", true), ("Type == 'x'", false),
        ("Type < 'a'", true), ("Type <= ''", true), ("Type > ''", false), ("Type >= ''", false),
        ("Type =~ //", false), ("Type =~ /^$/", false), ("Type =~ /.*/", false), ("Type !~ /x/", true),
        ("Payload =~ /a.c/", false), ("Payload !~ /a.c/", true),
        ("Pid == 0", false), ("Pid != 0", true), ("Pid < -1000000", true), ("Pid >= -1000000", false),
        ("Severity == 7", true), ("Severity != 7", false), ("Severity > 6", true),
        ("Timestamp == 0", true), ("Timestamp == '1970-01-01T00:00:00Z'", true), ("Timestamp < 1", true),
        ("Uuid == '\(uuidText)'", true),
        ("Fields[foo] == NIL", true), ("Fields[foo] != 'bar'", false),
    ])
    func absentHeaders(_ expression: String, _ expected: Bool) throws {
        #expect(try matches(expression, bareView) == expected, "\(expression)")
    }

    @Test("present empty headers are not absent")
    func emptyHeaders() throws {
        let view = MessageView(Message(uuid: uuidBytes, timestamp: 0, type: "", pid: 0))
        #expect(try matches("Type == ''", view))
        #expect(try matches("Type != NIL", view))
        #expect(try !matches("Type == NIL", view))
        #expect(try matches("Type =~ /^$/", view))
        #expect(try matches("Type >= ''", view))
        #expect(try matches("Pid == 0", view))
        #expect(try matches("Pid != NIL", view))
        #expect(try matches("Payload == NIL", view))
    }

    @Test("RFC 3339 constants are exact nanoseconds, offsets and leap years included")
    func timestamps() throws {
        func view(_ ns: Int64) -> MessageView { MessageView(Message(uuid: uuidBytes, timestamp: ns)) }
        // 2016-02-29T23:59:59.5Z
        let leap = view(1_456_790_399_500_000_000)
        #expect(try matches("Timestamp == '2016-02-29T23:59:59.5Z'", leap))
        #expect(try matches("Timestamp == '2016-03-01T00:59:59.500+01:00'", leap))
        #expect(try matches("Timestamp == '2016-02-29t23:59:59.5z'", leap))
        #expect(try matches("Timestamp >= '2016-02-29T23:59:59.4999999999Z'", leap))
        // Before the epoch.
        let old = view(-500_000_000)
        #expect(try matches("Timestamp == '1969-12-31T23:59:59.5Z'", old))
        #expect(try matches("Timestamp < '1970-01-01T00:00:00Z'", old))
        #expect(try matches("Timestamp == -5e8", old))
    }

    @Test("the Uuid compares as its canonical lowercase text")
    func uuid() throws {
        #expect(try matches("Uuid == '\(uuidText)'"))
        #expect(try matches("Uuid =~ /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/"))
        #expect(try !matches("Uuid == '278881dc-326f-4e3f-9a5a-9386a37e2470'"))
    }

    @Test("literal regexes take the fast path, others use PCRE2")
    func regexStrategy() throws {
        for pattern in ["TEST", "^TE", "ST$", "^TEST$", "", "héllo", "a b=c;"] {
            #expect(try !MatcherRegex(pattern: Array(pattern.utf8)).usesPCRE, "\(pattern)")
        }
        for pattern in ["T.ST", "^T+", "a\\/b", "(x)", "[ab]", "a|b", "a{2}", "\\d", "a?", "^$x"] {
            #expect(try MatcherRegex(pattern: Array(pattern.utf8)).usesPCRE, "\(pattern)")
        }
    }

    @Test("regexes accept subjects that are not valid UTF-8")
    func invalidUTF8() throws {
        // Invalid sequences match nothing, not even `.`, but never stop the rest matching.
        #expect(try matches("Fields[binary] =~ /o+$/"))
        #expect(try matches("Fields[binary] =~ /^(f)/"))
        #expect(try !matches("Fields[binary] =~ /f.oo/"))
        #expect(try !matches("Fields[binary] =~ /^f.o$/"))
    }

    @Test("one matcher serves many threads at once")
    func concurrentUse() async throws {
        let matcher = try MessageMatcher("Payload =~ /^T[a-z]+\\s+Pay/ && Fields[foo][1] =~ /^alt.*e$/ && Fields[int] > 998")
        let other = try MessageMatcher("Payload =~ /^x[a-z]+/")
        let results = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var ok = true
                    for _ in 0..<2_000 {
                        ok = ok && matcher.matches(fullView) && !other.matches(fullView) && !matcher.matches(bareView)
                    }
                    return ok
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results == Array(repeating: true, count: 8))
    }

    @Test("keeps the expression and compiles long chains")
    func expressionAndChains() throws {
        let text = "Type == 'TEST' && Severity == 6"
        #expect(try MessageMatcher(text).expression == text)
        let chain = Array(repeating: "Type =~ /./", count: 500).joined(separator: " && ")
        #expect(try matches(chain))
        #expect(try matches(Array(repeating: "FALSE", count: 500).joined(separator: " || ") + " || TRUE"))
        let nested = String(repeating: "(", count: 64) + "TRUE" + String(repeating: ")", count: 64)
        #expect(try matches(nested))
    }

    @Test("syntax errors name the column and the problem", arguments: [
        ("", "column 1: empty expression"),
        ("   ", "column 1: empty expression"),
        ("bogus", "column 1: unknown variable 'bogus'"),
        ("Invalid == 'bogus'", "column 1: unknown variable 'Invalid'"),
        ("Type = 'test'", "column 6: invalid operator '='; use '==' to compare"),
        ("Type == 'a' & Type == 'b'", "column 13: invalid operator '&'; use '&&'"),
        ("Type == 'a' | Type == 'b'", "column 13: invalid operator '|'; use '||'"),
        ("Type ! 'a'", "column 6: invalid operator '!'; expected '!=' or '!~'"),
        ("Pid == 'test='", "column 8: 'Pid' is numeric; compare it with a number, found a quoted string"),
        ("Severity == NIL", "column 13: 'Severity' is always present; it cannot be compared with NIL"),
        ("Type == 5", "column 9: 'Type' is a string; compare it with a quoted string, found a number"),
        ("Type == 'test' && (Severity==7 || Payload == 'Test Payload'",
         "column 60: expected ')', found the end of the expression"),
        ("(TRUE", "column 6: expected ')', found the end of the expression"),
        ("TRUE)", "column 5: expected '&&', '||' or the end of the expression, found ')'"),
        ("TRUE FALSE", "column 6: expected '&&', '||' or the end of the expression, found 'FALSE'"),
        ("Type == 'a' &&", "column 15: expected a comparison, TRUE, FALSE or '(', found the end of the expression"),
        ("&& TRUE", "column 1: expected a comparison, TRUE, FALSE or '(', found '&&'"),
        ("Type", "column 5: expected a relational operator (==, !=, <, <=, >, >=, =~, !~) after 'Type', found the end of the expression"),
        ("Type ==", "column 8: expected a value after '==', but the expression ended"),
        ("Type == Type", "column 9: expected a value after '==', found 'Type'"),
        ("NIL", "column 1: NIL can only appear on the right of '==' or '!=' after a variable"),
        ("Fields[]", "column 7: empty field name in 'Fields[]'"),
        ("Fields", "column 7: expected '[' right after 'Fields'"),
        ("Fields [foo] == 1", "column 7: expected '[' right after 'Fields'"),
        ("Fields[test][]", "column 13: field index must be a non-negative integer in brackets"),
        ("Fields[test][a]", "column 13: field index must be a non-negative integer in brackets"),
        ("Fields[test][-1]", "column 13: field index must be a non-negative integer in brackets"),
        ("Fields[test][0][]", "column 16: array index must be a non-negative integer in brackets"),
        ("Fields[test][0][a]", "column 16: array index must be a non-negative integer in brackets"),
        ("Fields[test][0][0][]", "column 19: too many indices; use Fields[name][field_index][array_index]"),
        ("Fields[test][xxxx", "column 13: field index must be a non-negative integer in brackets"),
        ("Fields[test][12345678901] == 1", "column 13: field index is too large"),
        ("Fields[test == 1", "column 7: unterminated field name; expected ']'"),
        ("Fields[test]", "column 13: expected a relational operator (==, !=, <, <=, >, >=, =~, !~) after 'Fields[test]', found the end of the expression"),
        ("Pid =~ /6/", "column 5: '=~' needs a string variable; 'Pid' is numeric"),
        ("Pid !~ /6/", "column 5: '!~' needs a string variable; 'Pid' is numeric"),
        ("Timestamp =~ /6/", "column 11: '=~' needs a string variable; 'Timestamp' is numeric"),
        ("Pid =~ 6", "column 5: '=~' needs a string variable; 'Pid' is numeric"),
        ("Type =~ /test", "column 9: unterminated regular expression; expected a closing '/'"),
        ("Type == /test/", "column 9: a /regex/ needs '=~' or '!~', not '=='"),
        ("Type =~ 'test'", "column 9: expected a /regex/ after '=~', found a quoted string"),
        ("Fields[x] !~ 5", "column 14: expected a /regex/ after '!~', found a number"),
        ("Type != 'test\"", "column 9: unterminated string; expected a closing '"),
        ("Type != \"test'", "column 9: unterminated string; expected a closing \""),
        ("Type == NIL && Uuid == NIL", "column 24: 'Uuid' is always present; it cannot be compared with NIL"),
        ("Fields[test] > NIL", "column 16: NIL can only be compared with '==' or '!='"),
        ("Fields[test] < TRUE", "column 16: 'TRUE' can only be compared with '==' or '!='"),
        ("Type == FALSE", "column 9: 'FALSE' can only be compared with a field, not 'Type'"),
        ("Timestamp == '20150411T173026'",
         "column 14: invalid timestamp '20150411T173026'; expected RFC 3339, e.g. '2016-05-24T21:51:00Z'"),
        ("Timestamp > '2015-02-29T00:00:00Z'",
         "column 13: invalid timestamp '2015-02-29T00:00:00Z'; expected RFC 3339, e.g. '2016-05-24T21:51:00Z'"),
        ("Timestamp > '2015-01-01T00:00:00'",
         "column 13: invalid timestamp '2015-01-01T00:00:00'; expected RFC 3339, e.g. '2016-05-24T21:51:00Z'"),
        ("Timestamp > '3000-01-01T00:00:00Z'",
         "column 13: invalid timestamp '3000-01-01T00:00:00Z'; expected RFC 3339, e.g. '2016-05-24T21:51:00Z'"),
        ("Severity == 1.2.3", "column 13: malformed number '1.2.3'"),
        ("Severity == 6x", "column 13: malformed number '6x'"),
        ("Severity == -", "column 13: malformed number '-'"),
        ("Severity == 1e", "column 13: malformed number '1e'"),
        ("Type == 'é' && Typo == 'x'", "column 16: unknown variable 'Typo'"),
        ("Type == 'a' # comment", "column 13: unexpected character '#'"),
        ("Type == 'a' && ⊤", "column 16: unexpected character '⊤'"),
        (String(repeating: "(", count: 65) + "TRUE" + String(repeating: ")", count: 65),
         "column 65: parentheses nested more than 64 deep"),
    ])
    func syntaxErrors(_ expression: String, _ expected: String) {
        #expect(errorText(expression) == "message_matcher: syntax error at \(expected)", "\(expression)")
    }

    @Test("invalid regexes carry PCRE2's message and offset", arguments: [
        ("Type =~ /\\ytest/", "column 9: /\\ytest/: unrecognized character follows \\ at offset 1 of the pattern"),
        ("Type =~ /(ab/", "column 9: /(ab/: missing closing parenthesis at offset 3 of the pattern"),
        ("Type == 'x' || Fields[a] !~ /a[b/",
         "column 29: /a[b/: missing terminating ] for character class at offset 3 of the pattern"),
        ("Payload =~ /*/", "column 12: /*/: quantifier does not follow a repeatable item at offset 0 of the pattern"),
    ])
    func regexErrors(_ expression: String, _ expected: String) throws {
        #expect(errorText(expression) == "message_matcher: invalid regex at \(expected)", "\(expression)")
        do {
            _ = try MessageMatcher(expression)
        } catch {
            #expect(error.kind == .regex)
        }
    }

    @Test("errors expose kind, column and reason separately")
    func errorFields() {
        do {
            _ = try MessageMatcher("Type == 'a' && (TRUE")
            Issue.record("expected an error")
        } catch {
            #expect(error.kind == .syntax)
            #expect(error.column == 21)
            #expect(error.reason == "expected ')', found the end of the expression")
        }
    }
}

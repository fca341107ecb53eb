import Foundation
import Testing
@testable import LuaPipeline

/// Every splitter yields the same records whether fed all at once, a byte at a time or in
/// seeded random chunks.
@Suite struct SplitterTests {
    static func chunkings(_ bytes: [UInt8]) -> [[[UInt8]]] {
        var out: [[[UInt8]]] = [[bytes], bytes.map { [$0] }]
        var rng = GoldenRNG(seed: 42)
        for _ in 0..<5 {
            var chunks: [[UInt8]] = []
            var i = 0
            while i < bytes.count {
                let n = 1 + Int(rng.next() % 17)
                chunks.append(Array(bytes[i..<min(i + n, bytes.count)]))
                i += n
            }
            out.append(chunks)
        }
        return out
    }

    static func run(_ make: () -> any Splitter, _ chunks: [[UInt8]]) -> (records: [String], errors: [String]) {
        var s = make()
        var records: [String] = []
        var errors: [String] = []
        for c in chunks {
            s.feed(c) { records.append(String(decoding: $0, as: UTF8.self)) }
            errors += s.takeErrors()
        }
        s.finish { records.append(String(decoding: $0, as: UTF8.self)) }
        errors += s.takeErrors()
        return (records, errors)
    }

    static func same(_ make: () -> any Splitter, _ input: String) -> (records: [String], errors: [String]) {
        let all = chunkings(Array(input.utf8)).map { run(make, $0) }
        for r in all.dropFirst() {
            #expect(r.records == all[0].records)
            #expect(r.errors == all[0].errors)
        }
        return all[0]
    }

    @Test func tokenSplitter() {
        let r = Self.same({ TokenSplitter() }, "a\nbb\n\nccc\ntail")
        #expect(r.records == ["a", "bb", "", "ccc", "tail"])
        let noFinal = Self.same({ TokenSplitter(deliverIncompleteFinal: false) }, "a\ntail")
        #expect(noFinal.records == ["a"])
        let comma = Self.same({ TokenSplitter(delimiter: UInt8(ascii: ",")) }, "x,y,z")
        #expect(comma.records == ["x", "y", "z"])
    }

    @Test func tokenSplitterCutsOrDropsOverlongRecords() {
        let input = "ok\n" + String(repeating: "x", count: 50) + "\nafter\n"
        let dropped = Self.same({ TokenSplitter(maxRecordSize: 10) }, input)
        #expect(dropped.records == ["ok", "after"])
        #expect(dropped.errors == ["a record over max_message_size 10 was dropped"])
        let kept = Self.same({ TokenSplitter(maxRecordSize: 10, keepTruncated: true) }, input)
        #expect(kept.records == ["ok", "xxxxxxxxxx", "after"])
        #expect(kept.errors == ["a record over max_message_size 10 was truncated"])
    }

    @Test func regexSplitterCutsAsHekaDoes() throws {
        func split(_ pattern: String, eol: Bool = true, _ input: String) -> [String] {
            Self.same({ try! RegexSplitter(pattern: pattern, delimiterAtEnd: eol, maxRecordSize: 1000, keepTruncated: false) }, input).records
        }
        // Without a group the delimiter is dropped, whichever delimiter_eol says.
        #expect(split("\\r?\\n", "a\r\nb\nc") == ["a", "b", "c"])
        #expect(split("(?m)^\\d{4}-", eol: false, "2026-01 one\n  more\n2026-02 two\n") == ["01 one\n  more\n", "02 two\n"])
        // With a group: kept at the end of the record it closes ...
        #expect(split("(\\r?\\n)", "a\r\nb\nc") == ["a\r\n", "b\n", "c"])
        #expect(split("(;)\\n", "x = 1;\ny = 2;\nz") == ["x = 1;", "y = 2;", "z"])
        // ... or at the start of the next one; the rest of the match before the group is dropped.
        #expect(split("(?m)^(\\d{4}-)", eol: false, "2026-01 one\n  more\n2026-02 two\n") == ["2026-01 one\n  more\n", "2026-02 two\n"])
        let slowLog = "# Time: 1\n# User@Host: a\nSELECT 1;\n# User@Host: b\nSELECT 2;\n"
        #expect(split("\\n(# User@Host:)", eol: false, slowLog) == ["# Time: 1", "# User@Host: a\nSELECT 1;", "# User@Host: b\nSELECT 2;\n"])
        // A zero-width delimiter keeps every byte.
        #expect(split("(?=\\d{4}-)", eol: false, "garbage\n2024-01-01 a\n2024-01-02 b") == ["garbage\n", "2024-01-01 a\n", "2024-01-02 b"])
        #expect(split("(?=\\d{4}-)", eol: false, "2024-01-01 a\n2024-01-02 b") == ["2024-01-01 a\n", "2024-01-02 b"])
        #expect(throws: ConfigError.self) { try RegexSplitter(pattern: "(", maxRecordSize: 10, keepTruncated: false) }
        do {
            _ = try RegexSplitter(pattern: "(a)(b)", maxRecordSize: 10, keepTruncated: false)
            Issue.record("two groups were accepted")
        } catch {
            #expect(error.reason == "regex must not contain more than one capture group: (a)(b)")
        }
    }

    @Test func nullSplitterDeliversEachChunk() {
        let r = Self.run({ NullSplitter() }, [[0x61], [0x62, 0x63]])
        #expect(r.records == ["a", "bc"])
    }

    @Test func multiDecoderTakesTheFirstThatAccepts() {
        let multi = MultiDecoder(name: "m", subs: [("protobuf", ProtobufDecoder()), ("payload", PayloadRecordDecoder(inputName: "in", hostname: "h"))],
                                 logSubErrors: false, log: PipelineLog(sink: { _ in }))
        var got: [Message] = []
        let framed = Message(uuid: Array(repeating: 1, count: 16), timestamp: 9, type: "proto").encoded()
        #expect(framed.withUnsafeBytes { multi.decode($0) { got.append($0.decoded()) } } == nil)
        #expect(Array("plain text".utf8).withUnsafeBytes { multi.decode($0) { got.append($0.decoded()) } } == nil)
        #expect(got.map(\.type) == ["proto", "in"])
        #expect(got.last?.payload == "plain text")
        let strict = MultiDecoder(name: "m", subs: [("protobuf", ProtobufDecoder())], logSubErrors: false, log: PipelineLog(sink: { _ in }))
        let why = Array("nope".utf8).withUnsafeBytes { strict.decode($0) { _ in } }
        #expect(why?.hasPrefix("no sub-decoder accepted the record (protobuf: ") == true)
    }
}

import Foundation
import Testing
@testable import LuaPipeline
@testable import LuapipedCore

/// Heka's stream framing against the golden stream made with the real protobuf library.
@Suite struct FramingTests {
    static func goldenMessages() throws -> [[UInt8]] {
        try Golden.names.map(Golden.protobuf)
    }

    /// Feeds `stream` in the given chunk sizes (cycled), then finishes.
    static func read(_ stream: [UInt8], chunks: [Int], maxMessageSize: Int = StreamFraming.defaultMaxMessageSize) -> [FramedRecord] {
        var reader = FramedStreamReader(maxMessageSize: maxMessageSize)
        var out: [FramedRecord] = []
        var at = 0, k = 0
        while at < stream.count {
            let n = min(max(chunks[k % chunks.count], 1), stream.count - at)
            out += reader.feed(stream[at..<(at + n)])
            at += n
            k += 1
        }
        out += reader.finish()
        return out
    }

    static func randomChunks(seed: UInt64, maxChunk: Int) -> [Int] {
        var rng = GoldenRNG(seed: seed)
        return (0..<997).map { _ in Int.random(in: 1...maxChunk, using: &rng) }
    }

    /// All the chunkings a stream is read with: whole, byte by byte, and seeded random.
    static func chunkings(_ count: Int) -> [(String, [Int])] {
        var c: [(String, [Int])] = [("all at once", [max(count, 1)]), ("one byte at a time", [1]), ("two bytes", [2])]
        for seed: UInt64 in [1, 7, 2024, 0xDEAD_BEEF] {
            c.append(("seed \(seed) small", randomChunks(seed: seed, maxChunk: 17)))
            c.append(("seed \(seed) large", randomChunks(seed: seed, maxChunk: 5000)))
        }
        return c
    }

    @Test(arguments: Golden.names)
    func frameMatchesPython(_ name: String) throws {
        let stream = try Golden.file("stream.framed")
        var offset = 0
        for n in Golden.names {
            let framed = StreamFraming.frame(try Golden.protobuf(n))
            if n == name {
                #expect(Array(stream[offset..<(offset + framed.count)]) == framed)
                return
            }
            offset += framed.count
        }
        Issue.record("\(name) not in cases.txt")
    }

    @Test func frameLayout() {
        let framed = StreamFraming.frame([UInt8](repeating: 0x41, count: 300))
        // 0x1E, header length 3, Header{message_length: 300} = 08 AC 02, 0x1F
        #expect(Array(framed[0..<6]) == [0x1E, 0x03, 0x08, 0xAC, 0x02, 0x1F])
        #expect(framed.count == 306)
        #expect(StreamFraming.frame([]) == [0x1E, 0x02, 0x08, 0x00, 0x1F])
    }

    @Test func goldenStreamInAnyChunking() throws {
        let stream = try Golden.file("stream.framed")
        let expected = try Self.goldenMessages().map(FramedRecord.message)
        for (how, chunks) in Self.chunkings(stream.count) {
            let got = Self.read(stream, chunks: chunks)
            #expect(got == expected, "\(how)")
        }
    }

    @Test func headerWithEveryOptionalField() throws {
        let stream = try Golden.file("header-extras.framed")
        let expected = try Golden.protobuf("all_headers")
        #expect(stream[1] > 3, "the header should carry more than message_length")
        for (how, chunks) in Self.chunkings(stream.count) {
            #expect(Self.read(stream, chunks: chunks) == [.message(expected)], "\(how)")
        }
    }

    /// Errors are reported once each, with the same offsets, whatever the chunking, and
    /// the valid frames after them still come out.
    @Test func errorsThenResync() throws {
        let msgs = try Self.goldenMessages().filter { $0.count < 1000 }
        try #require(msgs.count >= 6)
        var stream: [UInt8] = []
        var expected: [FramedRecord] = []
        func good(_ m: [UInt8]) { stream += StreamFraming.frame(m); expected.append(.message(m)) }
        func bad(_ bytes: [UInt8], _ kind: FrameError.Kind) {
            expected.append(.error(FrameError(kind: kind, offset: stream.count, skipped: bytes.count)))
            stream += bytes
        }

        bad(Array("garbage before the first frame\n".utf8), .garbage)
        good(msgs[0])
        bad([0x1F, 0x00, 0xFF, 0x41], .garbage)
        good(msgs[1])
        // Header not followed by 0x1F.
        bad([0x1E, 0x02, 0x08, 0x05, 0x00, 0x61, 0x62], .badHeader)
        good(msgs[2])
        // Header length 0.
        bad([0x1E, 0x00, 0x1F, 0x41], .badHeader)
        good(msgs[3])
        // Header without message_length (only hmac_signer).
        bad([0x1E, 0x03, 0x22, 0x01, 0x41, 0x1F, 0x41], .badHeader)
        // Header that is not protobuf (truncated varint).
        bad([0x1E, 0x02, 0x08, 0x80, 0x1F], .badHeader)
        good(msgs[4])
        // Oversize: declared 70000 bytes, the body is there.
        var big = StreamFraming.frame([UInt8](repeating: 0x41, count: 70000))
        bad(big, .oversize(length: 70000, max: StreamFraming.defaultMaxMessageSize))
        good(msgs[5])
        // Oversize: declared 100 MB, the next frame follows the header at once.
        var header: [UInt8] = [0x08]
        header.appendVarint(100_000_000)
        big = [0x1E, UInt8(header.count)] + header + [0x1F]
        bad(big, .oversize(length: 100_000_000, max: StreamFraming.defaultMaxMessageSize))
        good(msgs[0])
        // Truncated final frame.
        let last = StreamFraming.frame(msgs[1])
        bad(Array(last.dropLast(3)), .truncated)

        for (how, chunks) in Self.chunkings(stream.count) {
            let got = Self.read(stream, chunks: chunks)
            #expect(got == expected, "\(how)")
        }
    }

    @Test func customMaxMessageSize() throws {
        let small = try Golden.protobuf("minimal")
        // Oversize bytes are skipped up to the next 0x1E, so this body has none.
        let large = Message(uuid: [UInt8](repeating: 0x41, count: 16), timestamp: 1,
                            payload: String(repeating: "x", count: 2000)).encoded()
        let limit = 1024
        try #require(large.count > limit && !large.contains(0x1E))
        let stream = StreamFraming.frame(small) + StreamFraming.frame(large) + StreamFraming.frame(small)
        let framedLarge = StreamFraming.frame(large)
        let expected: [FramedRecord] = [
            .message(small),
            .error(FrameError(kind: .oversize(length: large.count, max: limit), offset: StreamFraming.frame(small).count, skipped: framedLarge.count)),
            .message(small),
        ]
        for (how, chunks) in Self.chunkings(stream.count) {
            #expect(Self.read(stream, chunks: chunks, maxMessageSize: limit) == expected, "\(how)")
        }
        // A message of exactly the limit passes.
        let exact = [UInt8](repeating: 0x42, count: limit)
        #expect(Self.read(StreamFraming.frame(exact), chunks: [100], maxMessageSize: limit) == [.message(exact)])
    }

    @Test func truncatedAnywhere() throws {
        let m = try Golden.protobuf("all_headers")
        let framed = StreamFraming.frame(m)
        for cut in 1..<framed.count {
            for (how, chunks) in [("whole", [cut]), ("bytes", [1])] {
                let got = Self.read(StreamFraming.frame(m) + Array(framed[0..<cut]), chunks: chunks)
                #expect(got == [.message(m), .error(FrameError(kind: .truncated, offset: framed.count, skipped: cut))], "cut \(cut) \(how)")
            }
        }
    }

    @Test func trailingGarbage() {
        let m: [UInt8] = [1, 2, 3]
        let stream = StreamFraming.frame(m) + Array("tail".utf8)
        for (how, chunks) in Self.chunkings(stream.count) {
            #expect(Self.read(stream, chunks: chunks) == [.message(m), .error(FrameError(kind: .garbage, offset: 8, skipped: 4))], "\(how)")
        }
    }

    @Test func emptyStreamAndEmptyChunks() {
        var reader = FramedStreamReader()
        #expect(reader.feed([]).isEmpty)
        #expect(reader.finish().isEmpty)
        let m: [UInt8] = [9, 9]
        #expect(reader.feed([]).isEmpty)
        #expect(reader.feed(StreamFraming.frame(m)) == [.message(m)])
        #expect(reader.feed([]).isEmpty)
        #expect(reader.finish().isEmpty)
    }

    /// Offsets keep counting across a long stream (the reader compacts its buffer).
    @Test func offsetsSurviveCompaction() {
        let m = [UInt8](repeating: 0x41, count: 60000)
        let framed = StreamFraming.frame(m)
        var stream: [UInt8] = []
        for _ in 0..<5 { stream += framed }
        stream += [0x00, 0x00]
        stream += framed
        var expected = [FramedRecord](repeating: .message(m), count: 5)
        expected.append(.error(FrameError(kind: .garbage, offset: 5 * framed.count, skipped: 2)))
        expected.append(.message(m))
        for chunks in [[stream.count], [4096], [65537], [1, 70000]] {
            #expect(Self.read(stream, chunks: chunks) == expected)
        }
    }
}

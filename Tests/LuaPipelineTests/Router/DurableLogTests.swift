import Foundation
import Testing
@testable import LuaPipeline

/// The durable log's segment files and cursor file: what comes back after a reopen, a torn
/// write, a damaged record or a damaged cursor file.
@Suite struct DurableLogTests {
    let dir = temporaryDirectory().appendingPathComponent("queue").path

    static func message(_ i: Int) -> [UInt8] {
        Message(uuid: Array(repeating: UInt8(i & 0xFF), count: 16), timestamp: Int64(i), payload: "event \(i) " + String(repeating: "x", count: i % 50)).encoded()
    }

    private func readAll(_ log: DurableLog, from position: UInt64 = 0) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var pos = position
        while true {
            let (batch, next) = log.read(from: pos, maxRecords: 7)
            if batch.isEmpty { return out }
            out += batch
            pos = next
        }
    }

    private func segmentFiles() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".log") }.sorted()
    }

    @Test func appendsReadBackAcrossSegmentsAndAReopen() throws {
        let messages = (0..<300).map(Self.message)
        do {
            let log = try DurableLog(directory: dir, segmentLimit: 4096)
            var end: UInt64 = 0
            for chunk in stride(from: 0, to: 300, by: 25) {
                let next = try log.append(Array(messages[chunk..<chunk + 25]))
                #expect(next > end)
                end = next
            }
            #expect(log.end == end && log.start == 0)
            #expect(readAll(log) == messages)
        }
        #expect(segmentFiles().count > 3)
        let log = try DurableLog(directory: dir, segmentLimit: 4096)
        #expect(readAll(log) == messages)
        #expect(log.badRecords == 0 && log.truncatedBytes == 0)
        // A reader resumes where it stopped.
        let (first, next) = log.read(from: 0, maxRecords: 10)
        #expect(first == Array(messages[0..<10]))
        #expect(readAll(log, from: next) == Array(messages[10...]))
    }

    @Test func segmentsAreHekaFramedStreams() throws {
        let log = try DurableLog(directory: dir, sync: .fsync)
        try log.append([Self.message(1), Self.message(2)])
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/" + segmentFiles()[0])))
        var reader = FramedStreamReader(maxMessageSize: 1 << 20)
        #expect(reader.feed(bytes) + reader.finish() == [.message(Self.message(1)), .message(Self.message(2))])
    }

    @Test func aTornWriteIsCutAwayAtOpen() throws {
        do {
            let log = try DurableLog(directory: dir)
            try log.append((0..<3).map(Self.message))
        }
        // A crash in the middle of the fourth record's write.
        var record: [UInt8] = []
        DurableLog.appendRecord(Self.message(3), to: &record)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/" + segmentFiles()[0]))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(record.prefix(record.count - 5)))
        try handle.close()

        let log = try DurableLog(directory: dir)
        #expect(log.truncatedBytes == UInt64(record.count - 5) && log.badRecords == 0)
        #expect(readAll(log) == (0..<3).map(Self.message))
        try log.append([Self.message(4)])
        #expect(readAll(log) == [0, 1, 2, 4].map(Self.message))
    }

    @Test func aDamagedRecordIsSkippedAndCounted() throws {
        var offsets: [UInt64] = []
        do {
            let log = try DurableLog(directory: dir)
            for i in 0..<4 { offsets.append(try log.append([Self.message(i)])) }
        }
        let path = dir + "/" + segmentFiles()[0]
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[Int(offsets[1]) - 3] ^= 0xFF  // the body of the second record: its CRC fails
        bytes[Int(offsets[1]) + 3] = 0x7F  // the third record's length: its CRC covers other bytes
        try Data(bytes).write(to: URL(fileURLWithPath: path))

        let log = try DurableLog(directory: dir)
        #expect(log.badRecords == 2, "counted at open")
        #expect(log.truncatedBytes == 0, "a damaged header with a whole record after it is not a torn write")
        #expect(readAll(log) == [0, 3].map(Self.message))
        // A reader skips the two adjacent damaged records as one stretch (a separator byte
        // inside them does not count again).
        #expect(log.badRecords == 3, "and each time a reader skips them")
    }

    @Test func bytesPastASegmentsEndAndCursorsPastTheLogsEndAreHarmless() throws {
        let messages = (0..<120).map(Self.message)
        do {
            let log = try DurableLog(directory: dir, segmentLimit: 4096)
            for m in messages { try log.append([m]) }
        }
        let files = segmentFiles()
        #expect(files.count > 1)
        // A failed write left bytes past the first segment's end, beyond the next one's start.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/" + files[0]))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(repeating: 0x41, count: 300))
        try handle.close()
        let log = try DurableLog(directory: dir, segmentLimit: 4096)
        #expect(readAll(log) == messages && log.badRecords == 0)
        // A cursor saved before a power loss cut the tail resumes at the end.
        let (none, next) = log.read(from: log.end + 1000)
        #expect(none.isEmpty && next == log.end)
        try log.append([Self.message(500)])
        #expect(log.read(from: next).messages == [Self.message(500)])
    }

    @Test func segmentsEveryReaderPassedAreDeleted() throws {
        let log = try DurableLog(directory: dir, segmentLimit: 4096)
        var ends: [UInt64] = []
        for i in 0..<200 { ends.append(try log.append([Self.message(i)])) }
        let before = segmentFiles().count
        log.release(below: ends[99])
        #expect(segmentFiles().count < before)
        #expect(log.start > 0 && log.start <= ends[99])
        // A cursor from before the oldest segment reads from its start; nothing after it is lost.
        let kept = readAll(log, from: 0)
        #expect(Array(kept.suffix(100)) == (100..<200).map(Self.message))
        log.release(below: .max)
        #expect(segmentFiles().count == 1, "the newest segment stays")
    }

    @Test func anUnwritableFolderIsAClearError() {
        #expect(throws: DurableLogError.self) { try DurableLog(directory: "/proc/luapiped-queue") }
    }

    @Test func cursorsSurviveAndADamagedFileCostsDuplicatesNotLoss() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/cursors"
        #expect(DurableCursors.load(path: path, readers: ["a"]) == DurableCursors.Loaded())
        try DurableCursors.save(["counter": 42, "file_out": 7, "gone": 3], path: path, sync: true)
        let loaded = DurableCursors.load(path: path, readers: ["counter", "file_out", "new"])
        #expect(loaded.positions == ["counter": 42, "file_out": 7] && loaded.dropped == ["gone"] && loaded.problem == nil)

        var text = try String(contentsOfFile: path, encoding: .utf8)
        text = text.replacingOccurrences(of: "42", with: "99")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let damaged = DurableCursors.load(path: path, readers: ["counter"])
        #expect(damaged.positions.isEmpty)
        #expect(damaged.problem?.contains("damaged (checksum mismatch); every reader starts at the oldest record kept") == true)
        try "garbage".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(DurableCursors.load(path: path, readers: ["counter"]).problem?.contains("no checksum line") == true)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import LuaPipeline

/// A damaged durable queue at start: a torn tail, a record with a bad checksum and
/// unreadable cursor files. Each is reported, the damage is skipped, every whole record is
/// delivered (cursors lost cost duplicates, never a loss) and the daemon runs on.
@Suite struct DurableQueueRecoveryTests {
    /// An acknowledging TCP input and a file of the events' payloads.
    static func sections(port: Int) -> String {
        """
            [events_in]
            type = "TcpInput"
            address = "127.0.0.1:\(port)"
            ack = true

            [events_out]
            type = "FileOutput"
            path = "out/events.txt"
            message_matcher = "Type == 'event'"
            encoder = "PayloadEncoder"
            """
    }

    @Test func aDamagedQueueIsRecoveredAndReported() throws {
        let h = ReloadHarness()
        let queue = h.path("state/queue")
        try FileManager.default.createDirectory(atPath: queue, withIntermediateDirectories: true)
        let port = try freeTcpPort()
        do {
            let log = try DurableLog(directory: queue)
            // Uuids without the framing's separator bytes, so the damage below is the only one.
            let messages = (0..<100).map { i -> [UInt8] in
                let uuid = (0..<16).map { UInt8(0x40 + (i + $0) % 26) }
                let v = MessageView(Message(uuid: uuid, timestamp: 1, type: "event", payload: "kept \(i)"))
                return withExtendedLifetime(v) { Array(v.bytes) }
            }
            let (positions, end) = try log.append(records: messages)
            // Record 50's message changes under its checksum; half a record follows the end.
            let segment = queue + "/00000000000000000000.log"
            let fd = open(segment, O_RDWR)
            var byte: UInt8 = 0
            let at = off_t(positions[51]) - 3  // inside record 50's payload
            #expect(pread(fd, &byte, 1, at) == 1)
            byte ^= 0xFF
            #expect(pwrite(fd, &byte, 1, at) == 1)
            var torn: [UInt8] = []
            DurableLog.appendRecord(messages[0], to: &torn)
            #expect(pwrite(fd, torn, torn.count / 2, off_t(end)) == torn.count / 2)
            close(fd)
        }
        FileManager.default.createFile(atPath: queue + "/cursors", contents: Data("garbage\n".utf8))
        FileManager.default.createFile(atPath: queue + "/cursors.live", contents: Data([1, 2, 3, 4, 5, 6, 7, 8, 9]))

        try h.start(Self.sections(port: port))
        defer { h.stop() }
        // Every whole record is delivered once: the cursors are lost, so every reader
        // starts at the oldest record kept.
        let want = Set((0..<100).filter { $0 != 50 }.map { "kept \($0)" })
        h.waitUntil("the whole records delivered") { Set(h.lines("out/events.txt")).isSuperset(of: want) }
        #expect(!h.lines("out/events.txt").contains("kept 50"))
        let log = h.logged.withLock { $0 }
        #expect(log.contains { $0.contains("1 damaged records skipped") && $0.contains("bytes of a torn write cut off") && !$0.contains(" 0 bytes") },
                "\(log.filter { $0.contains("queue") })")
        #expect(log.contains { $0.contains("cursors: damaged") && $0.contains("every reader starts at the oldest record kept") })
        // The daemon runs on: a new event is acknowledged and delivered after the old ones.
        let sender = AckedSender(address: "127.0.0.1:\(port)", payloads: ["new one"])
        sender.start()
        defer { sender.stop() }
        h.waitUntil("the new event acknowledged") { sender.state.withLock { $0.done } }
        h.waitUntil("the new event delivered") { h.lines("out/events.txt").last == "new one" }
    }

    @Test func garbageOnTheAcknowledgedSocketIsCountedAndTheConnectionGoesOn() throws {
        let h = ReloadHarness()
        let port = try freeTcpPort()
        try h.start(Self.sections(port: port))
        defer { h.stop() }
        let fd = try #require(eventually("the input listens") { try? Socket.connect("127.0.0.1:\(port)") })
        defer { close(fd) }
        var gen = UUIDSource.random.makeGenerator()
        let uuid = gen.next()
        let good = MessageView(Message(uuid: uuid, timestamp: 1, type: "event", payload: "after the garbage"))
        let framed = StreamFraming.frame(withExtendedLifetime(good) { Array(good.bytes) })
        #expect(Socket.writeAll(fd, Array("this is not a frame\u{1E}\u{02}\u{08}".utf8) + [0xFF, 0x00] + framed))
        // The good message after the garbage is acknowledged and stored.
        var acks: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 64)
        eventually("the acknowledgement arrives") {
            if Socket.readable(fd, ms: 10) {
                let n = recv(fd, &buf, buf.count, 0)
                if n > 0 { acks += buf[0..<n] }
            }
            return acks.count >= 17
        }
        #expect(acks == [0x06] + uuid)
        h.waitUntil("the message stored") { h.lines("out/events.txt") == ["after the garbage"] }
        #expect(h.counter("events_in", "decode_failures") >= 1)
    }
}

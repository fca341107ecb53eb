import Foundation
import Synchronization
import Testing
@testable import LuaPipeline

/// TcpInput decodes every connection's records on its one decode thread.
@Suite struct TcpInputDecodeThreadTests {
    /// Records the thread of every decode call.
    final class ThreadRecordingDecoder: RecordDecoder, @unchecked Sendable {  // called on the decode thread only; `threads` is locked
        let threads = Mutex<Set<String>>([])
        let inner = PayloadRecordDecoder(inputName: "tcp", hostname: "h")
        func decode(_ record: UnsafeRawBufferPointer, _ emit: (MessageView) -> Void) -> String? {
            let name = ThreadName.current
            threads.withLock { _ = $0.insert(name) }
            return inner.decode(record, emit)
        }
    }

    @Test func manyClientsAreDecodedOnOneThread() throws {
        let router = Router(maxMessageLoops: 4)
        let reader = router.addReader(name: "count", buffering: Buffering(maxBufferSize: 1 << 30, fullAction: .block))
        let decoder = ThreadRecordingDecoder()
        let counters = PluginCounters(name: "tcp", category: .input)
        let records = RecordHandler(inputName: "tcp", decoder: decoder, router: router, counters: counters, log: PipelineLog(sink: { _ in }),
                                    sendDecodeFailures: false, logDecodeFailures: true)
        let port = try freeTcpPort()
        let input = TcpInput(name: "tcp", address: "127.0.0.1:\(port)", ack: false, records: records, log: PipelineLog(sink: { _ in }),
                             recentPath: NSTemporaryDirectory() + "/unused.uuids", makeSplitter: { TokenSplitter(maxRecordSize: 1024) })
        let runner = Thread { input.run() }
        runner.start()
        try #require(eventually("the input listens") { input.listening.load(ordering: .relaxed) })
        let clients = 8, lines = 200
        let group = DispatchGroup()
        for c in 0..<clients {
            group.enter()
            Thread {
                defer { group.leave() }
                guard let fd = try? Socket.connect("127.0.0.1:\(port)") else { return }
                var text = ""
                for i in 0..<lines { text += "client \(c) line \(i)\n" }
                _ = Socket.writeAll(fd, Array(text.utf8))
                close(fd)
            }.start()
        }
        #expect(group.wait(timeout: .now() + 60) == .success)
        #expect(eventually("every line is decoded") { counters[.processed] == Int64(clients * lines) })
        input.stop()
        #expect(eventually("the input stops") { runner.isFinished })
        #expect(counters[.processed] == Int64(clients * lines))
        #expect(decoder.threads.withLock { $0 } == ["tcp-decode"])
        _ = reader
    }
}

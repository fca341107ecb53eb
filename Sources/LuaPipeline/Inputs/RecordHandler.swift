/// What every input does with a record: decode it, append the messages to the router,
/// count and report what fails (Heka's `send_decode_failures`, `log_decode_failures`).
final class RecordHandler {
    let inputName: String
    let decoder: any RecordDecoder
    let router: Router
    let counters: PluginCounters
    let log: PipelineLog
    let sendDecodeFailures: Bool
    let logDecodeFailures: Bool
    private var uuids = UUIDSource.random.makeGenerator()
    /// The sequence number of the last message this input appended.
    private(set) var lastSeq: UInt64?

    init(inputName: String, decoder: any RecordDecoder, router: Router, counters: PluginCounters, log: PipelineLog,
         sendDecodeFailures: Bool, logDecodeFailures: Bool) {
        self.inputName = inputName
        self.decoder = decoder
        self.router = router
        self.counters = counters
        self.log = log
        self.sendDecodeFailures = sendDecodeFailures
        self.logDecodeFailures = logDecodeFailures
    }

    /// Decodes and appends one record; `accept` may keep a message out of the log
    /// (duplicates), and sees every message decoded. `origin` says where the record came
    /// from (file and byte offset, or peer) when it fails.
    func handle(_ record: UnsafeRawBufferPointer, origin: @autoclosure () -> String = "",
                accept: (MessageView) -> Bool = { _ in true }) {
        counters.add(.records)
        counters.add(.bytes, Int64(record.count))
        // A record's messages go to the router in one step (a checkpoint's cut never
        // splits a record); the common single message without an array.
        var first: MessageView?
        var more: [MessageView] = []
        let failure = decoder.decode(record) { view in
            guard accept(view) else { return }
            if first == nil { first = view } else { more.append(view) }
        }
        if let first {
            if more.isEmpty {
                if case .appended(let seq) = router.append(first) {
                    counters.add(.processed)
                    lastSeq = seq
                }
            } else if let seq = router.append(record: [first] + more) {
                counters.add(.processed, Int64(more.count + 1))
                lastSeq = seq
            }
        }
        guard let failure else { return }
        counters.add(.decodeFailures)
        if logDecodeFailures {
            let from = origin()
            log.error(inputName, "record \(counters[.records])\(from.isEmpty ? "" : " (\(from))"): \(failure); the record: \(Self.excerpt(record))")
        }
        if sendDecodeFailures {
            var m = Message(uuid: uuids.next(), timestamp: Sandbox.now(), type: inputName, logger: inputName,
                            payload: String(decoding: record, as: UTF8.self))
            m.fields = [Field(name: "decode_error", value: .string([failure]))]
            if case .appended(let seq) = router.append(MessageView(m)) { lastSeq = seq }
        }
    }

    /// The first 200 bytes of a record, quoted, with control bytes and invalid UTF-8 escaped.
    static func excerpt(_ record: UnsafeRawBufferPointer) -> String {
        var out = "\""
        for b in record.prefix(200) {
            switch b {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x20..<0x7F: out.unicodeScalars.append(Unicode.Scalar(b))
            default: out += (b < 16 ? "\\x0" : "\\x") + String(b, radix: 16)
            }
        }
        return out + "\"" + (record.count > 200 ? " (\(record.count) bytes in all)" : "")
    }

    /// Reports a splitter's problems (bad frames).
    func reportSplitterErrors(_ errors: [String]) {
        for e in errors {
            counters.add(.decodeFailures)
            log.error(inputName, e)
        }
    }
}

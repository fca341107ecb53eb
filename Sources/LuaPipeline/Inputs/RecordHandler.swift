/// What every input does with a record: decode it, append the messages to the router,
/// count and report what fails (Heka's `send_decode_failures`, `log_decode_failures`).
final class RecordHandler {
    let inputName: String
    /// The decoder (instance 0 with `decoder_workers` above 1).
    let decoder: any RecordDecoder
    /// Every instance of the decoder: `instances[i]` only ever runs on the crew's thread i.
    let instances: [any RecordDecoder]
    private let crew: DecodeCrew?
    let router: Router
    let counters: PluginCounters
    let log: PipelineLog
    let sendDecodeFailures: Bool
    let logDecodeFailures: Bool
    private var uuids = UUIDSource.random.makeGenerator()
    /// The sequence number of the last message this input appended.
    private(set) var lastSeq: UInt64?

    init(inputName: String, decoders: [any RecordDecoder], router: Router, counters: PluginCounters, log: PipelineLog,
         sendDecodeFailures: Bool, logDecodeFailures: Bool) {
        self.inputName = inputName
        self.decoder = decoders[0]
        self.instances = decoders
        self.crew = decoders.count > 1 ? DecodeCrew(name: inputName, size: decoders.count) : nil
        self.router = router
        self.counters = counters
        self.log = log
        self.sendDecodeFailures = sendDecodeFailures
        self.logDecodeFailures = logDecodeFailures
    }

    convenience init(inputName: String, decoder: any RecordDecoder, router: Router, counters: PluginCounters, log: PipelineLog,
                     sendDecodeFailures: Bool, logDecodeFailures: Bool) {
        self.init(inputName: inputName, decoders: [decoder], router: router, counters: counters, log: log,
                  sendDecodeFailures: sendDecodeFailures, logDecodeFailures: logDecodeFailures)
    }

    /// Decodes and appends one record; `accept` may keep a message out of the log
    /// (duplicates), and sees every message decoded. `origin` says where the record came
    /// from (file and byte offset, or peer) when it fails.
    func handle(_ record: UnsafeRawBufferPointer, origin: @autoclosure () -> String = "",
                accept: (MessageView) -> Bool = { _ in true }) {
        deliver(Self.decode(record, with: decoder, accept: accept), record: record, origin: origin())
    }

    /// Decodes and appends a batch of records in their order: with `decoder_workers`
    /// above 1 they are decoded on the crew's threads first. `before(i)` runs just before
    /// record i's messages are appended, `after(i)` just after.
    func handle(batch: RecordBatch, origin: (Int) -> String, before: (Int) -> Void, after: (Int) -> Void) {
        batch.bytes.withUnsafeBytes { all in
            func record(_ i: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: all[batch.ranges[i]]) }
            guard let crew, batch.count >= 2 * crew.size else {
                for i in 0..<batch.count {
                    before(i)
                    handle(record(i), origin: origin(i))
                    after(i)
                }
                return
            }
            var results = [DecodedRecord](repeating: DecodedRecord(), count: batch.count)
            var first = 0
            let lead = decoder as? SandboxDecoder
            if let lead, lead.hasReplacement {
                // A new version is tried on one record alone; every instance then runs it
                // from the next record on (one boundary for all of them).
                results[0] = Self.decode(record(0), with: decoder, accept: { _ in true })
                first = 1
            }
            let n = crew.size, left = batch.count - first
            results.withUnsafeMutableBufferPointer { out in
                let out = UncheckedBox(out)
                lead?.holdingReplacement = true
                defer { lead?.holdingReplacement = false }
                crew.run { k in
                    let lo = first + left * k / n, hi = first + left * (k + 1) / n
                    for i in lo..<hi { out.value[i] = Self.decode(record(i), with: instances[k], accept: { _ in true }) }
                }
            }
            for i in 0..<batch.count {
                before(i)
                deliver(results[i], record: record(i), origin: origin(i))
                after(i)
            }
        }
    }

    /// Ends the decode threads (the input stopped).
    func stopDecoding() { crew?.stop() }

    private static func decode(_ record: UnsafeRawBufferPointer, with decoder: any RecordDecoder,
                               accept: (MessageView) -> Bool) -> DecodedRecord {
        var d = DecodedRecord()
        d.failure = decoder.decode(record) { view in
            guard accept(view) else { return }
            if d.first == nil { d.first = view } else { d.more.append(view) }
        }
        return d
    }

    /// Appends what a record decoded to (all its messages in one step: a checkpoint's cut
    /// never splits a record), counts it and reports its failure.
    private func deliver(_ d: DecodedRecord, record: UnsafeRawBufferPointer, origin: @autoclosure () -> String) {
        counters.add(.records)
        counters.add(.bytes, Int64(record.count))
        if let first = d.first {
            if d.more.isEmpty {
                if case .appended(let seq) = router.append(first) {
                    counters.add(.processed)
                    lastSeq = seq
                }
            } else if let seq = router.append(record: [first] + d.more) {
                counters.add(.processed, Int64(d.more.count + 1))
                lastSeq = seq
            }
        }
        guard let failure = d.failure else { return }
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

/// A value handed to the crew's threads, each of which touches its own part of it.
struct UncheckedBox<T>: @unchecked Sendable {  // the threads write disjoint indices; run() returns after all of them
    var value: T
    init(_ value: T) { self.value = value }
}

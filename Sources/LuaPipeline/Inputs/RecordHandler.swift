/// What every input does with a record: decode it, append the messages to the router,
/// count and report what fails (Heka's `send_decode_failures`, `log_decode_failures`).
final class RecordHandler {
    let inputName: String
    /// The decoder (instance 0 with `decoder_workers` above 1).
    let decoder: any RecordDecoder
    /// Every instance of the decoder: `instances[i]` only ever runs on the crew's thread i.
    let instances: [any RecordDecoder]
    private let crew: DecodeCrew?
    /// A batch's records as the crew's threads take them.
    private let slices = Slices()
    let router: Router
    let counters: PluginCounters
    let log: PipelineLog
    let sendDecodeFailures: Bool
    let logDecodeFailures: Bool
    private var uuids = UUIDSource.random.makeGenerator()
    /// The sequence number of the last message this input appended.
    private(set) var lastSeq: UInt64?
    /// The input's data class; `disk` messages go through `queue`.
    var delivery = Delivery.block
    var queue: DurableQueue?
    /// The durable position after the last `disk` message appended.
    private(set) var durableEnd: UInt64 = 0

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
    /// Returns false when its messages could not be appended (stopping, or the durable
    /// queue could not write them): they must not be acknowledged.
    @discardableResult
    func handle(_ record: UnsafeRawBufferPointer, origin: @autoclosure () -> String = "",
                accept: (MessageView) -> Bool = { _ in true }) -> Bool {
        handleReporting(record, origin: origin(), accept: accept).stored
    }

    /// ``handle(_:origin:accept:)``, also saying why the record failed to decode.
    func handleReporting(_ record: UnsafeRawBufferPointer, origin: @autoclosure () -> String = "",
                         accept: (MessageView) -> Bool = { _ in true }) -> (stored: Bool, failure: String?) {
        deliver(Self.decode(record, with: decoder, accept: accept), record: record, origin: origin())
    }

    /// Appends one record's messages in the input's data class; the sequence number of the
    /// last (nil: not appended).
    private func append(_ views: [MessageView]) -> UInt64? {
        if let queue {
            guard let r = queue.append(views, to: router, from: inputName, counters: counters) else { return nil }
            durableEnd = r.end
            return r.seq
        }
        if views.count == 1 {
            guard case .appended(let seq) = router.append(views[0], delivery: delivery) else { return nil }
            return seq
        }
        return router.append(record: views, delivery: delivery)
    }

    /// Hands a message the input made of `record` (its own headers and fields) to the
    /// decoder as its input message; without a decoder it goes to the router as it is.
    /// Returns whether its messages were appended, and why it failed to decode.
    @discardableResult
    func handle(message view: MessageView, record: UnsafeRawBufferPointer, origin: @autoclosure () -> String) -> (stored: Bool, failure: String?) {
        let d = decoder is PayloadRecordDecoder ? DecodedRecord(first: view) : Self.collect { decoder.decode(message: view, $0) }
        return deliver(d, record: record, origin: origin())
    }

    /// Decodes a batch of records on this thread, then appends all their messages in read
    /// order in one step (``deliver(_:records:origin:beforeAppend:afterAppend:)``).
    private func handle(batch: RecordBatch, origin: (Int) -> String, beforeAppend: () -> Void, afterAppend: (Bool) -> Void) {
        guard batch.count > 0 else { return }
        batch.bytes.withUnsafeBytes { all in
            func record(_ i: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: all[batch.ranges[i]]) }
            var results = (0..<batch.count).map { Self.decode(record($0), with: decoder, accept: { _ in true }) }
            results.withUnsafeMutableBufferPointer {
                deliver($0, records: record, origin: origin, beforeAppend: beforeAppend, afterAppend: afterAppend)
            }
        }
    }

    /// The batch the crew is decoding in the background (``submit(batch:origin:beforeAppend:afterAppend:)``).
    private var inFlight: InFlight?
    /// The batch ``submit(batch:origin:beforeAppend:afterAppend:)`` has not appended yet:
    /// its caller fills another one meanwhile.
    var pendingBatch: RecordBatch? { inFlight?.batch }

    /// Decodes a batch of records, then appends all their messages in read order in one
    /// step: one lock, one budget check and one wake-up for the batch, and a checkpoint's
    /// cut falls before or after it, never inside. `beforeAppend` runs just before the
    /// append, `afterAppend` just after, told whether it worked (false: stopping, or the
    /// durable queue could not write).
    ///
    /// With `decoder_workers` above 1 decoding overlaps the input's own work: the crew's
    /// threads start on `batch` at once, and the batch submitted before it is finished
    /// (this thread decodes what is left of it) and appended meanwhile. `batch` itself is
    /// appended by the next call (from any of the input's streams) or by ``flush()``;
    /// until then the caller must not touch `batch`, and where it stands is before `batch`
    /// (a cut noted meanwhile is noted there). Without a crew, or with a batch too small
    /// to share, everything submitted is appended before this returns.
    func submit(batch: RecordBatch, origin: @escaping (Int) -> String,
                beforeAppend: @escaping () -> Void, afterAppend: @escaping (Bool) -> Void) {
        guard let crew, batch.count >= 2 * crew.size else {
            flush()
            handle(batch: batch, origin: origin, beforeAppend: beforeAppend, afterAppend: afterAppend)
            return
        }
        let lead = decoder as? SandboxDecoder
        let previous = inFlight
        if let previous { finish(previous, lead: lead) }
        let next = InFlight(batch: batch, origin: origin, beforeAppend: beforeAppend, afterAppend: afterAppend)
        var first = 0
        if let lead, lead.hasReplacement {
            // A new version is tried on one record alone, while no other instance decodes;
            // every instance then runs it from the next record on (one boundary for all).
            next.decode(0..<1, with: decoder)
            first = 1
        }
        slices.reset(first..<batch.count)
        lead?.holdingReplacement = true
        crew.begin { [slices, instances] k in next.decode(slices, with: instances[k]) }
        inFlight = next
        if let previous { deliver(previous) }
    }

    /// Appends the batch still in flight, if any (the input changes file, reached the end
    /// of what it can read, or stops).
    func flush() {
        guard let p = inFlight else { return }
        inFlight = nil
        finish(p, lead: decoder as? SandboxDecoder)
        deliver(p)
    }

    private func finish(_ p: InFlight, lead: SandboxDecoder?) {
        crew!.finish { p.decode(slices, with: decoder) }
        lead?.holdingReplacement = false
    }

    private func deliver(_ p: InFlight) {
        p.batch.bytes.withUnsafeBytes { all in
            deliver(p.results, records: { UnsafeRawBufferPointer(rebasing: all[p.batch.ranges[$0]]) }, origin: p.origin,
                    beforeAppend: p.beforeAppend, afterAppend: p.afterAppend)
        }
    }

    /// A batch's messages appended in one step, then its failures counted and reported.
    /// The views move out of `results` (no reference count is touched for them).
    private func deliver(
        _ results: UnsafeMutableBufferPointer<DecodedRecord>, records record: (Int) -> UnsafeRawBufferPointer,
        origin: (Int) -> String, beforeAppend: () -> Void, afterAppend: (Bool) -> Void
    ) {
        var views: [MessageView] = []
        views.reserveCapacity(results.count)
        var decoded = 0, bytes = 0
        var failed: [Int] = []
        for i in results.indices {
            bytes += record(i).count
            if let first = results[i].first.take() {
                views.append(consume first)
                if !results[i].more.isEmpty {
                    decoded += results[i].more.count
                    views += results[i].more
                }
                decoded += 1
            }
            guard let failure = results[i].failure else { continue }
            failed.append(i)
            if sendDecodeFailures { views.append(failureMessage(failure, record(i))) }
        }
        let before = counters[.records]
        counters.add(.records, Int64(results.count))
        counters.add(.bytes, Int64(bytes))
        beforeAppend()
        var stored = true
        if !views.isEmpty {
            if let seq = append(views) {
                counters.add(.processed, Int64(decoded))
                lastSeq = seq
            } else {
                stored = false
            }
        }
        afterAppend(stored)
        for i in failed { reportFailure(results[i].failure!, of: record(i), number: before + Int64(i) + 1, origin: origin(i)) }
    }

    /// Counts a record that failed to decode and logs it (`log_decode_failures`).
    private func reportFailure(_ failure: String, of record: UnsafeRawBufferPointer, number: Int64, origin: @autoclosure () -> String) {
        counters.add(.decodeFailures)
        guard logDecodeFailures else { return }
        let from = origin()
        log.error(inputName, "record \(number)\(from.isEmpty ? "" : " (\(from))"): \(failure); the record: \(Self.excerpt(record))")
    }

    /// The message a record that failed to decode becomes with `send_decode_failures`.
    private func failureMessage(_ failure: String, _ record: UnsafeRawBufferPointer) -> MessageView {
        var m = Message(uuid: uuids.next(), timestamp: Sandbox.now(), type: inputName, logger: inputName,
                        payload: String(decoding: record, as: UTF8.self))
        m.fields = [Field(name: "decode_error", value: .string([failure]))]
        return MessageView(m)
    }

    /// Appends the batch in flight and ends the decode threads (the input stopped).
    func stopDecoding() {
        flush()
        crew?.stop()
    }

    fileprivate static func decode(_ record: UnsafeRawBufferPointer, with decoder: any RecordDecoder,
                               accept: (MessageView) -> Bool) -> DecodedRecord {
        collect { emit in decoder.decode(record) { view in if accept(view) { emit(view) } } }
    }

    /// What one decoder call emits (`decode` hands it the emit function) and its failure.
    private static func collect(_ decode: (_ emit: (MessageView) -> Void) -> String?) -> DecodedRecord {
        var d = DecodedRecord()
        d.failure = decode { view in
            if d.first == nil { d.first = view } else { d.more.append(view) }
        }
        return d
    }

    /// Appends what a record decoded to (all its messages in one step: a checkpoint's cut
    /// never splits a record), counts it and reports its failure.
    private func deliver(_ d: DecodedRecord, record: UnsafeRawBufferPointer, origin: @autoclosure () -> String) -> (stored: Bool, failure: String?) {
        counters.add(.records)
        counters.add(.bytes, Int64(record.count))
        var ok = true
        if let first = d.first {
            if let seq = append(d.more.isEmpty ? [first] : [first] + d.more) {
                counters.add(.processed, Int64(d.more.count + 1))
                lastSeq = seq
            } else {
                ok = false
            }
        }
        guard let failure = d.failure else { return (ok, nil) }
        reportFailure(failure, of: record, number: counters[.records], origin: origin())
        if sendDecodeFailures {
            if let seq = append([failureMessage(failure, record)]) { lastSeq = seq } else { ok = false }
        }
        return (ok, failure)
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

/// A batch submitted to the decode crew and not yet appended, with what its records
/// decoded to (each slot written by the one thread that claimed it).
private final class InFlight {
    let batch: RecordBatch
    let results: UnsafeMutableBufferPointer<DecodedRecord>
    let origin: (Int) -> String
    let beforeAppend: () -> Void
    let afterAppend: (Bool) -> Void

    init(batch: RecordBatch, origin: @escaping (Int) -> String, beforeAppend: @escaping () -> Void, afterAppend: @escaping (Bool) -> Void) {
        self.batch = batch
        results = .allocate(capacity: batch.count)
        results.initialize(repeating: DecodedRecord())
        self.origin = origin
        self.beforeAppend = beforeAppend
        self.afterAppend = afterAppend
    }

    deinit {
        results.deinitialize()
        results.deallocate()
    }

    /// Decodes records claimed from `slices` until none is left.
    func decode(_ slices: Slices, with decoder: any RecordDecoder) {
        while let part = slices.claim() { decode(part, with: decoder) }
    }

    func decode(_ part: Range<Int>, with decoder: any RecordDecoder) {
        batch.bytes.withUnsafeBytes { all in
            for i in part {
                results[i] = RecordHandler.decode(UnsafeRawBufferPointer(rebasing: all[batch.ranges[i]]), with: decoder, accept: { _ in true })
            }
        }
    }
}

import CLua
import FoundationEssentials
import Glibc
import Synchronization

/// HttpOutput (Heka's), for webhooks and for stores. Each request's body is the encoder's
/// output (the message's JSON form without an encoder); with `flush_count` above 1 a
/// request carries a batch, one message per line (ClickHouse's JSONEachRow, Influx line
/// protocol to VictoriaMetrics, Elasticsearch's bulk API), sent at `flush_count` messages,
/// `flush_bytes` bytes or `flush_interval` ms, whichever comes first, optionally
/// gzip-compressed, on one kept-alive connection (Debian's libcurl; https:// works).
///
/// Delivery: the cursor advances once a batch is stored. A 5xx, 408, 429, a timeout or a
/// refused connection sends the batch again with backoff (0.1 s doubling to 30 s) for as
/// long as it takes: nothing is lost while the store is down (the output's `[buffering]`
/// decides what its inputs do meanwhile). A refusal that names the data (any other 4xx; a
/// ClickHouse `Code: N` data error, which 18.16 answers with 500 or 400) cuts the batch in
/// two until the refused messages are alone: those are skipped, counted (`rejected`) and
/// logged with the store's answer; the rest are stored. With `bulk_response =
/// "elasticsearch"` a 200's failed items are sent again (429, 5xx) or skipped.
final class HttpOutputRunner: PipelineOutput, @unchecked Sendable {  // runs on its own thread; other threads only set the abandon/retiring atomics
    let name: String
    let reader: RouterReader
    let encoder: (any MessageEncoder)?
    let options: HttpOutputOptions
    let headers: [String]
    let userpwd: String?
    let counters: PluginCounters
    let log: PipelineLog
    let abandon = Atomic<Bool>(false)
    let retiring = Atomic<Bool>(false)
    private let client = clp_http_client_new()

    /// One encoded message of a batch.
    struct Item {
        let seq: UInt64
        let body: [UInt8]
    }

    init(name: String, reader: RouterReader, encoder: (any MessageEncoder)?, options: HttpOutputOptions, counters: PluginCounters, log: PipelineLog) {
        self.name = name
        self.reader = reader
        self.encoder = encoder
        self.options = options
        var h = options.headers.headerLines.map { "\($0.0): \($0.1)" }
        if !options.headers.headerLines.contains(where: { $0.0.lowercased() == "content-type" }) {
            h.append("Content-Type: " + (encoder == nil ? "application/json" : options.bulkResponse == "elasticsearch" ? "application/x-ndjson" : "text/plain; charset=utf-8"))
        }
        self.headers = h
        self.userpwd = options.username.map { "\($0):\(options.password ?? "")" }
        self.counters = counters
        self.log = log
    }

    deinit { clp_http_client_free(client) }

    var url: String { options.address }
    private var batching: Bool { options.flushCount > 1 }
    private var stopping: Bool { abandon.load(ordering: .relaxed) || retiring.load(ordering: .relaxed) }

    /// One request with `body`; the store's answer read into a verdict for `count` messages.
    func send(_ body: [UInt8], count: Int) -> HttpVerdict {
        var result = clp_http_result()
        var cHeaders = headers.map { strdup($0) }
        defer { cHeaders.forEach { free($0) } }
        var response: UnsafeMutablePointer<CChar>?
        var responseLength = 0
        let rc = cHeaders.withUnsafeMutableBufferPointer { hp in
            hp.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: hp.count) { headerArray in
                body.withUnsafeBytes { b in
                    clp_http_send(client, url, options.method.uppercased(), headerArray, hp.count, b.baseAddress, b.count, userpwd,
                                  options.httpTimeout, options.compression == "gzip" ? 1 : 0, 16 << 20, &result, &response, &responseLength)
                }
            }
        }
        defer { free(response) }
        if rc != 0 {
            let why = withUnsafeBytes(of: &result.error) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return .retry("\(url): \(why)")
        }
        let text = response.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: responseLength), as: UTF8.self) } ?? ""
        return HttpStoreAnswer.verdict(status: result.status, body: text, bulk: options.bulkResponse == "elasticsearch", count: count)
    }

    /// The request body of `items`: each message's bytes, one per line in a batch.
    private func body(_ items: ArraySlice<Item>) -> [UInt8] {
        guard batching else { return items.first?.body ?? [] }
        var out: [UInt8] = []
        out.reserveCapacity(items.reduce(0) { $0 + $1.body.count + 1 })
        for i in items {
            out += i.body
            if i.body.last != 0x0A { out.append(0x0A) }
        }
        return out
    }

    /// Delivers `items`, cutting a refused batch down to its refused messages; false when
    /// stopping came first (nothing more is acknowledged).
    private func deliver(_ items: ArraySlice<Item>) -> Bool {
        var pending = items
        var delay = 0.1
        while !pending.isEmpty {
            switch send(body(pending), count: pending.count) {
            case .delivered:
                counters.add(.sent, Int64(pending.count))
                return true
            case .refused(let why):
                guard pending.count > 1 else {
                    counters.add(.rejected)
                    log.error(name, "message \(pending.first!.seq) refused: \(url) \(why); skipped")
                    return true
                }
                let mid = pending.startIndex + pending.count / 2
                return deliver(pending[..<mid]) && deliver(pending[mid...])
            case .partial(let again, let refused):
                for (i, why) in refused {
                    counters.add(.rejected)
                    log.error(name, "message \(pending[pending.startIndex + i].seq) refused: \(why); skipped")
                }
                counters.add(.sent, Int64(pending.count - again.count - refused.count))
                guard !again.isEmpty else { return true }
                counters.add(.retries)
                log.error(name, "\(again.count) of \(pending.count) items not stored (busy); sending them again in \(delay) s")
                pending = ArraySlice(again.map { pending[pending.startIndex + $0] })
            case .retry(let why):
                counters.add(.retries)
                log.error(name, "\(why); retrying in \(delay) s")
            }
            guard backOff(&delay, stopping: { stopping }) else { return false }
        }
        return true
    }

    func run() {
        var batch: [Item] = []
        var bytes = 0
        var lastSeq: UInt64?
        var opened = Date()
        let interval = Double(options.flushInterval) / 1000
        /// Sends the batch; false when stopping interrupted it.
        func flush() -> Bool {
            guard let seq = lastSeq else { return true }
            if !batch.isEmpty && !deliver(batch[...]) { return false }
            reader.acknowledge(through: seq)
            batch.removeAll(keepingCapacity: true)
            bytes = 0
            lastSeq = nil
            return true
        }
        while !retiring.load(ordering: .relaxed), let messages = reader.next(maxCount: 256, timeout: batching ? max(0.01, min(interval, 0.2)) : 0.2) {
            for m in messages {
                counters.add(.processed)
                do {
                    if let body = try encoder.map({ try $0.encode(m.view) }) ?? m.view.decoded().jsonBytes() {
                        if batch.isEmpty { opened = Date() }
                        batch.append(Item(seq: m.seq, body: body))
                        bytes += body.count + 1
                    }
                } catch {
                    counters.add(.encodeFailures)
                    log.error(name, "encoding message \(m.seq): \(error)")
                }
                lastSeq = m.seq
                if batch.count >= options.flushCount || bytes >= options.flushBytes {
                    guard flush() else { return }
                }
            }
            if batch.isEmpty && lastSeq != nil { guard flush() else { return } }
            if messages.isEmpty && lastSeq == nil { reader.acknowledgeAll() }
            if !batch.isEmpty && (messages.isEmpty || Date().timeIntervalSince(opened) >= interval) {
                guard flush() else { return }
            }
            counters.recordLag(of: reader)
        }
        _ = flush()
        counters.recordLag(of: reader)
    }
}

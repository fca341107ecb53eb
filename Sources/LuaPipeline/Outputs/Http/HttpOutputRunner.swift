import CLua
import FoundationEssentials
import Glibc
import Synchronization

/// HttpOutput (Heka's): one HTTP request per message, its body the encoder's output (or
/// the message's JSON form without an encoder): a webhook for chat and paging tools, or
/// any HTTP API. `https://` works (Debian's libcurl, with OpenSSL, does the requests).
///
/// Delivery: a 2xx response acknowledges the message. A 5xx, a timeout or a refused or
/// broken connection is retried with backoff (0.1 s doubling to 30 s) for as long as it
/// takes: the message stays in the router, so nothing is lost while the endpoint is down
/// (the output's `[buffering]` decides what its inputs do meanwhile); so are 408 and 429
/// (timeout, too many requests). Any other status (a 4xx) is logged, counted
/// (`rejected`) and skipped, so one bad message cannot block the output. Connecting is
/// bounded by 10 s, and without `http_timeout` a transfer stalled for a minute fails.
final class HttpOutputRunner: PipelineOutput, @unchecked Sendable {  // runs on its own thread; other threads only set the abandon/retiring atomics
    let name: String
    let reader: RouterReader
    let encoder: (any MessageEncoder)?
    let url: String
    let method: String
    let headers: [String]
    let userpwd: String?
    let timeout: Double
    let counters: PluginCounters
    let log: PipelineLog
    let abandon = Atomic<Bool>(false)
    let retiring = Atomic<Bool>(false)

    init(name: String, reader: RouterReader, encoder: (any MessageEncoder)?, url: String, method: String, headers: [(String, String)],
         username: String?, password: String?, timeout: Double, counters: PluginCounters, log: PipelineLog) {
        self.name = name
        self.reader = reader
        self.encoder = encoder
        self.url = url
        self.method = method.uppercased()
        var h = headers.map { "\($0.0): \($0.1)" }
        if !headers.contains(where: { $0.0.lowercased() == "content-type" }) {
            h.append("Content-Type: " + (encoder == nil ? "application/json" : "text/plain; charset=utf-8"))
        }
        self.headers = h
        self.userpwd = username.map { "\($0):\(password ?? "")" }
        self.timeout = timeout
        self.counters = counters
        self.log = log
    }

    func send(_ body: [UInt8]) -> DeliveryOutcome {
        var result = clp_http_result()
        var cHeaders = headers.map { strdup($0) }
        defer { cHeaders.forEach { free($0) } }
        let rc = cHeaders.withUnsafeMutableBufferPointer { hp in
            hp.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: hp.count) { headerArray in
                body.withUnsafeBytes { b in
                    clp_http_request(url, method, headerArray, hp.count, b.baseAddress, b.count, userpwd, Int(timeout * 1000), &result)
                }
            }
        }
        if rc != 0 {
            let why = withUnsafeBytes(of: &result.error) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return .retry("\(url): \(why)")
        }
        switch result.status {
        case 200..<300: return .delivered
        case 500..<600, 408, 429: return .retry("\(url) answered \(result.status)")
        default: return .rejected("\(url) answered \(result.status)")
        }
    }

    private var stopping: Bool { abandon.load(ordering: .relaxed) || retiring.load(ordering: .relaxed) }

    func run() {
        while !retiring.load(ordering: .relaxed), let batch = reader.next(maxCount: 64, timeout: 0.2) {
            for m in batch {
                counters.add(.processed)
                var body: [UInt8]?
                do {
                    body = try encoder.map { try $0.encode(m.view) } ?? m.view.decoded().jsonBytes()
                } catch {
                    counters.add(.encodeFailures)
                    log.error(name, "encoding message \(m.seq): \(error)")
                }
                if let body, deliverRetrying(name, counters: counters, log: log, stopping: { stopping }, { send(body) }) == nil { return }
                reader.acknowledge(through: m.seq)
            }
            if batch.isEmpty { reader.acknowledgeAll() }
            counters.recordLag(of: reader)
        }
    }
}

import FoundationEssentials
import Synchronization

/// SmtpOutput (Heka's): each message becomes an e-mail (its body the encoder's output,
/// by default the Payload) sent through an SMTP server (`host`), optionally with
/// `AUTH PLAIN`. At most one e-mail leaves every `send_interval` seconds; messages that
/// arrive meanwhile go, in order, into the next one (Heka discarded them; alerts must not
/// be lost). A server that is down or answers 4xx is retried with backoff (0.1 s to 30 s),
/// nothing lost; a 5xx answer (a permanent refusal) is logged, counted (`rejected`) and
/// skipped. No STARTTLS: use a local relay for servers that require it.
final class SmtpOutputRunner: PipelineOutput, @unchecked Sendable {  // runs on its own thread; other threads only set the abandon/retiring atomics
    let name: String
    let reader: RouterReader
    let encoder: (any MessageEncoder)?
    let host: String
    let from: String
    let to: [String]
    let subject: String
    let user: String?
    let password: String?
    let sendInterval: Double
    let counters: PluginCounters
    let log: PipelineLog
    let hostname: String
    let abandon = Atomic<Bool>(false)
    let retiring = Atomic<Bool>(false)

    init(name: String, reader: RouterReader, encoder: (any MessageEncoder)?, host: String, from: String, to: [String], subject: String,
         user: String?, password: String?, sendInterval: Double, counters: PluginCounters, log: PipelineLog, hostname: String) {
        self.name = name
        self.reader = reader
        self.encoder = encoder
        self.host = host
        self.from = from
        self.to = to
        self.subject = subject
        self.user = user
        self.password = password
        self.sendInterval = sendInterval
        self.counters = counters
        self.log = log
        self.hostname = hostname
    }

    struct Failure: Error {
        let permanent: Bool
        let reason: String
    }

    /// One SMTP session: reads replies, sends commands.
    private final class Session {
        let fd: Int32
        var buffer: [UInt8] = []

        init(fd: Int32) { self.fd = fd }
        deinit { close(fd) }

        /// The next complete reply: its code and text (multi-line replies joined).
        func reply() throws(Failure) -> (Int, String) {
            var lines: [String] = []
            while true {
                while let nl = buffer.firstIndex(of: 0x0A) {
                    var end = nl
                    while end > 0 && (buffer[end - 1] == 0x0D || buffer[end - 1] == 0x20 || buffer[end - 1] == 0x09) { end -= 1 }
                    let line = String(decoding: buffer[..<end], as: UTF8.self)
                    buffer.removeFirst(nl + 1)
                    lines.append(line)
                    if line.count < 4 || line[line.index(line.startIndex, offsetBy: 3)] != "-" {
                        guard let code = Int(line.prefix(3)) else { throw Failure(permanent: false, reason: "bad reply \"\(line)\"") }
                        return (code, lines.joined(separator: " "))
                    }
                }
                guard Socket.readable(fd, ms: 30_000) else { throw Failure(permanent: false, reason: "no reply within 30 s") }
                var chunk = [UInt8](repeating: 0, count: 4096)
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                guard n > 0 else { throw Failure(permanent: false, reason: "connection closed") }
                buffer += chunk[0..<n]
            }
        }

        /// Sends a command and checks the reply code's class.
        @discardableResult
        func command(_ text: String?, expect: ClosedRange<Int>) throws(Failure) -> String {
            if let text {
                guard Socket.writeAll(fd, Array((text + "\r\n").utf8)) else { throw Failure(permanent: false, reason: "write failed") }
            }
            let (code, reply) = try reply()
            guard expect.contains(code) else {
                throw Failure(permanent: code >= 500, reason: "\(text.map { String($0.prefix(20)) } ?? "greeting"): \(reply)")
            }
            return reply
        }
    }

    /// `Thu, 03 Dec 2026 06:34:15 +0000`: RFC 5322's date in UTC, English names whatever the locale.
    static func rfc2822Date(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var tm = Glibc.tm()
        gmtime_r(&t, &tm)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(days[Int(tm.tm_wday)]), \(two(tm.tm_mday)) \(months[Int(tm.tm_mon)]) \(1900 + tm.tm_year) "
            + "\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)) +0000"
    }

    /// The e-mail's text: headers, then the body with CRLF line ends and dot-stuffing.
    func mail(_ bodies: [String]) -> String {
        var text = "From: \(from)\r\nTo: \(to.joined(separator: ", "))\r\nSubject: \(subject)\r\nDate: \(Self.rfc2822Date(Date()))\r\n"
        text += "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        let body = bodies.joined(separator: "\n")
        for line in body.split(separator: "\n", omittingEmptySubsequences: false) {
            let l = line.hasSuffix("\r") ? line.dropLast() : line
            text += (l.hasPrefix(".") ? "." : "") + l + "\r\n"
        }
        return text
    }

    func send(_ bodies: [String]) throws(Failure) {
        let fd: Int32
        do {
            fd = try Socket.connect(host)
        } catch {
            throw Failure(permanent: false, reason: "\(error)")
        }
        // Writes are bounded too (replies wait at most 30 s): a stop or reload never waits for ever.
        var limit = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        let s = Session(fd: fd)
        try s.command(nil, expect: 220...220)
        try s.command("EHLO \(hostname)", expect: 250...250)
        if let user {
            let token = Data(([0] + Array(user.utf8) + [0] + Array((password ?? "").utf8))).base64EncodedString()
            try s.command("AUTH PLAIN \(token)", expect: 235...235)
        }
        try s.command("MAIL FROM:<\(from)>", expect: 250...250)
        for r in to { try s.command("RCPT TO:<\(r)>", expect: 250...251) }
        try s.command("DATA", expect: 354...354)
        try s.command(mail(bodies) + ".", expect: 250...250)
        _ = try? s.command("QUIT", expect: 221...221)
    }

    private var stopping: Bool { abandon.load(ordering: .relaxed) || retiring.load(ordering: .relaxed) }

    private func deliver(_ bodies: [String]) -> Bool {
        let done = deliverRetrying(name, counters: counters, log: log, stopping: { stopping }) { () -> DeliveryOutcome in
            do throws(Failure) {
                try send(bodies)
                return .delivered
            } catch {
                return error.permanent ? .rejected("\(host) refused the e-mail: \(error.reason)") : .retry("\(host): \(error.reason)")
            }
        }
        if done == true { counters.add(.mailedMessages, Int64(bodies.count)) }
        return done != nil
    }

    func run() {
        var pending: [String] = []
        var lastSeq: UInt64?
        var lastSent = Date.distantPast
        func flush() -> Bool {
            guard let seq = lastSeq else { return true }
            guard deliver(pending) else { return false }
            reader.acknowledge(through: seq)
            pending.removeAll()
            lastSeq = nil
            lastSent = Date()
            return true
        }
        while !retiring.load(ordering: .relaxed), let batch = reader.next(maxCount: 64, timeout: 0.1) {
            for m in batch {
                counters.add(.processed)
                do {
                    if let e = encoder {
                        if let bytes = try e.encode(m.view) { pending.append(String(decoding: bytes, as: UTF8.self)) }
                    } else {
                        pending.append(m.view.decoded().payload ?? "")
                    }
                } catch {
                    counters.add(.encodeFailures)
                    log.error(name, "encoding message \(m.seq): \(error)")
                }
                lastSeq = m.seq
            }
            if batch.isEmpty && lastSeq == nil { reader.acknowledgeAll() }
            if lastSeq != nil && Date().timeIntervalSince(lastSent) >= sendInterval {
                if pending.isEmpty {
                    if let seq = lastSeq { reader.acknowledge(through: seq) }
                    lastSeq = nil
                } else if !flush() {
                    return
                }
            }
        }
        if !pending.isEmpty && !retiring.load(ordering: .relaxed) { _ = flush() }
    }
}

#if canImport(Glibc)
import Glibc
#endif

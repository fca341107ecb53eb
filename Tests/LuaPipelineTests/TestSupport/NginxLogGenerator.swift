/// Makes nginx "combined" access log lines for tests: deterministic, with known status
/// counts and a known set of malformed lines.
struct NginxLogGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }

    private mutating func next(_ bound: Int) -> Int {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return Int(state % UInt64(bound))
    }

    struct Log {
        var lines: [String] = []
        /// Status code → lines with that code.
        var statusCounts: [Int: Int] = [:]
        var malformed = 0
    }

    /// `count` lines; every `malformedEvery`-th (1-based) is not nginx's shape.
    mutating func make(_ count: Int, malformedEvery: Int = 97) -> Log {
        let statuses = [200, 200, 200, 200, 200, 200, 301, 304, 404, 404, 429, 500, 503]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        var log = Log()
        var t = 1_795_514_400
        for i in 1...count {
            t += next(3)
            if i % malformedEvery == 0 {
                log.lines.append("not an access log line \(i)")
                log.malformed += 1
                continue
            }
            let status = statuses[next(statuses.count)]
            log.statusCounts[status, default: 0] += 1
            let day = 24 + (t - 1_795_514_400) / 86400
            let sec = t % 86400
            let ts = "\(day)/\(months[10])/2026:\(pad(sec / 3600)):\(pad(sec / 60 % 60)):\(pad(sec % 60)) +0000"
            log.lines.append("10.0.\(next(256)).\(next(256)) - - [\(ts)] \"GET /item/\(next(1000)) HTTP/1.1\" \(status) \(next(100_000)) \"-\" \"test-agent/\(next(9))\"")
        }
        return log
    }

    private func pad(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
}

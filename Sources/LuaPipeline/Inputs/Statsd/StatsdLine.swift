/// One StatsD metric line: `name:value|type[|@rate][|#tag:value,...]` (Etsy StatsD with
/// DogStatsD tags).
///
/// Types: `c` counter (value added, divided by the sample rate), `g` gauge (a leading `+`
/// or `-` makes it a delta), `ms` timer and `h` histogram (both timers here), `s` set
/// (unique values counted). Names are cleaned as StatsD does: spaces become `_`, `/`
/// becomes `-`, anything but letters, digits, `_`, `-` and `.` is removed.
struct StatsdLine: Equatable {
    enum Kind: Equatable {
        case counter, gauge, timer, set
    }

    var name: String
    var kind: Kind
    var value: Double
    /// The set member, as sent.
    var member: String?
    /// A gauge given as `+N`/`-N`.
    var isDelta = false
    var sampleRate: Double = 1
    /// DogStatsD tags, sorted, as Graphite tags: `k=v`.
    var tags: [String] = []

    /// Parses one line; nil for a malformed one.
    init?(_ line: Substring) {
        let parts = line.split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count >= 2, let colon = parts[0].lastIndex(of: ":") else { return nil }
        let rawName = parts[0][..<colon], rawValue = parts[0][parts[0].index(after: colon)...]
        name = Self.clean(rawName)
        guard !name.isEmpty, !rawValue.isEmpty else { return nil }
        switch parts[1] {
        case "c": kind = .counter
        case "g": kind = .gauge
        case "ms", "h": kind = .timer
        case "s": kind = .set
        default: return nil
        }
        if kind == .set {
            member = String(rawValue)
            value = 1
        } else {
            guard let v = Double(rawValue), v.isFinite else { return nil }
            value = v
            isDelta = kind == .gauge && (rawValue.first == "+" || rawValue.first == "-")
        }
        for extra in parts.dropFirst(2) {
            if extra.first == "@" {
                guard let r = Double(extra.dropFirst()), r > 0, r <= 1 else { return nil }
                sampleRate = r
            } else if extra.first == "#" {
                tags = extra.dropFirst().split(separator: ",").compactMap { tag -> String? in
                    let kv = tag.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                    let key = Self.clean(kv[0])
                    guard !key.isEmpty else { return nil }  // ":v" or ":" names nothing
                    return key + "=" + (kv.count > 1 ? Self.clean(kv[1]) : "")
                }.sorted()
            } else {
                return nil
            }
        }
    }

    static func clean(_ s: Substring) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case " ", "\t": out.append("_")
            case "/": out.append("-")
            case "a"..."z", "A"..."Z", "0"..."9", "_", "-", ".": out.unicodeScalars.append(c)
            default: break
            }
        }
        return out
    }
}

import FoundationEssentials

/// A time zone read from the system's IANA database (`/usr/share/zoneinfo`, TZif files),
/// for Heka's decoder `tz` setting: a decoder that parses a wall-clock time without an
/// offset (rsyslog's traditional format, nginx's error log) produces it as if it were UTC,
/// and the host reads it again as wall-clock time in the zone, as Heka's SandboxDecoder did.
///
/// Times after the file's last transition follow its POSIX rule (the TZif footer, e.g.
/// `PST8PDT,M3.2.0,M11.1.0`), so files built "slim" work too.
public struct TimeZoneShift: Sendable {
    public let name: String
    /// Transition instants (seconds since the epoch, UTC), ascending, and the UTC offset in
    /// seconds from each one on.
    private let transitions: [Int64]
    private let offsets: [Int32]
    /// The offset before the first transition.
    private let initialOffset: Int32
    private let rule: PosixRule?

    public static let directory = "/usr/share/zoneinfo"

    /// Reads zone `name` (`UTC`, `America/Los_Angeles`, `Europe/Berlin`); `Local` is
    /// `/etc/localtime`. Throws a reason naming the zone.
    public init(named name: String, directory: String = TimeZoneShift.directory) throws(TimeZoneError) {
        self.name = name
        let valid = !name.isEmpty && !name.hasPrefix("/") && !name.split(separator: "/").contains("..")
        guard valid else { throw TimeZoneError(reason: "unknown time zone \"\(name)\"") }
        let path = name == "Local" ? "/etc/localtime" : Path.join(directory, name)
        guard let bytes = FileSystem.contents(path) else {
            throw TimeZoneError(reason: "unknown time zone \"\(name)\" (\(path): \(errnoText()))")
        }
        guard let parsed = Self.parse(bytes) else { throw TimeZoneError(reason: "time zone \"\(name)\": \(path) is not a TZif file") }
        (transitions, offsets, initialOffset, rule) = parsed
    }

    /// The UTC offset in seconds in force at `utc` (seconds since the epoch).
    public func offset(atUTC utc: Int64) -> Int32 {
        if let rule, let last = transitions.last, utc >= last { return rule.offset(atUTC: utc) }
        if transitions.isEmpty { return rule?.offset(atUTC: utc) ?? initialOffset }
        var lo = 0, hi = transitions.count  // the first transition after utc
        while lo < hi {
            let mid = (lo + hi) / 2
            if transitions[mid] <= utc { lo = mid + 1 } else { hi = mid }
        }
        return lo == 0 ? initialOffset : offsets[lo - 1]
    }

    /// Nanoseconds since the epoch of the wall-clock time `ns` reads as in UTC. A time
    /// that a change of offset skips or repeats gets one of its two readings, as Go's
    /// time.Date (Heka's host) chose.
    public func utc(fromWallClock ns: Int64) -> Int64 {
        let (sec, frac) = ns.quotientAndRemainder(dividingBy: 1_000_000_000)
        let wall = frac < 0 ? sec - 1 : sec
        var off = Int64(offset(atUTC: wall))
        if off != 0 {
            let second = Int64(offset(atUTC: wall - off))
            off = second
        }
        let (shifted, overflow) = ns.subtractingReportingOverflow(off * 1_000_000_000)
        return overflow ? ns : shifted
    }

    /// `view` with its Timestamp read again as wall-clock time in this zone (re-encoded;
    /// `view` itself when it does not re-encode).
    public func shifting(_ view: MessageView) -> MessageView {
        var m = view.decoded()
        m.timestamp = utc(fromWallClock: m.timestamp)
        return (try? MessageView(encoded: m.encoded())) ?? view
    }

    private static func parse(_ b: [UInt8]) -> ([Int64], [Int32], Int32, PosixRule?)? {
        guard b.count >= 44, b[0] == 0x54, b[1] == 0x5A, b[2] == 0x69, b[3] == 0x66 else { return nil }  // "TZif"
        func u32(_ at: Int) -> Int { Int(b[at]) << 24 | Int(b[at + 1]) << 16 | Int(b[at + 2]) << 8 | Int(b[at + 3]) }
        func i32(_ at: Int) -> Int32 { Int32(bitPattern: UInt32(u32(at))) }
        func i64(_ at: Int) -> Int64 { Int64(bitPattern: UInt64(u32(at)) << 32 | UInt64(u32(at + 4))) }
        func counts(_ at: Int) -> (isut: Int, isstd: Int, leap: Int, time: Int, type: Int, char: Int) {
            (u32(at + 20), u32(at + 24), u32(at + 28), u32(at + 32), u32(at + 36), u32(at + 40))
        }
        var c = counts(0)
        var at = 44, timeSize = 4
        if b[4] >= 0x32 {  // version 2+: skip the 32-bit block, read the 64-bit one
            at += c.time * 5 + c.type * 6 + c.char + c.leap * 8 + c.isstd + c.isut
            guard b.count >= at + 44 else { return nil }
            c = counts(at)
            at += 44
            timeSize = 8
        }
        let dataEnd = at + c.time * (timeSize + 1) + c.type * 6 + c.char + c.leap * (timeSize + 4) + c.isstd + c.isut
        guard c.type > 0, b.count >= dataEnd else { return nil }
        let times = (0..<c.time).map { timeSize == 8 ? i64(at + $0 * 8) : Int64(i32(at + $0 * 4)) }
        let indices = (0..<c.time).map { Int(b[at + c.time * timeSize + $0]) }
        let typesAt = at + c.time * (timeSize + 1)
        let typeOffsets = (0..<c.type).map { i32(typesAt + $0 * 6) }
        guard indices.allSatisfy({ $0 < c.type }) else { return nil }
        // Before the first transition: the first non-DST type, as RFC 8536 suggests.
        var firstStandard = 0
        while firstStandard < c.type && b[typesAt + firstStandard * 6 + 4] != 0 { firstStandard += 1 }
        if firstStandard == c.type { firstStandard = 0 }
        var rule: PosixRule?
        if timeSize == 8, dataEnd < b.count, b[dataEnd] == 0x0A,
           let end = b[(dataEnd + 1)...].firstIndex(of: 0x0A) {
            rule = PosixRule(String(decoding: b[(dataEnd + 1)..<end], as: UTF8.self))
        }
        return (times, indices.map { typeOffsets[$0] }, typeOffsets[firstStandard], rule)
    }
}

public struct TimeZoneError: Error, Sendable {
    public let reason: String
}

/// A POSIX TZ rule as TZif footers carry it: `UTC0`, `CET-1CEST,M3.5.0,M10.5.0/3`,
/// `<+0330>-3:30`. Only the `Mm.w.d` date form has DST here (the one the IANA data
/// uses); a rule with another form keeps its standard offset.
struct PosixRule: Sendable {
    let standard: Int32
    let daylight: Int32?
    /// Start and end of DST: month, week (5 = last), weekday, local time in seconds.
    let start: (month: Int, week: Int, day: Int, time: Int)?
    let end: (month: Int, week: Int, day: Int, time: Int)?

    init?(_ text: String) {
        var s = Substring(text)
        func name() -> Bool {
            if s.first == "<" {
                guard let close = s.firstIndex(of: ">") else { return false }
                s = s[s.index(after: close)...]
                return true
            }
            let n = s.prefix { $0.isLetter }
            s = s.dropFirst(n.count)
            return n.count >= 3
        }
        // [+-]hh[:mm[:ss]] as seconds
        func clock() -> Int? {
            var sign = 1
            if s.first == "-" || s.first == "+" { sign = s.first == "-" ? -1 : 1; s = s.dropFirst() }
            var total = 0
            for scale in [3600, 60, 1] {
                let digits = s.prefix { $0.isASCII && $0.isNumber }
                guard !digits.isEmpty, let v = Int(digits) else { return scale == 3600 ? nil : sign * total }
                total += v * scale
                s = s.dropFirst(digits.count)
                guard scale > 1, s.first == ":" else { break }
                s = s.dropFirst()
            }
            return sign * total
        }
        func date() -> (month: Int, week: Int, day: Int, time: Int)? {
            guard s.first == "M" else { return nil }
            s = s.dropFirst()
            let parts = s.prefix { $0 != "/" && $0 != "," }
            s = s.dropFirst(parts.count)
            let nums = parts.split(separator: ".").compactMap { Int($0) }
            guard nums.count == 3 else { return nil }
            var time = 7200
            if s.first == "/" { s = s.dropFirst(); guard let t = clock() else { return nil }; time = t }
            return (nums[0], nums[1], nums[2], time)
        }
        guard name(), let std = clock() else { return nil }
        standard = Int32(-std)  // POSIX offsets are west of Greenwich
        guard !s.isEmpty else { daylight = nil; start = nil; end = nil; return }
        guard name() else { return nil }
        var dst = -(std - 3600)
        if s.first != ",", let d = clock() { dst = -d }
        daylight = Int32(dst)
        guard s.first == "," else { start = nil; end = nil; return }
        s = s.dropFirst()
        let from = date()
        if s.first == "," { s = s.dropFirst() }
        let to = date()
        (start, end) = from != nil && to != nil ? (from, to) : (nil, nil)
    }

    func offset(atUTC utc: Int64) -> Int32 {
        guard let daylight, let start, let end else { return standard }
        let year = Self.civil(fromDays: Self.floorDiv(utc + Int64(standard), 86_400)).year
        // Transition instants in UTC: the start is in standard time, the end in DST.
        let on = Self.instant(year, start) - Int64(standard)
        let off = Self.instant(year, end) - Int64(daylight)
        let inDST = on < off ? (utc >= on && utc < off) : !(utc >= off && utc < on)
        return inDST ? daylight : standard
    }

    /// Local seconds since the epoch of `rule`'s day in `year` at its time.
    private static func instant(_ year: Int64, _ rule: (month: Int, week: Int, day: Int, time: Int)) -> Int64 {
        let first = days(year: year, month: Int64(rule.month), day: 1)
        let weekdayOfFirst = Int((first + 4) % 7 + 7) % 7  // 1970-01-01 was a Thursday
        var day = 1 + (rule.day - weekdayOfFirst + 7) % 7 + (rule.week - 1) * 7
        let length = Int(days(year: rule.month == 12 ? year + 1 : year, month: rule.month == 12 ? 1 : Int64(rule.month + 1), day: 1) - first)
        while day > length { day -= 7 }
        return (first + Int64(day - 1)) * 86_400 + Int64(rule.time)
    }

    private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays z0: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = z0 + 719_468
        let era = floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

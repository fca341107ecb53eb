/// RFC 3339 date-times on the right of `Timestamp`, e.g.
/// `Timestamp >= "2016-05-24T21:51:00Z"` (a lua_sandbox/Hindsight extension of Heka's
/// syntax, which only took nanoseconds).
enum MatcherTimestamp {
    /// Nanoseconds since the Unix epoch for `text`, or `nil` when it is not
    /// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM|±HHMM)` or is outside Int64's range
    /// (years 1678…2262).
    ///
    /// Unlike lua_sandbox (which goes through `mktime`), the offset is applied exactly
    /// and the local time zone plays no part. Fraction digits past nanoseconds are
    /// dropped. A leap second (`:60`) counts as the first second of the next minute.
    static func nanoseconds(_ text: [UInt8]) -> Int64? {
        var p = 0
        func digits(_ n: Int) -> Int? {
            guard p + n <= text.count else { return nil }
            var v = 0
            for i in p..<(p + n) {
                let d = Int(text[i]) - 48
                guard d >= 0 && d <= 9 else { return nil }
                v = v * 10 + d
            }
            p += n
            return v
        }
        func expect(_ set: String) -> Bool {
            guard p < text.count, set.utf8.contains(text[p]) else { return false }
            p += 1
            return true
        }

        guard let year = digits(4), expect("-"), let month = digits(2), expect("-"), let day = digits(2),
              expect("Tt"), let hour = digits(2), expect(":"), let minute = digits(2), expect(":"),
              let second = digits(2)
        else { return nil }
        guard (1...12).contains(month), (1...daysIn(month, year)).contains(day),
              hour <= 23, minute <= 59, second <= 60
        else { return nil }

        var fraction: Int64 = 0
        if p < text.count, text[p] == UInt8(ascii: ".") {
            p += 1
            let start = p
            var scale: Int64 = 100_000_000
            while p < text.count, text[p] >= 48, text[p] <= 57 {
                fraction += Int64(text[p] - 48) * scale
                scale /= 10
                p += 1
            }
            guard p > start else { return nil }
        }

        var offsetSeconds = 0
        if expect("Zz") {
            offsetSeconds = 0
        } else if p < text.count, text[p] == UInt8(ascii: "+") || text[p] == UInt8(ascii: "-") {
            let sign = text[p] == UInt8(ascii: "-") ? -1 : 1
            p += 1
            guard let oh = digits(2) else { return nil }
            _ = expect(":")
            guard let om = digits(2), oh <= 23, om <= 59 else { return nil }
            offsetSeconds = sign * (oh * 3600 + om * 60)
        } else {
            return nil
        }
        guard p == text.count else { return nil }

        // Local time minus its offset is UTC.
        let seconds = Int64(daysSinceEpoch(year, month, day)) * 86_400
            + Int64(hour * 3600 + minute * 60 + second - offsetSeconds)
        let (ns, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return nil }
        let (total, overflow2) = ns.addingReportingOverflow(fraction)
        return overflow2 ? nil : total
    }

    private static func daysIn(_ month: Int, _ year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's
    /// `days_from_civil`).
    private static func daysSinceEpoch(_ year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}

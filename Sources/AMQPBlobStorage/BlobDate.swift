import Foundation

/// The two date forms of the Blob service: RFC 1123 (`Wed, 02 Dec 2026 16:09:54 GMT`) in
/// headers and listings, ISO 8601 (`2026-12-02T16:09:54Z`) in SAS tokens. Written by hand, in UTC,
/// so that neither a locale nor a shared formatter object is involved.
public enum BlobDate {
    static let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]  // 1970-01-01 was a Thursday
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// The civil date of a day count since 1970-01-01 (proleptic Gregorian).
    static func civil(fromDays days: Int64) -> (year: Int64, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// Days since 1970-01-01 of a civil date.
    static func days(year: Int64, month: Int, day: Int) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let m = Int64(month)
        let dayOfYear = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func split(_ date: Date) -> (days: Int64, seconds: Int) {
        let total = Int64(date.timeIntervalSince1970.rounded(.down))
        let days = total >= 0 ? total / 86400 : (total - 86399) / 86400
        return (days, Int(total - days * 86400))
    }

    private static func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

    /// `Wed, 02 Dec 2026 16:09:54 GMT` (whole seconds).
    public static func rfc1123(_ date: Date) -> String {
        let (days, seconds) = split(date)
        let (year, month, day) = civil(fromDays: days)
        let weekday = weekdays[Int(((days % 7) + 7) % 7)]
        return "\(weekday), \(two(day)) \(months[month - 1]) \(year) \(two(seconds / 3600)):\(two(seconds / 60 % 60)):\(two(seconds % 60)) GMT"
    }

    /// Parses `Wed, 02 Dec 2026 16:09:54 GMT`; `nil` for anything else.
    public static func parseRFC1123(_ text: String) -> Date? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[0].hasSuffix(","), parts[5] == "GMT", let day = Int(parts[1]), (1...31).contains(day),
              let monthIndex = months.firstIndex(of: String(parts[2])), let year = Int64(parts[3]), (1...9999).contains(year)
        else { return nil }
        let clock = parts[4].split(separator: ":")
        guard clock.count == 3, let h = Int(clock[0]), let m = Int(clock[1]), let s = Int(clock[2]),
              (0...23).contains(h), (0...59).contains(m), (0...60).contains(s)
        else { return nil }
        let seconds = days(year: year, month: monthIndex + 1, day: day) * 86400 + Int64(h * 3600 + m * 60 + s)
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }

    /// `2026-12-02T16:09:54Z` (whole seconds).
    public static func iso8601(_ date: Date) -> String {
        let (days, seconds) = split(date)
        let (year, month, day) = civil(fromDays: days)
        return "\(year)-\(two(month))-\(two(day))T\(two(seconds / 3600)):\(two(seconds / 60 % 60)):\(two(seconds % 60))Z"
    }

    /// Parses `YYYY-MM-DD`, `YYYY-MM-DDTHH:MMZ`, `YYYY-MM-DDTHH:MM:SSZ` and fractional seconds, in UTC.
    public static func parseISO8601(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count else { return nil }
            var value = 0
            for b in bytes[range] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) else { return nil }
                value = value * 10 + Int(b - UInt8(ascii: "0"))
            }
            return value
        }
        guard bytes.count >= 10, let year = number(0..<4), bytes[4] == UInt8(ascii: "-"), let month = number(5..<7),
              bytes[7] == UInt8(ascii: "-"), let day = number(8..<10), (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var seconds = Double(days(year: Int64(year), month: month, day: day) * 86400)
        if bytes.count == 10 { return Date(timeIntervalSince1970: seconds) }
        guard bytes.count >= 17, bytes[10] == UInt8(ascii: "T"), bytes.last == UInt8(ascii: "Z"), let h = number(11..<13),
              bytes[13] == UInt8(ascii: ":"), let m = number(14..<16), h < 24, m < 60
        else { return nil }
        seconds += Double(h * 3600 + m * 60)
        if bytes.count == 17 { return Date(timeIntervalSince1970: seconds) }
        guard bytes[16] == UInt8(ascii: ":"), let s = number(17..<19), s < 61 else { return nil }
        seconds += Double(s)
        if bytes.count == 20 { return Date(timeIntervalSince1970: seconds) }
        guard bytes[19] == UInt8(ascii: "."), bytes.count > 21 else { return nil }
        let fraction = bytes[20..<(bytes.count - 1)]
        guard fraction.count <= 9, let digits = number(20..<(bytes.count - 1)) else { return nil }
        seconds += Double(digits) / pow(10, Double(fraction.count))
        return Date(timeIntervalSince1970: seconds)
    }
}

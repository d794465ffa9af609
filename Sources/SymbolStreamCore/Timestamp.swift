import CivilCalendar

/// A point in time: microseconds since 1970-01-01 00:00:00 UTC.
///
/// The service assigns these on receipt; the wire format is
/// `YYYY-MM-DD HH:MM:SS.ffffff` (always six fractional digits, UTC), the
/// format the original service produced.
package struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    package static let microsecondsPerSecond: Int64 = 1_000_000
    package static let microsecondsPerDay: Int64 = 86_400 * microsecondsPerSecond

    package var microseconds: Int64

    package init(microseconds: Int64) {
        self.microseconds = microseconds
    }

    package init(second: Int64, offset: Int64) {
        self.microseconds = second * Self.microsecondsPerSecond + offset
    }

    /// The whole second containing this time (floor, also before 1970).
    package var second: Int64 { microseconds.floorDivided(by: Self.microsecondsPerSecond) }
    /// Microseconds into `second`, 0..<1_000_000.
    package var offset: Int64 { microseconds.floorModulo(Self.microsecondsPerSecond) }

    package static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.microseconds < rhs.microseconds }

    /// The first and last times the wire format can write: years 0001 to 9999,
    /// the years a bound may name. Every time the service answers with is in
    /// this range (a series' end is clamped to it; see `InsightRoutes.series`).
    package static let wireRange =
        Timestamp(microseconds: -62_135_596_800 * microsecondsPerSecond)...Timestamp(
            microseconds: 253_402_300_800 * microsecondsPerSecond - 1)

    /// `YYYY-MM-DD HH:MM:SS.ffffff` for the years 0001 to 9999 (`wireRange`).
    /// Any other year an `Int64` of microseconds reaches (about ±292,000) is
    /// written with a sign and at least four digits, as ISO 8601's expanded
    /// years (`+10000-01-01 00:00:00.000000`, `+0000-…`, `-0001-…`): never a
    /// wrong four-digit year, and visibly outside the wire format.
    package var description: String {
        let days = microseconds.floorDivided(by: Self.microsecondsPerDay)
        let inDay = microseconds.floorModulo(Self.microsecondsPerDay)
        let date = CivilDate(daysSinceEpoch: days)
        let secondOfDay = inDay / Self.microsecondsPerSecond
        let fraction = inDay % Self.microsecondsPerSecond
        let expanded = !(1...9999).contains(date.year)
        let year = date.year.magnitude
        var yearDigits = 4
        if expanded { while year >= Self.powerOfTen(yearDigits) { yearDigits += 1 } }
        // Written in place (no array per field): every dashboard answer formats
        // two of these per symbol. 26 bytes, 3 more for a sign and two more digits.
        return String(unsafeUninitializedCapacity: 29) { text in
            var end = 0
            func put(_ value: UInt64, digits count: Int, then separator: UInt8?) {
                var rest = value
                for index in stride(from: end + count - 1, through: end, by: -1) {
                    text[index] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest % 10)
                    rest /= 10
                }
                end += count
                if let separator {
                    text[end] = separator
                    end += 1
                }
            }
            if expanded {
                text[end] = date.year < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+")
                end += 1
            }
            put(year, digits: yearDigits, then: UInt8(ascii: "-"))
            put(UInt64(date.month), digits: 2, then: UInt8(ascii: "-"))
            put(UInt64(date.day), digits: 2, then: UInt8(ascii: " "))
            put(UInt64(secondOfDay / 3600), digits: 2, then: UInt8(ascii: ":"))
            put(UInt64(secondOfDay / 60 % 60), digits: 2, then: UInt8(ascii: ":"))
            put(UInt64(secondOfDay % 60), digits: 2, then: UInt8(ascii: "."))
            put(UInt64(fraction), digits: 6, then: nil)
            return end
        }
    }

    private static func powerOfTen(_ exponent: Int) -> UInt64 {
        (0..<exponent).reduce(1) { power, _ in power * 10 }
    }
}

extension Timestamp {
    /// Parses a range bound: a date `YYYY-MM-DD` (00:00:00 UTC of that day) or a time
    /// `YYYY-MM-DDTHH:MM:SS[.ffffff][Z]`, where a space may stand for `T` and the
    /// fraction has 1 to 6 digits. Returns a reason when the text is not such a bound.
    package static func parseBound(_ text: some StringProtocol) -> Result<Timestamp, BoundParseError> {
        let bytes = Array(text.utf8)
        var reader = DigitReader(bytes: bytes)
        guard let year = reader.digits(4), reader.expect(UInt8(ascii: "-")),
            let month = reader.digits(2), reader.expect(UInt8(ascii: "-")),
            let day = reader.digits(2)
        else { return .failure(.malformed) }
        guard (1...9999).contains(year) else { return .failure(.impossible) }
        guard (1...12).contains(month), (1...CivilDate.daysIn(month: Int(month), year: year)).contains(Int(day)) else {
            return .failure(.impossible)
        }
        var microseconds = CivilDate(year: year, month: Int(month), day: Int(day)).daysSinceEpoch * microsecondsPerDay
        if reader.atEnd { return .success(Timestamp(microseconds: microseconds)) }

        guard reader.expect(UInt8(ascii: "T")) || reader.expect(UInt8(ascii: " ")),
            let hour = reader.digits(2), reader.expect(UInt8(ascii: ":")),
            let minute = reader.digits(2), reader.expect(UInt8(ascii: ":")),
            let second = reader.digits(2)
        else { return .failure(.malformed) }
        var fraction: Int64 = 0
        if reader.expect(UInt8(ascii: ".")) {
            var count = 0
            while let digit = reader.digit() {
                count += 1
                guard count <= 6 else { return .failure(.malformed) }
                fraction = fraction * 10 + digit
            }
            guard count > 0 else { return .failure(.malformed) }
            for _ in count..<6 { fraction *= 10 }
        }
        _ = reader.expect(UInt8(ascii: "Z"))
        guard reader.atEnd else { return .failure(.malformed) }
        guard hour <= 23, minute <= 59, second <= 59 else { return .failure(.impossible) }
        microseconds += ((hour * 60 + minute) * 60 + second) * microsecondsPerSecond + fraction
        return .success(Timestamp(microseconds: microseconds))
    }
}

package enum BoundParseError: Error, Sendable, Hashable {
    /// Not of the form of a date or time at all.
    case malformed
    /// Of the right form, but no such moment (month 13, 30 February, 24:00…).
    case impossible
}

private struct DigitReader {
    let bytes: [UInt8]
    var position = 0

    var atEnd: Bool { position == bytes.count }

    mutating func expect(_ byte: UInt8) -> Bool {
        guard position < bytes.count, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    mutating func digit() -> Int64? {
        guard position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) else { return nil }
        defer { position += 1 }
        return Int64(bytes[position] - UInt8(ascii: "0"))
    }

    mutating func digits(_ count: Int) -> Int64? {
        var value: Int64 = 0
        for _ in 0..<count {
            guard let digit = digit() else { return nil }
            value = value * 10 + digit
        }
        return value
    }
}

extension Int64 {
    /// Division rounding towards negative infinity (bucket arithmetic must not
    /// treat times before 1970 differently).
    @inlinable
    package func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }

    /// The remainder of `floorDivided(by:)`, with the divisor's sign. Taken
    /// from `%` rather than as `self - quotient * divisor`, whose product
    /// overflows near `Int64.min`.
    @inlinable
    package func floorModulo(_ divisor: Int64) -> Int64 {
        let remainder = self % divisor
        return remainder != 0 && (remainder < 0) != (divisor < 0) ? remainder + divisor : remainder
    }
}

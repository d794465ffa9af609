import CivilCalendar
import Testing
@testable import SymbolStreamCore

@Suite struct SymbolTests {
    @Test func parsesEveryLetterAndFoldsUpperCase() {
        for (offset, letter) in "abcdefghijklmnopqrstuvwxyz".enumerated() {
            #expect(Symbol(parsing: String(letter))?.index == offset)
            #expect(Symbol(parsing: String(letter).uppercased())?.letter == String(letter))
        }
    }

    @Test(arguments: ["", "ab", "1", "é", "ａ", " ", "a ", "-", "\u{0}", "aa"])
    func rejectsAnythingElse(_ text: String) {
        #expect(Symbol(parsing: text) == nil)
    }

    @Test func vowels() {
        #expect(Symbol.all.filter(\.isVowel).map(\.letter) == ["a", "e", "i", "o", "u"])
        #expect(Symbol.all.filter(\.isSometimesVowel).map(\.letter) == ["y"])
    }
}

@Suite struct RequestIDTests {
    @Test func parsesCanonicalFormAndRendersLowerCase() throws {
        let id = try #require(RequestUUID(parsing: "123E4567-E89B-42D3-A456-426614174000"))
        #expect(id.description == "123e4567-e89b-42d3-a456-426614174000")
        #expect(id.high == 0x123e_4567_e89b_42d3)
        #expect(id.low == 0xa456_4266_1417_4000)
        #expect(RequestUUID(bytes: id.bytes) == id)
        #expect(id.bytes.count == 16)
    }

    @Test(arguments: [
        "", "123e4567e89b42d3a456426614174000", "123e4567-e89b-42d3-a456-42661417400",
        "123e4567-e89b-42d3-a456-4266141740000", "{123e4567-e89b-42d3-a456-426614174000}",
        "urn:uuid:123e4567-e89b-42d3-a456-426614174000", "123e4567-e89b-42d3-a456_426614174000",
        "g23e4567-e89b-42d3-a456-426614174000", "123e4567-e89b-42d3-a456-42661417400 ",
        "123e4567--89b-42d3-a456-426614174000", "１23e4567-e89b-42d3-a456-426614174000",
        "' OR 1=1 --",
    ])
    func rejectsNonCanonicalForms(_ text: String) {
        #expect(RequestUUID(parsing: text) == nil)
    }

    @Test func nilAndMaxUUIDsAreAccepted() {
        #expect(RequestUUID(parsing: "00000000-0000-0000-0000-000000000000") == RequestUUID(high: 0, low: 0))
        #expect(RequestUUID(parsing: "ffffffff-ffff-ffff-ffff-ffffffffffff") == RequestUUID(high: .max, low: .max))
    }
}

@Suite struct TimestampTests {
    @Test func formatsLikeTheOriginalService() {
        #expect(Timestamp(microseconds: 0).description == "1970-01-01 00:00:00.000000")
        #expect(Timestamp(microseconds: 1_498_742_101_173_535).description == "2017-06-29 13:15:01.173535")
        #expect(Timestamp(microseconds: -1).description == "1969-12-31 23:59:59.999999")
        #expect(Timestamp(microseconds: 951_782_400_000_000).description == "2000-02-29 00:00:00.000000")
    }

    /// Every value a `Timestamp` can hold formats to a true date: the wire
    /// format's years 0001-9999 in four digits, any other with a sign (issue
    /// 13: the end of a series bucket in 10000 came out as year 0000), and the
    /// extremes of `Int64` without overflowing.
    @Test(arguments: [
        (Timestamp.wireRange.lowerBound.microseconds, "0001-01-01 00:00:00.000000"),
        (Timestamp.wireRange.upperBound.microseconds, "9999-12-31 23:59:59.999999"),
        (253_402_300_800_000_000, "+10000-01-01 00:00:00.000000"),
        (-62_135_596_800_000_001, "+0000-12-31 23:59:59.999999"),
        (-62_167_219_200_000_001, "-0001-12-31 23:59:59.999999"),
        (Int64.max, "+294247-01-10 04:00:54.775807"),
        (Int64.min, "-290308-12-21 19:59:05.224192"),
    ])
    func formatsEveryValueItCanHold(_ microseconds: Int64, _ expected: String) {
        #expect(Timestamp(microseconds: microseconds).description == expected)
    }

    @Test func theWireRangeIsTheYearsABoundMayName() throws {
        #expect(try Timestamp.parseBound("0001-01-01").get() == Timestamp.wireRange.lowerBound)
        #expect(try Timestamp.parseBound("9999-12-31T23:59:59.999999").get() == Timestamp.wireRange.upperBound)
    }

    @Test func floorModuloDoesNotOverflowAtTheExtremes() {
        #expect(Int64.min.floorModulo(Timestamp.microsecondsPerDay) == 71_945_224_192)
        #expect(Int64.max.floorModulo(Timestamp.microsecondsPerDay) == 14_454_775_807)
        #expect((-1 as Int64).floorModulo(10) == 9)
        #expect((1 as Int64).floorModulo(-10) == -9)
        #expect((-20 as Int64).floorModulo(10) == 0)
    }

    @Test func splitsIntoSecondAndOffsetWithFloorSemantics() {
        let before1970 = Timestamp(microseconds: -1)
        #expect(before1970.second == -1)
        #expect(before1970.offset == 999_999)
        let time = Timestamp(microseconds: 1_498_742_101_173_535)
        #expect(time.second == 1_498_742_101)
        #expect(time.offset == 173_535)
        #expect(Timestamp(second: time.second, offset: time.offset) == time)
    }

    @Test func civilDatesRoundTripForEveryDayOfYears1To9999() {
        var mismatches: [Int64] = []
        var previous = CivilDate(daysSinceEpoch: -719_163)  // 0000-12-31
        for days in Int64(-719_162)...2_932_896 {  // 0001-01-01 ... 9999-12-31
            let date = CivilDate(daysSinceEpoch: days)
            let follows =
                date.day == 1
                ? previous.day == CivilDate.daysIn(month: previous.month, year: previous.year)
                : date.day == previous.day + 1 && date.month == previous.month
            if date.daysSinceEpoch != days || !follows { mismatches.append(days) }
            previous = date
        }
        #expect(mismatches.isEmpty)
        #expect(CivilDate(daysSinceEpoch: 2_932_896) == CivilDate(year: 9999, month: 12, day: 31))
        #expect(CivilDate(daysSinceEpoch: 0) == CivilDate(year: 1970, month: 1, day: 1))
    }

    @Test(arguments: [
        ("2017-06-28", "2017-06-28 00:00:00.000000"),
        ("2017-06-28T13:15:01", "2017-06-28 13:15:01.000000"),
        ("2017-06-28 13:15:01", "2017-06-28 13:15:01.000000"),
        ("2017-06-28T13:15:01Z", "2017-06-28 13:15:01.000000"),
        ("2017-06-28T13:15:01.1", "2017-06-28 13:15:01.100000"),
        ("2017-06-28T13:15:01.173535", "2017-06-28 13:15:01.173535"),
        ("2017-06-28 13:15:01.000001Z", "2017-06-28 13:15:01.000001"),
        ("2016-02-29", "2016-02-29 00:00:00.000000"),
        ("2000-02-29T23:59:59.999999", "2000-02-29 23:59:59.999999"),
        ("0001-01-01", "0001-01-01 00:00:00.000000"),
        ("9999-12-31T23:59:59.999999", "9999-12-31 23:59:59.999999"),
    ])
    func parsesBounds(_ text: String, _ expected: String) throws {
        let time = try Timestamp.parseBound(text).get()
        #expect(time.description == expected)
    }

    @Test(arguments: [
        "", "2017", "2017-6-28", "17-06-28", "2017-06-28T", "2017-06-28T13:15", "2017-06-28T13:15:01.",
        "2017-06-28T13:15:01.1234567", "2017-06-28T13:15:01+01:00", "2017-06-28t13:15:01",
        "2017-06-28T13:15:01ZZ", "2017/06/28", " 2017-06-28", "2017-06-28 ", "2017-06-28T13:15:1",
        "２017-06-28", "2017-06-28T13:15:01.12a",
    ])
    func rejectsMalformedBounds(_ text: String) {
        #expect(Timestamp.parseBound(text) == .failure(.malformed))
    }

    @Test(arguments: [
        "2017-02-29", "1900-02-29", "2017-13-01", "2017-00-10", "2017-04-31", "2017-06-00",
        "2017-06-28T24:00:00", "2017-06-28T23:60:00", "2017-06-28T23:59:60", "0000-01-01",
    ])
    func rejectsImpossibleBounds(_ text: String) {
        #expect(Timestamp.parseBound(text) == .failure(.impossible))
    }
}

@Suite struct FormParametersTests {
    @Test func decodesPercentEscapesAndPlus() throws {
        let parameters = try FormParameters(parsing: "uuid=abc%2Ddef&symbol=%65&note=a+b%20c&empty=&bare")
        #expect(try parameters.value("uuid") == "abc-def")
        #expect(try parameters.value("symbol") == "e")
        #expect(try parameters.value("note") == "a b c")
        #expect(try parameters.value("empty") == "")
        #expect(try parameters.value("bare") == "")
        #expect(try parameters.value("missing") == nil)
    }

    @Test func decodesKeysToo() throws {
        #expect(try FormParameters(parsing: "sym%62ol=e").value("symbol") == "e")
    }

    @Test func repeatedSameValueIsFineDifferentValuesAreRejected() throws {
        #expect(try FormParameters(parsing: "symbol=e&symbol=e").value("symbol") == "e")
        #expect(throws: InputError.self) { try FormParameters(parsing: "symbol=e&symbol=a").value("symbol") }
        do {
            _ = try FormParameters(parsing: "symbol=e&symbol=a").value("symbol")
        } catch {
            #expect(error.reason == .duplicateParameter)
            #expect(error.message.hasPrefix("symbol:"))
        }
    }

    @Test(arguments: ["uuid=%", "uuid=%4", "uuid=%zz", "uuid=%ff", "uuid=%c3%28", "%=x"])
    func rejectsBadEncoding(_ query: String) {
        #expect(throws: InputError.self) { try FormParameters(parsing: query) }
    }

    @Test func decodesUnicode() throws {
        #expect(try FormParameters(parsing: "symbol=%C3%A9").value("symbol") == "é")
    }
}

@Suite struct ValidationTests {
    @Test func errorsNameTheParameter() {
        let cases: [(() throws -> Void, String, RejectReason)] = [
            ({ _ = try Validate.requestID(nil) }, "uuid", .missingParameter),
            ({ _ = try Validate.requestID("nope") }, "uuid", .invalidUUID),
            ({ _ = try Validate.symbol(nil) }, "symbol", .missingParameter),
            ({ _ = try Validate.symbol("ab") }, "symbol", .invalidSymbol),
            ({ _ = try Validate.range(lower: "x", upper: "2017-01-01") }, "lower", .invalidBound),
            ({ _ = try Validate.range(lower: "2017-01-01", upper: "2017-02-30") }, "upper", .invalidBound),
            ({ _ = try Validate.range(lower: "2017-01-02", upper: "2017-01-01") }, "lower", .invertedRange),
        ]
        for (check, parameter, reason) in cases {
            let error = #expect(throws: InputError.self) { try check() }
            #expect(error?.parameter == parameter)
            #expect(error?.reason == reason)
            #expect(error?.message.hasPrefix(parameter) == true)
        }
    }

    @Test func equalBoundsAreAnEmptyRange() throws {
        let range = try Validate.range(lower: "2017-01-01", upper: "2017-01-01T00:00:00.000000")
        #expect(range.isEmpty)
    }

    @Test func longBadValuesAreTruncatedInMessages() {
        let huge = String(repeating: "x", count: 10_000)
        do {
            _ = try Validate.symbol(huge)
        } catch {
            #expect(error.message.count < 120)
        }
    }
}

import Testing
@testable import SymbolStreamCore

@Suite struct SeriesTests {
    func time(_ text: String) -> Timestamp { try! Timestamp.parseBound(text).get() }

    @Test func aSpanCoversTheWholeBucketsARangeTouches() {
        let range = TimeRange(lower: time("2017-06-28T10:00:30.5"), upper: time("2017-06-28T10:02:00"))
        let minutes = BucketSpan(covering: range, level: .minute)
        #expect(minutes.count == 2)
        #expect(minutes.lower == time("2017-06-28T10:00:00") && minutes.upper == time("2017-06-28T10:02:00"))
        #expect(minutes.buckets.map(\.firstSecond) == [time("2017-06-28T10:00:00").second, time("2017-06-28T10:01:00").second])
        let oneMicrosecondMore = TimeRange(lower: range.lower, upper: Timestamp(microseconds: range.upper.microseconds + 1))
        #expect(BucketSpan(covering: oneMicrosecondMore, level: .minute).count == 3)
        #expect(BucketSpan(covering: range, level: .day).count == 1)
        #expect(BucketSpan(covering: range, level: .second).count == 90)
        #expect(BucketSpan(covering: TimeRange(lower: range.lower, upper: range.lower), level: .hour).count == 0)
        // Before 1970 the buckets are still aligned to UTC (floor, not truncation).
        let early = BucketSpan(covering: TimeRange(lower: time("1969-12-31T23:59:59.5"), upper: time("1970-01-01T00:00:00.5")), level: .second)
        #expect(early.first == -1 && early.count == 2)
        #expect(BucketSpan.bucketCount(covering: range, level: .second) == 90)
        #expect(BucketSpan.bucketCount(covering: TimeRange(lower: time("0001-01-01"), upper: time("9999-12-31")), level: .second) > 300_000_000_000)
    }

    @Test func stepsAreNamedOrGivenInSeconds() {
        for (text, level) in [("second", RollupLevel.second), ("S", .second), ("1", .second), ("minute", .minute), ("60", .minute),
                              ("Hour", .hour), ("3600", .hour), ("day", .day), ("d", .day), ("86400", .day)] {
            #expect(RollupLevel(step: text) == level, "\(text)")
        }
        for text in ["", "week", "2", "0", "-1", "minutes", "1.0"] {
            #expect(RollupLevel(step: text) == nil, "\(text)")
        }
        #expect(RollupLevel.allCases.map(\.name) == ["second", "minute", "hour", "day"])
    }

    @Test func seriesRequestsAreValidatedNamingTheParameter() throws {
        func error(_ body: () throws -> Void) -> InputError? {
            do { try body() } catch { return error as? InputError }
            return nil
        }
        #expect(error { _ = try Validate.queryRange(from: nil, to: "2017-01-01") }?.parameter == "from")
        #expect(error { _ = try Validate.queryRange(from: "2017-01-01", to: nil) }?.reason == .missingParameter)
        #expect(error { _ = try Validate.queryRange(from: "2017-02-30", to: "2017-03-01") }?.parameter == "from")
        #expect(error { _ = try Validate.queryRange(from: "2017-03-01", to: "tomorrow") }?.parameter == "to")
        let inverted = error { _ = try Validate.queryRange(from: "2017-03-02", to: "2017-03-01") }
        #expect(inverted?.parameter == "from" && inverted?.reason == .invertedRange)

        let twentyMinutes = try Validate.queryRange(from: "2017-06-28T10:00:00", to: "2017-06-28T10:20:00")
        #expect(try Validate.seriesSpan(twentyMinutes, step: nil) == BucketSpan(covering: twentyMinutes, level: .second))
        let twoHours = try Validate.queryRange(from: "2017-06-28T10:00:00", to: "2017-06-28T12:00:00")
        #expect(try Validate.seriesSpan(twoHours, step: nil).level == .minute)
        #expect(try Validate.seriesSpan(twoHours, step: "hour") == BucketSpan(level: .hour, first: twoHours.lower.second / 3600, count: 2))
        let threeYears = try Validate.queryRange(from: "2015-01-01", to: "2018-01-01")
        #expect(try Validate.seriesSpan(threeYears, step: nil).level == .day)
        let tenYears = try Validate.queryRange(from: "2010-01-01", to: "2020-01-01")
        let tooLong = error { _ = try Validate.seriesSpan(tenYears, step: nil) }
        #expect(tooLong?.parameter == "to" && tooLong?.reason == .tooManyBuckets)
        let tooFine = error { _ = try Validate.seriesSpan(twoHours, step: "second") }
        #expect(tooFine?.parameter == "step" && tooFine?.reason == .tooManyBuckets && tooFine?.message.contains("7200") == true)
        let unknown = error { _ = try Validate.seriesSpan(twoHours, step: "week") }
        #expect(unknown?.parameter == "step" && unknown?.reason == .invalidStep)
        // Exactly at the limit is fine.
        let aDayOfMinutes = try Validate.queryRange(from: "2017-06-28", to: "2017-06-29")
        #expect(try Validate.seriesSpan(aDayOfMinutes, step: "minute").count == Validate.maximumSeriesBuckets)
    }

    /// Each bucket of a series holds what a range over that bucket holds, and
    /// the store protocol's fallback (a range read per bucket) agrees with the
    /// model's direct bucket reads.
    @Test func seriesAgreeWithRangesAndTheFallback() async throws {
        let start = time("2017-06-28T23:50:00")
        let store = InMemoryEventStore()
        _ = try await store.ingest(Array(SyntheticTraffic(requests: 3000, start: start, span: 40 * 60 * 1_000_000, followupShare: 0.3, seed: 5)))
        let model = store.snapshot
        let fallback = RangesOnly(store: store)
        var generator = SplitMix64(seed: 9)
        for level in RollupLevel.allCases {
            for _ in 0..<6 {
                let lower = start.microseconds + Int64.random(in: -600_000_000...2_400_000_000, using: &generator)
                let length = Int64.random(in: 0...(level == .second ? 300_000_000 : 7_200_000_000), using: &generator)
                let span = BucketSpan(covering: TimeRange(lower: Timestamp(microseconds: lower), upper: Timestamp(microseconds: lower + length)), level: level)
                let series = model.series(span)
                #expect(series.count == span.count)
                #expect(try await store.series(span) == series)
                #expect(try await fallback.series(span) == series, "\(span)")
                var merged = RangeAccumulator()
                for stats in series {
                    for (symbol, bucket) in stats.present { merged.merge(bucket, for: symbol) }
                }
                #expect(merged.summaries == model.summaries(in: TimeRange(lower: span.lower, upper: span.upper)))
            }
        }
        let all = BucketSpan(covering: TimeRange(lower: start, upper: Timestamp(microseconds: start.microseconds + 3_600_000_000)), level: .hour)
        #expect(model.series(all).reduce(0) { $0 + $1.reduce(0) { $0 + $1.count } } == Symbol.all.reduce(0) { $0 + model.summary(of: $1).count })
    }

    /// A store with only the required reads, so `series` is the protocol's fallback.
    struct RangesOnly: EventStore {
        let store: InMemoryEventStore
        func recordInitial(_ event: InitialEvent) async throws -> InitialOutcome { try await store.recordInitial(event) }
        func recordFollowup(_ event: FollowupEvent) async throws -> FollowupOutcome { try await store.recordFollowup(event) }
        func summary(of symbol: Symbol) async throws -> SymbolSummary { try await store.summary(of: symbol) }
        func summaries(in range: TimeRange) async throws -> [SymbolSummary] { try await store.summaries(in: range) }
        func request(_ id: RequestUUID) async throws -> RequestRecord? { try await store.request(id) }
        func rankings() async throws -> Rankings { try await store.rankings() }
    }
}

@Suite struct AnswerQualityTests {
    func summary(_ letter: String, count: Int64, answeredTrue: Int64, followups: Int64, followupsAnsweredTrue: Int64) -> SymbolSummary {
        SymbolSummary(
            symbol: Symbol(parsing: letter)!, count: count, followups: followups, answeredTrue: answeredTrue, followupsAnsweredTrue: followupsAnsweredTrue)
    }

    @Test func perSymbolDefinitions() {
        // e: 9 of 10 answered True (right), and only those were followed up.
        let e = SymbolAnswers(summary("e", count: 10, answeredTrue: 9, followups: 7, followupsAnsweredTrue: 7))
        #expect(e.modelVowel == true && e.correct == 9 && e.accuracy == 0.9)
        #expect(e.followupRateAfterTrue == 7.0 / 9 && e.followupRateAfterFalse == 0)
        #expect(e.impliedVowel == true && e.agreeing == 9 && e.impliedAccuracy == 0.9)
        // b: a consonant the client treats as one.
        let b = SymbolAnswers(summary("b", count: 4, answeredTrue: 1, followups: 3, followupsAnsweredTrue: 0))
        #expect(b.modelVowel == false && b.correct == 3 && b.accuracy == 0.75)
        #expect(b.impliedVowel == false && b.impliedAccuracy == 0.75)
        // y has no model label, but the client's followups give it one.
        let y = SymbolAnswers(summary("y", count: 2, answeredTrue: 1, followups: 1, followupsAnsweredTrue: 1))
        #expect(y.modelVowel == nil && y.correct == nil && y.accuracy == nil)
        #expect(y.impliedVowel == true && y.impliedAccuracy == 0.5)
        // Only one answer ever given, or equal rates: no implied label.
        let a = SymbolAnswers(summary("a", count: 3, answeredTrue: 3, followups: 2, followupsAnsweredTrue: 2))
        #expect(a.followupRateAfterFalse == nil && a.impliedVowel == nil && a.impliedAccuracy == nil && a.accuracy == 1)
        let tie = SymbolAnswers(summary("k", count: 4, answeredTrue: 2, followups: 2, followupsAnsweredTrue: 1))
        #expect(tie.impliedVowel == nil)
        // A consonant the client rewards for True: the implied label disagrees with the model.
        let odd = SymbolAnswers(summary("z", count: 10, answeredTrue: 1, followups: 2, followupsAnsweredTrue: 1))
        #expect(odd.impliedVowel == true && odd.impliedAccuracy == 0.1 && odd.accuracy == 0.9)
        #expect(SymbolAnswers(SymbolSummary(symbol: Symbol(parsing: "q")!)).accuracy == nil)
    }

    @Test func totalsWeighEverySymbolByItsInitials() {
        var summaries = Symbol.all.map { SymbolSummary(symbol: $0) }
        summaries[Symbol(parsing: "e")!.index] = summary("e", count: 10, answeredTrue: 9, followups: 7, followupsAnsweredTrue: 7)
        summaries[Symbol(parsing: "b")!.index] = summary("b", count: 4, answeredTrue: 1, followups: 3, followupsAnsweredTrue: 0)
        summaries[Symbol(parsing: "y")!.index] = summary("y", count: 2, answeredTrue: 1, followups: 1, followupsAnsweredTrue: 1)
        summaries[Symbol(parsing: "a")!.index] = summary("a", count: 3, answeredTrue: 3, followups: 2, followupsAnsweredTrue: 2)
        let quality = AnswerQuality(summaries)
        #expect(quality.initials == 19 && quality.followups == 13)
        #expect(quality.accuracy == 15.0 / 17)  // e 9, b 3, a 3 right of 17 (y left out)
        #expect(quality.impliedAccuracy == 13.0 / 16)  // e 9, b 3, y 1 agree of 16 (a has no implied label)
        #expect(quality.followupRateAfterCorrect == 12.0 / 15)
        #expect(quality.followupRateAfterWrong == 0)
        let empty = AnswerQuality(Symbol.all.map { SymbolSummary(symbol: $0) })
        #expect(empty.accuracy == nil && empty.impliedAccuracy == nil && empty.followupRateAfterCorrect == nil && empty.followupRateAfterWrong == nil)
    }
}

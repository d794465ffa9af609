import RedisClient
import StoreTestSupport
import SymbolStreamCore
import Testing

@testable import RedisStore

/// Time series read from the Redis rollups, against the reference model.
@Suite struct RedisSeriesTests {
    @Test func everyLevelAnswersLikeTheReferenceModel() async throws {
        try await TestStores.withRedisStore { store in
            var traffic = Traffic(seed: 21)
            var model = AggregateModel()
            let events = traffic.events(4000)
            try await store.ingest(events, inBatchesOf: 500)
            for event in events { _ = model.apply(event) }
            let times = events.map(\.receivedAt.microseconds)
            var generator = SplitMix64(seed: 22)
            var spans = [BucketSpan]()
            for level in RollupLevel.allCases {
                // Around event times (busy buckets), anywhere, and empty.
                for _ in 0..<8 {
                    let anchor = times.randomElement(using: &generator)! - Int64.random(in: 0...(level.seconds * 20_000_000), using: &generator)
                    spans.append(BucketSpan(level: level, first: anchor.floorDivided(by: level.seconds * 1_000_000), count: Int.random(in: 1...400, using: &generator)))
                }
                spans.append(BucketSpan(level: level, first: 0, count: 3))
                spans.append(BucketSpan(level: level, first: times[0] / (level.seconds * 1_000_000), count: 0))
            }
            spans.append(BucketSpan(level: .minute, first: times.min()! / 60_000_000, count: Validate.maximumSeriesBuckets))
            var nonEmpty = 0
            for span in spans {
                let got = try await store.series(span)
                let want = model.series(span)
                let firstDifference = zip(got, want).enumerated().first { $0.element.0 != $0.element.1 }
                #expect(got.count == want.count && firstDifference == nil, "\(span): first differing bucket \(String(describing: firstDifference))")
                nonEmpty += want.filter { !$0.present.isEmpty }.count
            }
            #expect(nonEmpty > 100, "the spans should cover many busy buckets")
        }
    }
}

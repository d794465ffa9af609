import RedisStore
import SymbolStreamCore

/// Compares every answer a store gives with the reference model's.
package enum StoreChecks {
    /// Differences between `store` and `model` over all symbols, 300+ ranges
    /// (bounds on event times, a microsecond off, or anywhere) and every
    /// request id; empty when they agree.
    package static func differences(_ store: RedisEventStore, _ model: AggregateModel, events: [IngestEvent], seed: UInt64)
        async throws -> [String]
    {
        var differences = [String]()
        for symbol in Symbol.all {
            let got = try await store.summary(of: symbol)
            if got != model.summary(of: symbol) { differences.append("summary \(symbol): \(got) != \(model.summary(of: symbol))") }
        }
        if try await store.totals() != Symbol.all.map(model.summary) { differences.append("totals differ") }
        let rankings = try await store.rankings()
        if rankings != model.rankings { differences.append("rankings: \(rankings.symbols) != \(model.rankings.symbols)") }
        for order in RankingOrder.allCases where rankings.top(by: order, limit: 26) != model.rankings.top(by: order, limit: 26) {
            differences.append("top by \(order) differs")
        }
        var generator = SplitMix64(seed: seed)
        let times = events.map(\.receivedAt.microseconds)
        guard let first = times.min(), let last = times.max() else { return differences }
        var ranges = [
            TimeRange(lower: Timestamp(microseconds: first), upper: Timestamp(microseconds: last + 1)),
            TimeRange(lower: Timestamp(microseconds: 0), upper: Timestamp(microseconds: 4_102_444_800_000_000)),
            TimeRange(lower: Timestamp(microseconds: first), upper: Timestamp(microseconds: first)),
        ]
        for _ in 0..<300 {
            func bound() -> Int64 {
                let time = times.randomElement(using: &generator)!
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: return time
                case 1: return time + Int64.random(in: -1...1, using: &generator)
                default: return Int64.random(in: (first - 1_000_000)...(last + 1_000_000), using: &generator)
                }
            }
            let a = bound(), b = bound()
            ranges.append(TimeRange(lower: Timestamp(microseconds: min(a, b)), upper: Timestamp(microseconds: max(a, b))))
        }
        for range in ranges {
            let got = try await store.summaries(in: range)
            let want = model.summaries(in: range)
            if got != want {
                let first = zip(got, want).first { $0 != $1 }
                differences.append("range \(range.lower)..<\(range.upper): \(String(describing: first))")
            }
        }
        var ids = Set(events.map(\.id))
        ids.insert(RequestUUID(high: 1, low: 1))
        for id in ids {
            let got = try await store.request(id)
            if got != model.request(id) { differences.append("request \(id): \(String(describing: got)) != \(String(describing: model.request(id)))") }
        }
        return differences
    }
}

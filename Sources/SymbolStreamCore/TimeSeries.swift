/// Consecutive rollup buckets of one level, `[first, first + count)`: what a
/// time series is read from. Its cost is `count` bucket reads, whatever the
/// number of stored events.
package struct BucketSpan: Sendable, Hashable {
    package var level: RollupLevel
    package var first: Int64
    package var count: Int

    package init(level: RollupLevel, first: Int64, count: Int) {
        precondition(count >= 0, "a span cannot have a negative number of buckets")
        self.level = level
        self.first = first
        self.count = count
    }

    /// The whole buckets that `range` touches: its lower bound rounded down to
    /// a bucket start, its upper bound rounded up to one (an empty range has
    /// no buckets).
    package init(covering range: TimeRange, level: RollupLevel) {
        let size = level.seconds * Timestamp.microsecondsPerSecond
        let first = range.lower.microseconds.floorDivided(by: size)
        let end = range.isEmpty ? first : -((-range.upper.microseconds).floorDivided(by: size))
        self.init(level: level, first: first, count: Int(end - first))
    }

    /// How many buckets `range` touches at `level`, without building the span
    /// (saturating, for ranges of thousands of years at the second level).
    package static func bucketCount(covering range: TimeRange, level: RollupLevel) -> Int64 {
        guard !range.isEmpty else { return 0 }
        let size = level.seconds * Timestamp.microsecondsPerSecond
        let first = range.lower.microseconds.floorDivided(by: size)
        let end = -((-range.upper.microseconds).floorDivided(by: size))
        return end - first
    }

    package var buckets: [RollupBucket] { (0..<Int64(count)).map { RollupBucket(level: level, index: first + $0) } }

    /// Start of the first bucket.
    package var lower: Timestamp { Timestamp(second: first * level.seconds, offset: 0) }
    /// End of the last bucket (exclusive).
    package var upper: Timestamp { Timestamp(second: (first + Int64(count)) * level.seconds, offset: 0) }

    /// Start of the bucket at `position`.
    package func start(of position: Int) -> Timestamp {
        Timestamp(second: (first + Int64(position)) * level.seconds, offset: 0)
    }
}

extension RollupLevel {
    /// The name a series request uses for the level: `second`, `minute`, `hour`, `day`.
    package var name: String {
        switch self {
        case .second: "second"
        case .minute: "minute"
        case .hour: "hour"
        case .day: "day"
        }
    }

    /// Reads `second`/`minute`/`hour`/`day`, their first letters, or the bucket
    /// size in seconds (`1`, `60`, `3600`, `86400`).
    package init?(step text: some StringProtocol) {
        switch text.lowercased() {
        case "second", "s", "1": self = .second
        case "minute", "m", "60": self = .minute
        case "hour", "h", "3600": self = .hour
        case "day", "d", "86400": self = .day
        default: return nil
        }
    }
}

extension EventStore {
    /// Stores that keep rollups read them directly (the Redis store does);
    /// this fallback asks `summaries(in:)` once per bucket, which is exact
    /// but costs as many reads as there are buckets times a range's.
    package func series(_ span: BucketSpan) async throws -> [SymbolStats] {
        var result = [SymbolStats]()
        result.reserveCapacity(span.count)
        for position in 0..<span.count {
            let bucketRange = TimeRange(lower: span.start(of: position), upper: span.start(of: position + 1))
            var stats = SymbolStats()
            for summary in try await summaries(in: bucketRange) where summary.count > 0 || summary.followups > 0 {
                stats[summary.symbol.index] = BucketStats(
                    count: summary.count, followups: summary.followups, earliest: summary.earliest, latest: summary.latest,
                    answeredTrue: summary.answeredTrue, followupsAnsweredTrue: summary.followupsAnsweredTrue)
            }
            result.append(stats)
        }
        return result
    }
}

extension AggregateModel {
    /// The rollup buckets of `span`, in order (empty statistics where a bucket has none).
    package func series(_ span: BucketSpan) -> [SymbolStats] {
        (0..<Int64(span.count)).map { stats(in: RollupBucket(level: span.level, index: span.first + $0)) ?? SymbolStats() }
    }
}

extension InMemoryEventStore {
    package func series(_ span: BucketSpan) async throws -> [SymbolStats] {
        snapshot.series(span)
    }
}

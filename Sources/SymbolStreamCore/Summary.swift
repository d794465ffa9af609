/// What the dashboards show for one symbol: initial events, their first and
/// last receive time, and the followups attributed to them.
package struct SymbolSummary: Sendable, Hashable {
    package var symbol: Symbol
    package var count: Int64
    package var earliest: Timestamp?
    package var latest: Timestamp?
    package var followups: Int64
    /// Initials answered `True`, and the followups those received: with
    /// `count` and `followups` they show how the answers went down (the
    /// dashboard page's guess accuracy and followup rates by answer).
    package var answeredTrue: Int64
    package var followupsAnsweredTrue: Int64

    package init(
        symbol: Symbol, count: Int64 = 0, earliest: Timestamp? = nil, latest: Timestamp? = nil, followups: Int64 = 0,
        answeredTrue: Int64 = 0, followupsAnsweredTrue: Int64 = 0
    ) {
        self.symbol = symbol
        self.count = count
        self.earliest = earliest
        self.latest = latest
        self.followups = followups
        self.answeredTrue = answeredTrue
        self.followupsAnsweredTrue = followupsAnsweredTrue
    }

    /// Adds the statistics of a disjoint set of events.
    package mutating func merge(_ other: BucketStats) {
        var stats = BucketStats(
            count: count, followups: followups, earliest: earliest, latest: latest, answeredTrue: answeredTrue,
            followupsAnsweredTrue: followupsAnsweredTrue)
        stats.merge(other)
        (count, followups, earliest, latest) = (stats.count, stats.followups, stats.earliest, stats.latest)
        (answeredTrue, followupsAnsweredTrue) = (stats.answeredTrue, stats.followupsAnsweredTrue)
    }
}

/// The statistics kept per symbol per time bucket; they merge across
/// disjoint buckets, which is what makes rollups answer ranges exactly.
package struct BucketStats: Sendable, Hashable {
    package var count: Int64 = 0
    package var followups: Int64 = 0
    package var earliest: Timestamp?
    package var latest: Timestamp?
    package var answeredTrue: Int64 = 0
    package var followupsAnsweredTrue: Int64 = 0

    package init(
        count: Int64 = 0, followups: Int64 = 0, earliest: Timestamp? = nil, latest: Timestamp? = nil, answeredTrue: Int64 = 0,
        followupsAnsweredTrue: Int64 = 0
    ) {
        self.count = count
        self.followups = followups
        self.earliest = earliest
        self.latest = latest
        self.answeredTrue = answeredTrue
        self.followupsAnsweredTrue = followupsAnsweredTrue
    }

    package var isEmpty: Bool { count == 0 && followups == 0 }

    package mutating func addInitial(at time: Timestamp, answeredTrue answer: Bool) {
        count += 1
        if answer { answeredTrue += 1 }
        earliest = earliest.map { Swift.min($0, time) } ?? time
        latest = latest.map { Swift.max($0, time) } ?? time
    }

    /// Followups of an initial that was answered `answer`.
    package mutating func addFollowups(_ number: Int64, answeredTrue answer: Bool) {
        followups += number
        if answer { followupsAnsweredTrue += number }
    }

    /// Adds the statistics of a disjoint set of events (another shard's, say).
    package mutating func merge(_ other: BucketStats) {
        count += other.count
        followups += other.followups
        answeredTrue += other.answeredTrue
        followupsAnsweredTrue += other.followupsAnsweredTrue
        if let minimum = other.earliest { earliest = earliest.map { Swift.min($0, minimum) } ?? minimum }
        if let maximum = other.latest { latest = latest.map { Swift.max($0, maximum) } ?? maximum }
    }
}

/// 26 summaries, `a` to `z`, accumulated from disjoint pieces of a range.
package struct RangeAccumulator: Sendable, Hashable {
    package private(set) var summaries: [SymbolSummary] = Symbol.all.map { SymbolSummary(symbol: $0) }

    package init() {}

    package mutating func merge(_ stats: BucketStats, for symbol: Symbol) {
        summaries[symbol.index].merge(stats)
    }

    /// Adds the entries of one second's fine log that fall in `offsets`.
    package mutating func merge(fineLog entries: some Sequence<FineLogEntry>, offsets: Range<Int64>) {
        for entry in entries where offsets.contains(entry.offset) {
            var stats = BucketStats()
            if entry.isFollowup {
                stats.addFollowups(1, answeredTrue: entry.answeredTrue)
            } else {
                stats.addInitial(at: Timestamp(second: entry.second, offset: entry.offset), answeredTrue: entry.answeredTrue)
            }
            summaries[entry.symbol.index].merge(stats)
        }
    }
}

/// What the dashboards show for one symbol: initial events, their first and
/// last receive time, and the followups attributed to them.
public struct SymbolSummary: Sendable, Hashable {
    public var symbol: Symbol
    public var count: Int64
    public var earliest: Timestamp?
    public var latest: Timestamp?
    public var followups: Int64

    public init(symbol: Symbol, count: Int64 = 0, earliest: Timestamp? = nil, latest: Timestamp? = nil, followups: Int64 = 0) {
        self.symbol = symbol
        self.count = count
        self.earliest = earliest
        self.latest = latest
        self.followups = followups
    }

    /// Adds the statistics of a disjoint set of events.
    public mutating func merge(_ other: BucketStats) {
        count += other.count
        followups += other.followups
        if let minimum = other.earliest { earliest = earliest.map { Swift.min($0, minimum) } ?? minimum }
        if let maximum = other.latest { latest = latest.map { Swift.max($0, maximum) } ?? maximum }
    }
}

/// The four statistics kept per symbol per time bucket; they merge across
/// disjoint buckets, which is what makes rollups answer ranges exactly.
public struct BucketStats: Sendable, Hashable {
    public var count: Int64 = 0
    public var followups: Int64 = 0
    public var earliest: Timestamp?
    public var latest: Timestamp?

    public init(count: Int64 = 0, followups: Int64 = 0, earliest: Timestamp? = nil, latest: Timestamp? = nil) {
        self.count = count
        self.followups = followups
        self.earliest = earliest
        self.latest = latest
    }

    public var isEmpty: Bool { count == 0 && followups == 0 }

    public mutating func addInitial(at time: Timestamp) {
        count += 1
        earliest = earliest.map { Swift.min($0, time) } ?? time
        latest = latest.map { Swift.max($0, time) } ?? time
    }
}

/// 26 summaries, `a` to `z`, accumulated from disjoint pieces of a range.
public struct RangeAccumulator: Sendable, Hashable {
    public private(set) var summaries: [SymbolSummary] = Symbol.all.map { SymbolSummary(symbol: $0) }

    public init() {}

    public mutating func merge(_ stats: BucketStats, for symbol: Symbol) {
        summaries[symbol.index].merge(stats)
    }

    /// Adds the entries of one second's fine log that fall in `offsets`.
    public mutating func merge(fineLog entries: some Sequence<FineLogEntry>, offsets: Range<Int64>) {
        for entry in entries where offsets.contains(entry.offset) {
            var stats = BucketStats()
            if entry.isFollowup {
                stats.followups = 1
            } else {
                stats.addInitial(at: Timestamp(second: entry.second, offset: entry.offset))
            }
            summaries[entry.symbol.index].merge(stats)
        }
    }
}

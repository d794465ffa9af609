/// The reference semantics of SymbolStream in plain Swift: what every store
/// must answer after a given sequence of events.
///
/// It mirrors the Redis layout piece by piece (uuid records, pending orphan
/// followups, per-symbol totals, rollup buckets, per-second fine logs), so it
/// serves three roles: the in-memory store behind route tests, the oracle for
/// store tests, and the recomputation that `verify` compares Redis against.
public struct AggregateModel: Sendable {
    public struct Record: Sendable, Hashable {
        public var symbol: Symbol
        public var guess: Bool
        public var receivedAt: Timestamp
        public var followups: [Timestamp]
    }

    public private(set) var records: [RequestID: Record] = [:]
    /// Followups whose initial has not arrived yet.
    public private(set) var orphans: [RequestID: [Timestamp]] = [:]
    public private(set) var totals: [BucketStats] = Array(repeating: BucketStats(), count: 26)
    /// Rollup buckets per level (in `RollupLevel.allCases` order), by bucket index.
    private var levels: [Timeline<SymbolStats>] = Array(repeating: Timeline(), count: RollupLevel.allCases.count)
    /// Fine logs by second.
    private var fine = Timeline<[FineLogEntry]>()

    public init() {}

    /// Reserves room for about this many requests (bulk loads).
    public init(expectedRequests: Int) {
        records.reserveCapacity(expectedRequests)
    }

    public mutating func apply(_ event: IngestEvent) -> IngestOutcome {
        switch event {
        case .initial(let initial): .initial(apply(initial))
        case .followup(let followup): .followup(apply(followup))
        }
    }

    public mutating func apply(_ event: InitialEvent) -> InitialOutcome {
        if let existing = records[event.id] {
            return existing.symbol == event.symbol ? .retry(guess: existing.guess) : .conflict(existing: existing.symbol)
        }
        let adopted = orphans.isEmpty ? [] : orphans.removeValue(forKey: event.id) ?? []
        let record = Record(symbol: event.symbol, guess: event.guess, receivedAt: event.receivedAt, followups: adopted)
        records[event.id] = record
        let time = event.receivedAt
        let index = event.symbol.index
        totals[index].addInitial(at: time, answeredTrue: event.guess)
        for (ordinal, level) in RollupLevel.allCases.enumerated() {
            levels[ordinal].modify(level.bucket(containing: time.second), default: SymbolStats()) {
                $0[index].addInitial(at: time, answeredTrue: event.guess)
            }
        }
        let entry = FineLogEntry(second: time.second, offset: time.offset, symbol: event.symbol, answeredTrue: event.guess, isFollowup: false)
        fine.modify(time.second, default: []) { $0.append(entry) }
        if !adopted.isEmpty { attribute(adopted.count, to: record) }
        return .accepted(guess: event.guess)
    }

    public mutating func apply(_ event: FollowupEvent) -> FollowupOutcome {
        guard var record = records[event.id] else {
            orphans[event.id, default: []].append(event.receivedAt)
            return .pending
        }
        record.followups.append(event.receivedAt)
        records[event.id] = record
        attribute(1, to: record)
        return .attributed(record.symbol)
    }

    /// Followups count where their initial was received, whenever they arrive.
    private mutating func attribute(_ count: Int, to record: Record) {
        let time = record.receivedAt
        let index = record.symbol.index
        totals[index].addFollowups(Int64(count), answeredTrue: record.guess)
        for (ordinal, level) in RollupLevel.allCases.enumerated() {
            levels[ordinal].modify(level.bucket(containing: time.second), default: SymbolStats()) {
                $0[index].addFollowups(Int64(count), answeredTrue: record.guess)
            }
        }
        let entry = FineLogEntry(
            second: time.second, offset: time.offset, symbol: record.symbol, answeredTrue: record.guess, isFollowup: true)
        fine.modify(time.second, default: []) { $0.append(contentsOf: repeatElement(entry, count: count)) }
    }

    // MARK: Queries

    /// One rollup bucket's statistics, if it has events.
    public func stats(in bucket: RollupBucket) -> SymbolStats? {
        levels[RollupLevel.allCases.firstIndex(of: bucket.level)!][bucket.index]
    }

    /// A second's fine log (empty if none).
    public func fineLog(of second: Int64) -> [FineLogEntry] {
        fine[second] ?? []
    }

    /// Every rollup bucket with events (built on each call: for writers and tests).
    public var rollups: [RollupBucket: SymbolStats] {
        var result = [RollupBucket: SymbolStats]()
        for (ordinal, level) in RollupLevel.allCases.enumerated() {
            for (index, stats) in zip(levels[ordinal].keys, levels[ordinal].values) {
                result[RollupBucket(level: level, index: index)] = stats
            }
        }
        return result
    }

    /// Every fine log, by second (built on each call).
    public var fineLogs: [Int64: [FineLogEntry]] {
        Dictionary(uniqueKeysWithValues: zip(fine.keys, fine.values))
    }

    /// Every rollup bucket with events, without building a dictionary.
    public func forEachRollup(_ body: (RollupBucket, SymbolStats) throws -> Void) rethrows {
        for (ordinal, level) in RollupLevel.allCases.enumerated() {
            for (index, stats) in zip(levels[ordinal].keys, levels[ordinal].values) {
                try body(RollupBucket(level: level, index: index), stats)
            }
        }
    }

    /// Every fine log, without building a dictionary.
    public func forEachFineLog(_ body: (Int64, [FineLogEntry]) throws -> Void) rethrows {
        for (second, entries) in zip(fine.keys, fine.values) { try body(second, entries) }
    }

    public func summary(of symbol: Symbol) -> SymbolSummary {
        var summary = SymbolSummary(symbol: symbol)
        summary.merge(totals[symbol.index])
        return summary
    }

    /// The first and last initial's receive time, if any.
    public var dataSpan: ClosedRange<Timestamp>? {
        let earliest = totals.compactMap(\.earliest).min()
        let latest = totals.compactMap(\.latest).max()
        guard let earliest, let latest else { return nil }
        return earliest...latest
    }

    /// Answers a range the way the Redis store does: rollup buckets for whole
    /// seconds, fine logs for the partial seconds at the edges.
    public func summaries(in range: TimeRange) -> [SymbolSummary] {
        let decomposition = RangeDecomposition(range, dataSpan: dataSpan)
        var accumulator = RangeAccumulator()
        for bucket in decomposition.buckets {
            guard let stats = stats(in: bucket) else { continue }
            for (symbol, stats) in stats.present { accumulator.merge(stats, for: symbol) }
        }
        for edge in decomposition.edges {
            accumulator.merge(fineLog: fineLog(of: edge.second), offsets: edge.offsets)
        }
        return accumulator.summaries
    }

    public func request(_ id: RequestID) -> RequestRecord? {
        if let record = records[id] {
            return RequestRecord(
                id: id, symbol: record.symbol, guess: record.guess, receivedAt: record.receivedAt,
                followups: record.followups)
        }
        if let pending = orphans[id] {
            return RequestRecord(id: id, symbol: nil, guess: nil, receivedAt: nil, followups: pending)
        }
        return nil
    }

}

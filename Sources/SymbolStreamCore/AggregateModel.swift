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
    public private(set) var rollups: [RollupBucket: [BucketStats]] = [:]
    public private(set) var fineLogs: [Int64: [FineLogEntry]] = [:]

    public init() {}

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
        let adopted = orphans.removeValue(forKey: event.id) ?? []
        let record = Record(symbol: event.symbol, guess: event.guess, receivedAt: event.receivedAt, followups: adopted)
        records[event.id] = record
        let time = event.receivedAt
        totals[event.symbol.index].addInitial(at: time, answeredTrue: event.guess)
        for level in RollupLevel.allCases {
            rollups[bucket(level, time), default: Self.emptyBuckets][event.symbol.index].addInitial(at: time, answeredTrue: event.guess)
        }
        fineLogs[time.second, default: []].append(
            FineLogEntry(second: time.second, offset: time.offset, symbol: event.symbol, answeredTrue: event.guess, isFollowup: false))
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
        for level in RollupLevel.allCases {
            rollups[bucket(level, time), default: Self.emptyBuckets][index].addFollowups(Int64(count), answeredTrue: record.guess)
        }
        let entry = FineLogEntry(
            second: time.second, offset: time.offset, symbol: record.symbol, answeredTrue: record.guess, isFollowup: true)
        fineLogs[time.second, default: []].append(contentsOf: repeatElement(entry, count: count))
    }

    // MARK: Queries

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
            guard let stats = rollups[bucket] else { continue }
            for symbol in Symbol.all { accumulator.merge(stats[symbol.index], for: symbol) }
        }
        for edge in decomposition.edges {
            accumulator.merge(fineLog: fineLogs[edge.second] ?? [], offsets: edge.offsets)
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

    private static let emptyBuckets = Array(repeating: BucketStats(), count: 26)

    private func bucket(_ level: RollupLevel, _ time: Timestamp) -> RollupBucket {
        RollupBucket(level: level, index: level.bucket(containing: time.second))
    }
}

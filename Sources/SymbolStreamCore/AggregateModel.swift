/// The reference semantics of SymbolStream in plain Swift: what every store
/// must answer after a given sequence of events.
///
/// It mirrors the Redis layout piece by piece (uuid records, pending orphan
/// followups, per-symbol totals, rollup buckets, per-second fine logs), so it
/// serves three roles: the in-memory store behind route tests, the oracle for
/// store tests, and the recomputation that `rebuild` writes to Redis and
/// `verify` compares Redis against.
///
/// Sized for tens of millions of events (`rebuild`): a request costs one hash
/// table slot without a reference in it, one hash lookup per event, and a fine
/// log entry of 4 bytes; second buckets are not kept at all, because a
/// second's fine log holds exactly what its bucket would.
package struct AggregateModel: Sendable {
    package struct Record: Sendable, Hashable {
        package var symbol: Symbol
        package var guess: Bool
        package var receivedAt: Timestamp
        package var followups: [Timestamp]

        package init(symbol: Symbol, guess: Bool, receivedAt: Timestamp, followups: [Timestamp]) {
            self.symbol = symbol
            self.guess = guess
            self.receivedAt = receivedAt
            self.followups = followups
        }
    }

    /// An accepted initial, packed: nothing to retain or release when the
    /// table of millions grows, is copied or is freed.
    struct Initial: Sendable, Hashable {
        var microseconds: Int64
        /// `symbol << 1 | guess`, plus `hasFollowups`; `absent` only as the
        /// placeholder of a slot being filled.
        var flags: UInt8

        static let hasFollowups: UInt8 = 0x40
        static let absent = Initial(microseconds: 0, flags: 0x80)

        init(microseconds: Int64, flags: UInt8) {
            self.microseconds = microseconds
            self.flags = flags
        }

        init(_ event: InitialEvent) {
            self.init(microseconds: event.receivedAt.microseconds, flags: UInt8(event.symbol.index << 1) | (event.guess ? 1 : 0))
        }

        var isAbsent: Bool { flags & 0x80 != 0 }
        var symbol: Symbol { Symbol(index: Int(flags & 0x3f) >> 1)! }
        var symbolIndex: Int { Int(flags & 0x3f) >> 1 }
        var guess: Bool { flags & 1 == 1 }
        var receivedAt: Timestamp { Timestamp(microseconds: microseconds) }
    }

    /// Accepted initials by request.
    private var initials: [RequestUUID: Initial] = [:]
    /// The followups of accepted initials, for the requests that have some.
    private var followupTimes: [RequestUUID: [Timestamp]] = [:]
    /// Followups whose initial has not arrived yet.
    package private(set) var orphans: [RequestUUID: [Timestamp]] = [:]
    package private(set) var totals: [BucketStats] = Array(repeating: BucketStats(), count: 26)
    /// Minute, hour and day buckets (`RollupLevel.allCases` after `.second`), by bucket index.
    private var levels: [Timeline<SymbolStats>] = Array(repeating: Timeline(), count: RollupLevel.allCases.count - 1)
    /// Fine logs by second, entries as `FineLogEntry.compact`.
    private var fine = Timeline<[UInt32]>()
    /// The idempotency keys of counted followups (see `IdempotencyMemory`).
    package private(set) var idempotency: IdempotencyMemory

    package init(idempotencyWindow: Int64 = IdempotencyKey.defaultWindowSeconds) {
        idempotency = IdempotencyMemory(window: idempotencyWindow)
    }

    /// Reserves room for about this many requests (bulk loads).
    package init(expectedRequests: Int, idempotencyWindow: Int64 = IdempotencyKey.defaultWindowSeconds) {
        self.init(idempotencyWindow: idempotencyWindow)
        initials.reserveCapacity(expectedRequests)
    }

    package mutating func apply(_ event: IngestEvent) -> IngestOutcome {
        switch event {
        case .initial(let initial): .initial(apply(initial))
        case .followup(let followup): .followup(apply(followup))
        }
    }

    package mutating func apply(_ event: InitialEvent) -> InitialOutcome {
        var initial = Initial(event)
        let adopted = orphans.isEmpty ? nil : orphans[event.id]
        if adopted != nil { initial.flags |= Initial.hasFollowups }
        // One lookup: the slot is filled if free, else it tells the earlier initial.
        var existing: Initial?
        Self.modify(&initials[event.id, default: .absent]) { slot in
            if slot.isAbsent { slot = initial } else { existing = slot }
        }
        if let existing {
            return existing.symbolIndex == event.symbol.index ? .retry(guess: existing.guess) : .conflict(existing: existing.symbol)
        }
        let time = event.receivedAt
        let index = event.symbol.index
        totals[index].addInitial(at: time, answeredTrue: event.guess)
        for ordinal in levels.indices {
            levels[ordinal].modify(Self.rollupLevels[ordinal].bucket(containing: time.second), default: SymbolStats()) {
                $0.modify(index) { $0.addInitial(at: time, answeredTrue: event.guess) }
            }
        }
        let entry = FineLogEntry.compact(offset: time.offset, symbolIndex: index, answeredTrue: event.guess, isFollowup: false)
        fine.modify(time.second, default: []) { $0.append(entry) }
        if let adopted {
            orphans.removeValue(forKey: event.id)
            followupTimes[event.id] = adopted
            attribute(adopted.count, to: initial)
        }
        return .accepted(guess: event.guess)
    }

    package mutating func apply(_ event: FollowupEvent) -> FollowupOutcome {
        if let key = event.idempotencyKey, !idempotency.remember(key, of: event.id, at: event.receivedAt) {
            return .replayed
        }
        guard let position = initials.index(forKey: event.id) else {
            orphans[event.id, default: []].append(event.receivedAt)
            return .pending
        }
        initials.values[position].flags |= Initial.hasFollowups
        let initial = initials.values[position]
        followupTimes[event.id, default: []].append(event.receivedAt)
        attribute(1, to: initial)
        return .attributed(initial.symbol)
    }

    /// Followups count where their initial was received, whenever they arrive.
    private mutating func attribute(_ count: Int, to initial: Initial) {
        let time = initial.receivedAt
        let index = initial.symbolIndex
        totals[index].addFollowups(Int64(count), answeredTrue: initial.guess)
        for ordinal in levels.indices {
            levels[ordinal].modify(Self.rollupLevels[ordinal].bucket(containing: time.second), default: SymbolStats()) {
                $0.modify(index) { $0.addFollowups(Int64(count), answeredTrue: initial.guess) }
            }
        }
        let entry = FineLogEntry.compact(offset: time.offset, symbolIndex: index, answeredTrue: initial.guess, isFollowup: true)
        fine.modify(time.second, default: []) { $0.append(contentsOf: repeatElement(entry, count: count)) }
    }

    private static let rollupLevels = Array(RollupLevel.allCases.dropFirst())

    @inline(__always)
    private static func modify<Value>(_ value: inout Value, _ body: (inout Value) -> Void) { body(&value) }

    /// A second's bucket, from its fine log (entries compact): an entry per
    /// initial (with its time) and per attributed followup is everything the
    /// bucket counts.
    package static func secondStats(_ second: Int64, _ entries: [UInt32]) -> SymbolStats {
        var stats = SymbolStats()
        for packed in entries {
            let index = Int(packed >> 2 & 0x1f)
            let answeredTrue = packed & 2 != 0
            if packed & 1 != 0 {
                stats.modify(index) { $0.addFollowups(1, answeredTrue: answeredTrue) }
            } else {
                stats.modify(index) { $0.addInitial(at: Timestamp(second: second, offset: Int64(packed >> 7)), answeredTrue: answeredTrue) }
            }
        }
        return stats
    }

    // MARK: Queries

    /// One rollup bucket's statistics, if it has events.
    package func stats(in bucket: RollupBucket) -> SymbolStats? {
        guard let ordinal = Self.rollupLevels.firstIndex(of: bucket.level) else {
            return fine[bucket.index].map { Self.secondStats(bucket.index, $0) }
        }
        return levels[ordinal][bucket.index]
    }

    /// A second's fine log (empty if none).
    package func fineLog(of second: Int64) -> [FineLogEntry] {
        (fine[second] ?? []).map { FineLogEntry(second: second, compact: $0)! }
    }

    /// Every rollup bucket with events (built on each call: for writers and tests).
    package var rollups: [RollupBucket: SymbolStats] {
        var result = [RollupBucket: SymbolStats]()
        forEachRollup { result[$0] = $1 }
        return result
    }

    /// Every fine log, by second (built on each call).
    package var fineLogs: [Int64: [FineLogEntry]] {
        var result = [Int64: [FineLogEntry]](minimumCapacity: fine.count)
        forEachFineLog { result[$0] = $1 }
        return result
    }

    /// Every rollup bucket with events, seconds first, each level in time
    /// order, without building a dictionary.
    package func forEachRollup(_ body: (RollupBucket, SymbolStats) throws -> Void) rethrows {
        for (second, entries) in zip(fine.keys, fine.values) {
            try body(RollupBucket(level: .second, index: second), Self.secondStats(second, entries))
        }
        for (ordinal, level) in Self.rollupLevels.enumerated() {
            for (index, stats) in zip(levels[ordinal].keys, levels[ordinal].values) {
                try body(RollupBucket(level: level, index: index), stats)
            }
        }
    }

    /// Every fine log in time order, without building a dictionary.
    package func forEachFineLog(_ body: (Int64, [FineLogEntry]) throws -> Void) rethrows {
        for (second, entries) in zip(fine.keys, fine.values) {
            try body(second, entries.map { FineLogEntry(second: second, compact: $0)! })
        }
    }

    /// Every fine log by second, entries as `FineLogEntry.compact`: for
    /// writers of millions of seconds. The second buckets are `secondStats`
    /// of these.
    package var compactFineLogs: Timeline<[UInt32]> { fine }

    /// The buckets of a level above seconds, by index.
    package func rollups(of level: RollupLevel) -> Timeline<SymbolStats> {
        guard let ordinal = Self.rollupLevels.firstIndex(of: level) else {
            preconditionFailure("second buckets are derived from the fine logs (compactFineLogs, secondStats)")
        }
        return levels[ordinal]
    }

    /// Every request with an accepted initial, with its followups (built on
    /// each call; see `forEachRecord`).
    package var records: [RequestUUID: Record] {
        var result = [RequestUUID: Record](minimumCapacity: initials.count)
        forEachRecord { result[$0] = $1 }
        return result
    }

    /// How many requests have an accepted initial.
    package var recordCount: Int { initials.count }

    /// Every request the model knows (with an initial or only followups), in no particular order.
    package func forEachRequest(_ body: (RequestUUID) throws -> Void) rethrows {
        for id in initials.keys { try body(id) }
        for id in orphans.keys { try body(id) }
    }

    /// Every request with an accepted initial, in no particular order.
    package func forEachRecord(_ body: (RequestUUID, Record) throws -> Void) rethrows {
        for (id, initial) in initials {
            let followups = initial.flags & Initial.hasFollowups != 0 ? followupTimes[id] ?? [] : []
            try body(id, Record(symbol: initial.symbol, guess: initial.guess, receivedAt: initial.receivedAt, followups: followups))
        }
    }

    /// What the rankings read (the sorted sets in Redis): each symbol's
    /// all-time initials, followups and latest initial.
    package var rankings: Rankings { Rankings(totals) }

    package func summary(of symbol: Symbol) -> SymbolSummary {
        var summary = SymbolSummary(symbol: symbol)
        summary.merge(totals[symbol.index])
        return summary
    }

    /// The first and last initial's receive time, if any.
    package var dataSpan: ClosedRange<Timestamp>? {
        let earliest = totals.compactMap(\.earliest).min()
        let latest = totals.compactMap(\.latest).max()
        guard let earliest, let latest else { return nil }
        return earliest...latest
    }

    /// Answers a range the way the Redis store does: rollup buckets for whole
    /// seconds, fine logs for the partial seconds at the edges.
    package func summaries(in range: TimeRange) -> [SymbolSummary] {
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

    package func request(_ id: RequestUUID) -> RequestRecord? {
        if let initial = initials[id] {
            return RequestRecord(
                id: id, symbol: initial.symbol, guess: initial.guess, receivedAt: initial.receivedAt,
                followups: followupTimes[id] ?? [])
        }
        if let pending = orphans[id] {
            return RequestRecord(id: id, symbol: nil, guess: nil, receivedAt: nil, followups: pending)
        }
        return nil
    }
}

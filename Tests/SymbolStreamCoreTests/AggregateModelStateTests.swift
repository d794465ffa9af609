import Testing

@testable import SymbolStreamCore

/// The model's whole state (what `rebuild` writes to Redis) against a naive
/// replay: every request record, every bucket of every level, every fine log
/// entry in the order it was appended.
@Suite struct AggregateModelStateTests {
    struct Naive {
        var records: [RequestUUID: AggregateModel.Record] = [:]
        var orphans: [RequestUUID: [Timestamp]] = [:]
        var buckets: [RollupBucket: SymbolStats] = [:]
        var fine: [Int64: [FineLogEntry]] = [:]

        mutating func count(_ record: AggregateModel.Record, followups: Int) {
            let time = record.receivedAt
            for level in RollupLevel.allCases {
                let bucket = RollupBucket(level: level, index: level.bucket(containing: time.second))
                var stats = buckets[bucket] ?? SymbolStats()
                if followups == 0 {
                    stats[record.symbol.index].addInitial(at: time, answeredTrue: record.guess)
                } else {
                    stats[record.symbol.index].addFollowups(Int64(followups), answeredTrue: record.guess)
                }
                buckets[bucket] = stats
            }
            let entry = FineLogEntry(
                second: time.second, offset: time.offset, symbol: record.symbol, answeredTrue: record.guess, isFollowup: followups > 0)
            fine[time.second, default: []] += Array(repeating: entry, count: max(followups, 1))
        }

        mutating func apply(_ event: IngestEvent) {
            switch event {
            case .initial(let initial):
                guard records[initial.id] == nil else { return }
                let adopted = orphans.removeValue(forKey: initial.id) ?? []
                let record = AggregateModel.Record(symbol: initial.symbol, guess: initial.guess, receivedAt: initial.receivedAt, followups: adopted)
                records[initial.id] = record
                count(record, followups: 0)
                if !adopted.isEmpty { count(record, followups: adopted.count) }
            case .followup(let followup):
                guard var record = records[followup.id] else {
                    orphans[followup.id, default: []].append(followup.receivedAt)
                    return
                }
                record.followups.append(followup.receivedAt)
                records[followup.id] = record
                count(record, followups: 1)
            }
        }
    }

    /// Retries, conflicts, followups before and after their initial, times
    /// out of order and sharing seconds, minutes and days.
    static func traffic(seed: UInt64, count: Int) -> [IngestEvent] {
        var generator = SplitMix64(seed: seed)
        var time: Int64 = 1_790_812_800_000_000
        var ids = [RequestUUID]()
        var events = [IngestEvent]()
        for _ in 0..<count {
            time += [0, 3, 700, 300_000, 50_000_000, 4_000_000_000][Int.random(in: 0..<6, using: &generator)]
            let at = Timestamp(microseconds: time - (Int.random(in: 0..<10, using: &generator) == 0 ? 2_000_000 : 0))
            let fresh = ids.isEmpty || Int.random(in: 0..<3, using: &generator) == 0
            let id = fresh ? RequestUUID(high: generator.next(), low: generator.next()) : ids.randomElement(using: &generator)!
            if fresh { ids.append(id) }
            if Bool.random(using: &generator) {
                events.append(.followup(FollowupEvent(id: id, receivedAt: at)))
            } else {
                let symbol = Symbol(index: Int.random(in: 0..<4, using: &generator))!
                events.append(.initial(InitialEvent(id: id, symbol: symbol, guess: Bool.random(using: &generator), receivedAt: at)))
            }
        }
        return events
    }

    @Test(arguments: [1, 2, 3] as [UInt64]) func stateEqualsANaiveReplay(seed: UInt64) {
        var model = AggregateModel(expectedRequests: 10)
        var naive = Naive()
        for event in Self.traffic(seed: seed, count: 5000) {
            _ = model.apply(event)
            naive.apply(event)
        }
        #expect(model.records == naive.records)
        #expect(model.recordCount == naive.records.count)
        #expect(model.orphans == naive.orphans)
        #expect(model.rollups == naive.buckets)
        #expect(model.fineLogs == naive.fine)
        var visited = 0
        model.forEachRollup { bucket, stats in
            visited += 1
            #expect(model.stats(in: bucket) == stats)
        }
        #expect(visited == naive.buckets.count)
        for (second, entries) in naive.fine {
            #expect(model.fineLog(of: second) == entries)
            #expect(model.compactFineLogs[second] == entries.map(\.compact))
            #expect(AggregateModel.secondStats(second, entries.map(\.compact)) == naive.buckets[RollupBucket(level: .second, index: second)])
        }
        var requests = Set<RequestUUID>()
        model.forEachRequest { requests.insert($0) }
        #expect(requests == Set(naive.records.keys).union(naive.orphans.keys))
        for id in requests {
            let record = naive.records[id]
            let expected =
                record.map { RequestRecord(id: id, symbol: $0.symbol, guess: $0.guess, receivedAt: $0.receivedAt, followups: $0.followups) }
                ?? RequestRecord(id: id, symbol: nil, guess: nil, receivedAt: nil, followups: naive.orphans[id] ?? [])
            #expect(model.request(id) == expected)
        }
        // Guard against a trivial pass: the traffic has every case.
        #expect(naive.records.values.contains { !$0.followups.isEmpty } && !naive.orphans.isEmpty)
        #expect(naive.fine.values.contains { $0.count > 1 })
    }
}

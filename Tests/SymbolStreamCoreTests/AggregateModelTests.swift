import Testing
@testable import SymbolStreamCore

@Suite struct AggregateModelTests {
    let e = Symbol(parsing: "e")!
    let b = Symbol(parsing: "b")!

    func id(_ n: UInt64) -> RequestUUID { RequestUUID(high: 0xabc, low: n) }
    func at(_ microseconds: Int64) -> Timestamp { Timestamp(microseconds: microseconds) }

    @Test func retriesReturnTheOriginalGuessAndCountOnce() {
        var model = AggregateModel()
        #expect(model.apply(InitialEvent(id: id(1), symbol: e, guess: true, receivedAt: at(10))) == .accepted(guess: true))
        #expect(model.apply(InitialEvent(id: id(1), symbol: e, guess: false, receivedAt: at(20))) == .retry(guess: true))
        #expect(model.apply(InitialEvent(id: id(1), symbol: b, guess: false, receivedAt: at(30))) == .conflict(existing: e))
        #expect(model.summary(of: e) == SymbolSummary(symbol: e, count: 1, earliest: at(10), latest: at(10), followups: 0, answeredTrue: 1))
        #expect(model.summary(of: b) == SymbolSummary(symbol: b))
    }

    @Test func everyFollowupCountsAndEarlyOnesWaitForTheirInitial() {
        var model = AggregateModel()
        #expect(model.apply(FollowupEvent(id: id(1), receivedAt: at(5))) == .pending)
        #expect(model.apply(FollowupEvent(id: id(1), receivedAt: at(6))) == .pending)
        #expect(model.summary(of: e).followups == 0)
        #expect(model.request(id(1)) == RequestRecord(id: id(1), symbol: nil, guess: nil, receivedAt: nil, followups: [at(5), at(6)]))
        _ = model.apply(InitialEvent(id: id(1), symbol: e, guess: false, receivedAt: at(7_000_000)))
        #expect(model.apply(FollowupEvent(id: id(1), receivedAt: at(8_000_000))) == .attributed(e))
        #expect(model.summary(of: e).followups == 3)
        #expect(model.request(id(1))?.followups == [at(5), at(6), at(8_000_000)])
        // Followups count in the range of their initial, not of their own arrival.
        let rangeOfInitial = TimeRange(lower: at(7_000_000), upper: at(7_000_001))
        #expect(model.summaries(in: rangeOfInitial)[e.index].followups == 3)
        let rangeOfFollowups = TimeRange(lower: at(0), upper: at(7_000_000))
        #expect(model.summaries(in: rangeOfFollowups)[e.index].followups == 0)
        #expect(model.request(id(2)) == nil)
    }

    /// The decomposed answer equals a scan of the raw events, for random
    /// traffic and random bounds down to the microsecond.
    @Test func rangesMatchANaiveScan() {
        var generator = SplitMix64(seed: 11)
        var model = AggregateModel()
        var initials: [RequestUUID: (Symbol, Timestamp, Bool)] = [:]
        var followupsByID: [RequestUUID: Int64] = [:]
        var time: Int64 = 1_498_600_000_000_000
        let ids = (0..<3000).map { id(UInt64($0)) }
        for _ in 0..<6000 {
            time += Int64.random(in: 0...40_000_000, using: &generator) / Int64.random(in: 1...1000, using: &generator)
            let target = ids.randomElement(using: &generator)!
            if Int.random(in: 0..<4, using: &generator) == 0 {
                _ = model.apply(FollowupEvent(id: target, receivedAt: at(time)))
                followupsByID[target, default: 0] += 1
            } else {
                let symbol = Symbol.all.randomElement(using: &generator)!
                let guess = Bool.random(using: &generator)
                let outcome = model.apply(InitialEvent(id: target, symbol: symbol, guess: guess, receivedAt: at(time)))
                if case .accepted = outcome { initials[target] = (symbol, at(time), guess) }
            }
        }
        let first: Int64 = 1_498_600_000_000_000 - 5_000_000
        for _ in 0..<400 {
            let lower = Int64.random(in: first...time, using: &generator)
            let upper = lower + Int64.random(in: 0...(time - first), using: &generator) / Int64.random(in: 1...500, using: &generator)
            let range = TimeRange(lower: at(lower), upper: at(upper))
            var expected = Symbol.all.map { SymbolSummary(symbol: $0) }
            for (requestID, (symbol, received, guess)) in initials where range.contains(received) {
                var stats = BucketStats()
                stats.addFollowups(followupsByID[requestID] ?? 0, answeredTrue: guess)
                stats.addInitial(at: received, answeredTrue: guess)
                expected[symbol.index].merge(stats)
            }
            #expect(model.summaries(in: range) == expected)
        }
        // Totals agree with the scan too.
        for symbol in Symbol.all {
            let mine = initials.filter { $0.value.0 == symbol }
            #expect(model.summary(of: symbol).count == Int64(mine.count))
            #expect(model.summary(of: symbol).followups == mine.keys.reduce(0) { $0 + (followupsByID[$1] ?? 0) })
        }
    }
}

import Synchronization
import Testing
@testable import SymbolStreamCore

@Suite struct GuessModelTests {
    @Test func withoutFlipsVowelsAreTrueAndConsonantsFalse() {
        var generator = SplitMix64(seed: 1)
        let model = GuessModel(flipProbability: 0)
        for symbol in Symbol.all where !symbol.isSometimesVowel {
            for _ in 0..<20 { #expect(model.guess(symbol, using: &generator) == symbol.isVowel) }
        }
    }

    @Test func alwaysFlippingInvertsTheAnswer() {
        var generator = SplitMix64(seed: 2)
        let model = GuessModel(flipProbability: 1)
        #expect(model.guess(Symbol(parsing: "e")!, using: &generator) == false)
        #expect(model.guess(Symbol(parsing: "b")!, using: &generator) == true)
    }

    @Test func yIsAVowelAboutHalfTheTimeAndFlipsHappenAboutOneTimeInTen() {
        var generator = SplitMix64(seed: 3)
        let model = GuessModel(flipProbability: 0.1)
        let y = Symbol(parsing: "y")!
        let b = Symbol(parsing: "b")!
        let trials = 20_000
        let yTrue = (0..<trials).filter { _ in model.guess(y, using: &generator) }.count
        let bFlipped = (0..<trials).filter { _ in model.guess(b, using: &generator) }.count
        #expect(abs(Double(yTrue) / Double(trials) - 0.5) < 0.02)
        #expect(abs(Double(bFlipped) / Double(trials) - 0.1) < 0.01)
    }

    @Test func seededGuessersReplay() {
        let first = Guesser(model: GuessModel(), seed: 42)
        let second = Guesser(model: GuessModel(), seed: 42)
        let symbols = (0..<500).map { Symbol.all[$0 % 26] }
        #expect(symbols.map(first.guess) == symbols.map(second.guess))
    }
}

@Suite struct EventClockTests {
    @Test func isStrictlyIncreasingEvenWhenTheWallClockStandsStillOrStepsBack() {
        let readings = Mutex([Int64]([100, 100, 100, 50, 50, 200, 199]))
        let clock = EventClock { readings.withLock { $0.removeFirst() } }
        #expect((0..<7).map { _ in clock.now().microseconds } == [100, 101, 102, 103, 104, 200, 201])
    }

    @Test func isUniqueAcrossThreads() async {
        let clock = EventClock { 1_000 }
        let times = await withTaskGroup(of: [Int64].self) { group in
            for _ in 0..<8 { group.addTask { (0..<1000).map { _ in clock.now().microseconds } } }
            return await group.reduce(into: []) { $0 += $1 }
        }
        #expect(Set(times).count == 8000)
    }
}

@Suite struct FineLogTests {
    @Test func compactFormRoundTrips() {
        for offset: Int64 in [0, 1, 999_999, 524_288] {
            for symbol in [Symbol.all[0], Symbol.all[25]] {
                for isFollowup in [false, true] {
                    for answeredTrue in [false, true] {
                        let entry = FineLogEntry(second: 7, offset: offset, symbol: symbol, answeredTrue: answeredTrue, isFollowup: isFollowup)
                        #expect(FineLogEntry(second: 7, compact: entry.compact) == entry)
                    }
                }
            }
        }
    }

    @Test func rejectsInvalidCompactEntries() {
        #expect(FineLogEntry(second: 0, compact: 0xffff_ffff) == nil)  // offset >= 10^6
        #expect(FineLogEntry(second: 0, compact: 0x7c) == nil)  // symbol 31
    }
}

@Suite struct RangeDecompositionTests {
    /// The pieces, as microsecond intervals, must tile the range exactly.
    func intervals(_ decomposition: RangeDecomposition) -> [Range<Int64>] {
        let perSecond = Timestamp.microsecondsPerSecond
        var pieces = decomposition.buckets.map { bucket in
            (bucket.firstSecond * perSecond)..<((bucket.firstSecond + bucket.level.seconds) * perSecond)
        }
        pieces += decomposition.edges.map { edge in
            (edge.second * perSecond + edge.offsets.lowerBound)..<(edge.second * perSecond + edge.offsets.upperBound)
        }
        return pieces.sorted { $0.lowerBound < $1.lowerBound }
    }

    func expectTiles(_ range: Range<Int64>, _ decomposition: RangeDecomposition, sourceLocation: SourceLocation = #_sourceLocation) {
        let pieces = intervals(decomposition)
        guard !range.isEmpty else {
            #expect(pieces.isEmpty, sourceLocation: sourceLocation)
            return
        }
        #expect(pieces.first?.lowerBound == range.lowerBound, sourceLocation: sourceLocation)
        #expect(pieces.last?.upperBound == range.upperBound, sourceLocation: sourceLocation)
        for (left, right) in zip(pieces, pieces.dropFirst()) {
            #expect(left.upperBound == right.lowerBound, sourceLocation: sourceLocation)
        }
        #expect(pieces.allSatisfy { !$0.isEmpty }, sourceLocation: sourceLocation)
        #expect(decomposition.edges.count <= 2, sourceLocation: sourceLocation)
        #expect(decomposition.edges.allSatisfy { $0.offsets.upperBound <= Timestamp.microsecondsPerSecond }, sourceLocation: sourceLocation)
    }

    @Test func aWholeDayIsOneBucket() throws {
        let range = try Validate.range(lower: "2017-06-28", upper: "2017-06-29")
        let decomposition = RangeDecomposition(range)
        #expect(decomposition.buckets == [RollupBucket(level: .day, index: 17345)])
        #expect(decomposition.edges.isEmpty)
    }

    @Test func edgesAreFineAndTheMiddleCoarse() throws {
        let range = try Validate.range(lower: "2017-06-28T23:58:59.5", upper: "2017-06-30T01:01:01.25")
        let decomposition = RangeDecomposition(range)
        expectTiles(range.lower.microseconds..<range.upper.microseconds, decomposition)
        let levels = decomposition.buckets.map(\.level)
        // 23:58:59.5 is a partial second; 23:59:00 is already minute-aligned.
        #expect(levels == [.minute, .day, .hour, .minute, .second])
        #expect(decomposition.edges.map(\.offsets) == [500_000..<1_000_000, 0..<250_000])
    }

    @Test func withinOneSecondIsOneEdge() {
        let range = TimeRange(lower: Timestamp(microseconds: 5_000_010), upper: Timestamp(microseconds: 5_000_020))
        #expect(RangeDecomposition(range) == RangeDecomposition(edges: [FineEdge(second: 5, offsets: 10..<20)]))
        let empty = TimeRange(lower: Timestamp(microseconds: 5), upper: Timestamp(microseconds: 5))
        #expect(RangeDecomposition(empty) == RangeDecomposition())
    }

    @Test func randomRangesAreTiledExactlyAndCheaply() {
        var generator = SplitMix64(seed: 7)
        for trial in 0..<3000 {
            let scale: Int64 = [1_000, 1_000_000, 100_000_000, 86_400_000_000, 40 * 86_400_000_000][trial % 5]
            let lower = Int64.random(in: -3 * 86_400_000_000...(4 * 86_400_000_000), using: &generator)
            let upper = lower + Int64.random(in: 0...scale, using: &generator)
            let decomposition = RangeDecomposition(TimeRange(lower: Timestamp(microseconds: lower), upper: Timestamp(microseconds: upper)))
            expectTiles(lower..<upper, decomposition)
            let days = (upper - lower) / Timestamp.microsecondsPerDay + 1
            #expect(decomposition.buckets.count <= 2 * (59 + 59 + 23) + Int(days))
        }
    }

    @Test func clampingToTheDataSpanKeepsExactness() {
        var generator = SplitMix64(seed: 8)
        for _ in 0..<1000 {
            let first = Int64.random(in: 0...(10 * 86_400_000_000), using: &generator)
            let last = first + Int64.random(in: 0...(3 * 86_400_000_000), using: &generator)
            let lower = Int64.random(in: -86_400_000_000...(12 * 86_400_000_000), using: &generator)
            let upper = lower + Int64.random(in: 0...(20 * 86_400_000_000), using: &generator)
            let span = Timestamp(microseconds: first)...Timestamp(microseconds: last)
            let decomposition = RangeDecomposition(
                TimeRange(lower: Timestamp(microseconds: lower), upper: Timestamp(microseconds: upper)), dataSpan: span)
            let day = Timestamp.microsecondsPerDay
            let clampedLower = max(lower, first.floorDivided(by: day) * day)
            let clampedUpper = min(upper, (last.floorDivided(by: day) + 1) * day)
            expectTiles(clampedLower..<max(clampedLower, clampedUpper), decomposition)
            #expect(clampedLower > first || clampedLower <= first)
            // Every data point inside the range stays inside the pieces.
            for point in [first, last] where lower <= point && point < upper {
                #expect(intervals(decomposition).contains { $0.contains(point) })
            }
        }
    }
}

@Suite struct SyntheticTrafficTests {
    @Test func isOrderedUniqueAndFollowsUpAboutAsAsked() {
        let start = Timestamp(microseconds: 1_790_000_000_000_000)
        let span: Int64 = 86_400_000_000
        let events = Array(SyntheticTraffic(requests: 20_000, start: start, span: span, followupShare: 0.05, seed: 3))
        let initials = events.compactMap { if case .initial(let e) = $0 { e } else { nil } }
        let followups = events.compactMap { if case .followup(let e) = $0 { e } else { nil } }
        #expect(initials.count == 20_000)
        #expect(abs(Double(followups.count) / 20_000 - 0.05) < 0.01)
        let times = events.map(\.receivedAt)
        #expect(times == times.sorted() && Set(times).count == times.count)
        #expect(times.first! >= start && times.last! < Timestamp(microseconds: start.microseconds + span))
        #expect(Set(initials.map(\.id)).count == initials.count)
        let ids = Set(initials.map(\.id))
        #expect(followups.allSatisfy { ids.contains($0.id) })
        // Every letter shows up, about equally.
        let perSymbol = Dictionary(grouping: initials, by: \.symbol).mapValues(\.count)
        #expect(perSymbol.count == 26 && perSymbol.values.allSatisfy { (600...950).contains($0) })
    }
}

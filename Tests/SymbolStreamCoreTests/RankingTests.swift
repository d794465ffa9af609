import Testing

@testable import SymbolStreamCore

@Suite struct RankingTests {
    static func symbol(_ letter: String) -> Symbol { Symbol(parsing: letter)! }
    static func time(_ second: Int64) -> Timestamp { Timestamp(second: second, offset: 0) }

    static let rankings: Rankings = {
        var rankings = Rankings()
        rankings.add(symbol("a"), count: 10, followups: 5, latest: time(100))  // rate 0.5
        rankings.add(symbol("b"), count: 2, followups: 1, latest: time(300))  // rate 0.5, fewer initials
        rankings.add(symbol("c"), count: 10, followups: 9, latest: time(300))  // rate 0.9
        rankings.add(symbol("d"), count: 3, followups: 0, latest: time(200))
        rankings.add(symbol("z"), count: 10, followups: 0, latest: time(50))
        return rankings
    }()

    static func letters(_ rows: [RankedSymbol]) -> String { rows.map(\.symbol.letter).joined() }

    @Test func ordersAndTies() {
        #expect(Self.letters(Self.rankings.top(by: .initials, limit: 26)) == "aczdb")
        #expect(Self.letters(Self.rankings.top(by: .followups, limit: 26)) == "cabdz")
        #expect(Self.letters(Self.rankings.top(by: .rate, limit: 26)) == "cabzd")  // d and z tie at 0: z has more initials
        #expect(Self.letters(Self.rankings.top(by: .recent, limit: 26)) == "bcdaz")
        #expect(Self.letters(Self.rankings.top(by: .initials, limit: 2)) == "ac")
        #expect(Self.rankings.top(by: .rate, limit: 1).first?.rate == 0.9)
        // No data: not ranked at all.
        #expect(Rankings().top(by: .recent, limit: 26) == [])
    }

    /// Rates compare exactly, also where doubles would round two apart rates together.
    @Test func ratesCompareExactly() {
        var rankings = Rankings()
        let big: Int64 = 1 << 52
        rankings.add(Self.symbol("a"), count: big, followups: big - 1, latest: Self.time(1))
        rankings.add(Self.symbol("b"), count: big + 1, followups: big, latest: Self.time(1))
        #expect(Self.letters(rankings.top(by: .rate, limit: 2)) == "ba")
    }

    /// Shards merge: counts add up, the latest is the latest of all.
    @Test func shardsMerge() {
        var one = Rankings()
        one.add(Self.symbol("e"), count: 2, followups: 1, latest: Self.time(10))
        var two = Rankings()
        two.add(Self.symbol("e"), count: 3, followups: 0, latest: Self.time(5))
        one.merge(two)
        #expect(one.top(by: .initials, limit: 1) == [RankedSymbol(symbol: Self.symbol("e"), count: 5, followups: 1, latest: Self.time(10))])
    }

    @Test func theModelRanksItsTotals() {
        var model = AggregateModel()
        let e = Self.symbol("e")
        let id = RequestUUID(high: 9, low: 9)
        _ = model.apply(InitialEvent(id: id, symbol: e, guess: true, receivedAt: Self.time(7)))
        _ = model.apply(FollowupEvent(id: id, receivedAt: Self.time(8)))
        #expect(model.rankings.top(by: .followups, limit: 26) == [RankedSymbol(symbol: e, count: 1, followups: 1, latest: Self.time(7))])
    }

    @Test func parameters() throws {
        #expect(try Validate.rankingOrder(nil) == .initials)
        #expect(try Validate.rankingOrder("rate") == .rate)
        #expect(try Validate.rankingLimit(nil) == 10)
        #expect(try Validate.rankingLimit("26") == 26)
        #expect(try Validate.rankingLimit("1") == 1)
        for bad in ["Rate", "", "top", "initials "] {
            #expect(throws: InputError.self) { _ = try Validate.rankingOrder(bad) }
        }
        for bad in ["0", "27", "-1", "+5", "", "ten", "5.0", "100", " 5"] {
            #expect {
                _ = try Validate.rankingLimit(bad)
            } throws: { ($0 as? InputError).map { $0.parameter == "n" && $0.message.hasPrefix("n: ") } ?? false }
        }
    }
}

/// What `GET /dashboard/top` ranks by.
package enum RankingOrder: String, Sendable, Hashable, CaseIterable {
    /// All-time initials.
    case initials
    /// All-time followups attributed to the symbol's initials.
    case followups
    /// Followups per initial.
    case rate
    /// The latest initial's receive time (most recently active first).
    case recent
}

/// One row of a ranking.
package struct RankedSymbol: Sendable, Hashable {
    package var symbol: Symbol
    package var count: Int64
    package var followups: Int64
    package var latest: Timestamp?

    package init(symbol: Symbol, count: Int64, followups: Int64, latest: Timestamp?) {
        self.symbol = symbol
        self.count = count
        self.followups = followups
        self.latest = latest
    }

    /// Followups per initial; nil without initials.
    package var rate: Double? { count > 0 ? Double(followups) / Double(count) : nil }
}

/// Each symbol's all-time initials, followups and latest initial: what the
/// rankings' sorted sets hold, merged over the shards (counts add, the
/// latest is the latest of all). A rate cannot be merged that way, so it is
/// computed from the merged counts, never stored.
package struct Rankings: Sendable, Hashable {
    /// By symbol index.
    package private(set) var symbols: [RankedSymbol] = Symbol.all.map { RankedSymbol(symbol: $0, count: 0, followups: 0, latest: nil) }

    package static let maximumLimit = 26
    package static let defaultLimit = 10

    package init() {}

    package init(_ totals: [BucketStats]) {
        for (index, stats) in totals.enumerated() where !stats.isEmpty {
            add(Symbol(index: index)!, count: stats.count, followups: stats.followups, latest: stats.latest)
        }
    }

    /// Adds one shard's scores of `symbol`.
    package mutating func add(_ symbol: Symbol, count: Int64 = 0, followups: Int64 = 0, latest: Timestamp? = nil) {
        symbols[symbol.index].count += count
        symbols[symbol.index].followups += followups
        if let latest { symbols[symbol.index].latest = max(symbols[symbol.index].latest ?? latest, latest) }
    }

    package mutating func merge(_ other: Rankings) {
        for row in other.symbols { add(row.symbol, count: row.count, followups: row.followups, latest: row.latest) }
    }

    /// The first `limit` symbols by `order`, highest first. Symbols without
    /// initials are not ranked (so there may be fewer than `limit`). Ties go
    /// to the symbol with more initials for `rate`, then to the earlier
    /// letter, for every order: the same data always gives the same list.
    package func top(by order: RankingOrder, limit: Int) -> [RankedSymbol] {
        let ranked = symbols.filter { $0.count > 0 }.sorted { a, b in
            switch Self.compare(a, b, by: order) {
            case .greater: true
            case .less: false
            case .equal: a.symbol < b.symbol
            }
        }
        return Array(ranked.prefix(max(0, limit)))
    }

    private enum Comparison { case less, equal, greater }

    private static func compare<T: Comparable>(_ a: T, _ b: T) -> Comparison { a < b ? .less : a > b ? .greater : .equal }

    private static func compare(_ a: RankedSymbol, _ b: RankedSymbol, by order: RankingOrder) -> Comparison {
        switch order {
        case .initials: return compare(a.count, b.count)
        case .followups: return compare(a.followups, b.followups)
        case .recent: return compare(a.latest ?? .init(microseconds: .min), b.latest ?? .init(microseconds: .min))
        case .rate:
            // a.f / a.c against b.f / b.c, exactly: a.f · b.c against b.f · a.c
            // in 128 bits (counts below 2^53 each).
            let left = a.followups.multipliedFullWidth(by: b.count)
            let right = b.followups.multipliedFullWidth(by: a.count)
            let rate = compare(Int128Parts(left), Int128Parts(right))
            return rate == .equal ? compare(a.count, b.count) : rate
        }
    }

    /// A 128-bit product, ordered as a signed number.
    private struct Int128Parts: Comparable {
        var high: Int64
        var low: UInt64
        init(_ value: (high: Int64, low: UInt64)) { (high, low) = (value.high, value.low) }
        static func < (a: Self, b: Self) -> Bool { a.high != b.high ? a.high < b.high : a.low < b.low }
    }
}

extension Validate {
    /// `by`: one of `initials`, `followups`, `rate`, `recent`; `initials` when absent.
    package static func rankingOrder(_ raw: String?) throws(InputError) -> RankingOrder {
        guard let raw else { return .initials }
        guard let order = RankingOrder(rawValue: raw) else {
            throw InputError(
                parameter: "by", reason: .invalidRanking,
                message: "by: \(InputError.quoted(raw)) is not one of \(RankingOrder.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return order
    }

    /// `n`: a whole number 1…26 (there are 26 symbols); `Rankings.defaultLimit` when absent.
    package static func rankingLimit(_ raw: String?) throws(InputError) -> Int {
        guard let raw else { return Rankings.defaultLimit }
        guard raw.utf8.count <= 2, raw.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), let n = Int(raw),
            (1...Rankings.maximumLimit).contains(n)
        else {
            throw InputError(
                parameter: "n", reason: .invalidRanking,
                message: "n: \(InputError.quoted(raw)) is not a whole number from 1 to \(Rankings.maximumLimit)")
        }
        return n
    }
}

import SymbolStreamCore

/// The rankings' sorted sets of a shard, by what they score.
package enum RankingSet: String, CaseIterable, Sendable, Hashable {
    case initials, followups, recent
}

/// The rankings' sorted sets (`z:<name>`, the library's `RANKINGS`): a
/// member per symbol of the shard (its letter), scored by its totals record:
/// `initials` the count and `recent` the latest initial (µs since the epoch)
/// of every symbol with initials, `followups` the followups of every symbol
/// with some (a member is written when a batch changes its score, so one
/// with none is never written; a missing member reads as 0). Scores are
/// whole numbers below 2^53, so the doubles Redis keeps hold them exactly.
enum RankingFormat {
    typealias Set = RankingSet

    /// The library's `RANKINGS`, in its order (as `ss_format` reports them).
    static let names = Set.allCases.map(\.rawValue).joined(separator: ",")

    /// The score of `symbol`'s `stats` in `set`; nil when it is not a member
    /// (no initials; for `followups`, no followups).
    static func score(_ stats: BucketStats, in set: Set) -> Int64? {
        guard stats.count > 0 else { return nil }
        switch set {
        case .initials: return stats.count
        case .followups: return stats.followups > 0 ? stats.followups : nil
        case .recent: return stats.latest?.microseconds
        }
    }

    /// A score as Redis replies it (`ZRANGE … WITHSCORES`): a decimal number,
    /// which must be whole.
    static func decodeScore(_ bytes: [UInt8]) -> Int64? {
        guard let value = Double(String(decoding: bytes, as: UTF8.self)), value.isFinite else { return nil }
        return Int64(exactly: value)
    }

    /// A `ZRANGE … WITHSCORES` reply (member, score, …) as symbol → score;
    /// nil if a member is not a lower-case letter or a score is not whole.
    static func decodeMembers(_ pairs: [(member: [UInt8], score: [UInt8])]) -> [Symbol: Int64]? {
        var result = [Symbol: Int64]()
        for (member, score) in pairs {
            guard member.count == 1, let symbol = Symbol(index: Int(member[0]) - Int(UInt8(ascii: "a"))), result[symbol] == nil,
                let value = decodeScore(score)
            else { return nil }
            result[symbol] = value
        }
        return result
    }

    /// The rankings one shard's three sets hold.
    static func rankings(initials: [Symbol: Int64], followups: [Symbol: Int64], recent: [Symbol: Int64]) -> Rankings {
        var rankings = Rankings()
        for (symbol, count) in initials { rankings.add(symbol, count: count) }
        for (symbol, count) in followups { rankings.add(symbol, followups: count) }
        for (symbol, time) in recent { rankings.add(symbol, latest: Timestamp(microseconds: time)) }
        return rankings
    }
}

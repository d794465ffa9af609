/// One entry of a second's fine log: where, inside that second, an initial of
/// `symbol` was received, or (`isFollowup`) that a followup was attributed to an
/// initial received there; and whether that initial was answered `True`.
///
/// Rollups answer whole seconds; the fine log makes the partial seconds at the
/// edges of a range exact to the microsecond.
package struct FineLogEntry: Sendable, Hashable {
    package var second: Int64
    package var offset: Int64
    package var symbol: Symbol
    package var answeredTrue: Bool
    package var isFollowup: Bool

    package init(second: Int64, offset: Int64, symbol: Symbol, answeredTrue: Bool, isFollowup: Bool) {
        precondition((0..<Timestamp.microsecondsPerSecond).contains(offset))
        self.second = second
        self.offset = offset
        self.symbol = symbol
        self.answeredTrue = answeredTrue
        self.isFollowup = isFollowup
    }

    /// The entry in 32 bits, `offset << 7 | symbol << 2 | answeredTrue << 1 |
    /// isFollowup` (offset < 2^20): how `AggregateModel` keeps millions of
    /// them. An in-memory form, not a storage format (each store has its own
    /// codec); it orders entries by offset, then symbol.
    package var compact: UInt32 {
        Self.compact(offset: offset, symbolIndex: symbol.index, answeredTrue: answeredTrue, isFollowup: isFollowup)
    }

    /// `compact` without building the entry.
    @inlinable @inline(__always)
    package static func compact(offset: Int64, symbolIndex: Int, answeredTrue: Bool, isFollowup: Bool) -> UInt32 {
        UInt32(offset) << 7 | UInt32(symbolIndex) << 2 | (answeredTrue ? 2 : 0) | (isFollowup ? 1 : 0)
    }

    /// The entry `compact` describes, in `second`; nil if its bits name no
    /// offset within a second or no symbol.
    package init?(second: Int64, compact: UInt32) {
        let offset = Int64(compact >> 7)
        guard offset < Timestamp.microsecondsPerSecond, let symbol = Symbol(index: Int(compact >> 2 & 0x1f)) else { return nil }
        self.init(second: second, offset: offset, symbol: symbol, answeredTrue: compact & 2 != 0, isFollowup: compact & 1 != 0)
    }
}

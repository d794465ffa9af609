/// The statistics of the 26 symbols in one bucket, stored sparsely: a second's
/// bucket usually holds a few symbols, and a month of them is millions of
/// buckets. Reads like an array of 26 (`stats[symbol.index]`, iteration),
/// empty statistics for symbols without events.
package struct SymbolStats: RandomAccessCollection, MutableCollection, Sendable, Hashable {
    struct Entry: Sendable, Hashable {
        var index: UInt8
        var stats: BucketStats
    }

    /// Present symbols, in symbol order.
    private(set) var entries: [Entry] = []

    package init() {}

    package var startIndex: Int { 0 }
    package var endIndex: Int { 26 }

    package subscript(index: Int) -> BucketStats {
        get {
            precondition((0..<26).contains(index), "no symbol \(index)")
            for entry in entries where entry.index == index { return entry.stats }
            return BucketStats()
        }
        set {
            precondition((0..<26).contains(index), "no symbol \(index)")
            var position = 0
            while position < entries.count, entries[position].index < index { position += 1 }
            if position < entries.count, entries[position].index == index {
                entries[position].stats = newValue
            } else {
                entries.insert(Entry(index: UInt8(index), stats: newValue), at: position)
            }
        }
    }

    /// Changes one symbol's statistics in place: one search, where reading
    /// and writing through the subscript takes two (model updates, per event).
    package mutating func modify(_ index: Int, _ body: (inout BucketStats) -> Void) {
        precondition((0..<26).contains(index), "no symbol \(index)")
        var position = 0
        while position < entries.count, entries[position].index < index { position += 1 }
        if position == entries.count || entries[position].index != index {
            entries.insert(Entry(index: UInt8(index), stats: BucketStats()), at: position)
        }
        body(&entries[position].stats)
    }

    /// Only the symbols with events, in order.
    package var present: [(symbol: Symbol, stats: BucketStats)] {
        entries.map { (Symbol(index: Int($0.index))!, $0.stats) }
    }
}

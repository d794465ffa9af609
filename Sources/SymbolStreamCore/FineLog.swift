/// One entry of a second's fine log: where, inside that second, an initial of
/// `symbol` was received, or (`isFollowup`) that a followup was attributed to an
/// initial received there; and whether that initial was answered `True`.
///
/// Rollups answer whole seconds; the fine log makes the partial seconds at the
/// edges of a range exact to the microsecond. Packed in 4 bytes, big-endian:
/// `offset << 7 | symbol << 2 | answeredTrue << 1 | isFollowup` (offset < 2^20).
public struct FineLogEntry: Sendable, Hashable {
    public var second: Int64
    public var offset: Int64
    public var symbol: Symbol
    public var answeredTrue: Bool
    public var isFollowup: Bool

    public static let byteCount = 4

    public init(second: Int64, offset: Int64, symbol: Symbol, answeredTrue: Bool, isFollowup: Bool) {
        precondition((0..<Timestamp.microsecondsPerSecond).contains(offset))
        self.second = second
        self.offset = offset
        self.symbol = symbol
        self.answeredTrue = answeredTrue
        self.isFollowup = isFollowup
    }

    /// The entry `packed` (see `packed`) describes, in `second`. The symbol
    /// bits must name a symbol (entries this code packed always do).
    public init(second: Int64, packed: UInt32) {
        self.init(
            second: second, offset: Int64(packed >> 7), symbol: Symbol(index: Int(packed >> 2 & 0x1f))!, answeredTrue: packed & 2 != 0,
            isFollowup: packed & 1 != 0)
    }

    public var packed: UInt32 {
        UInt32(offset) << 7 | UInt32(symbol.index) << 2 | (answeredTrue ? 2 : 0) | (isFollowup ? 1 : 0)
    }

    public var bytes: [UInt8] {
        let value = packed
        return [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }

    /// Decodes a whole fine log; `nil` if it is not a sequence of valid entries.
    public static func decode(_ bytes: [UInt8], second: Int64) -> [FineLogEntry]? {
        guard bytes.count % byteCount == 0 else { return nil }
        var entries = [FineLogEntry]()
        entries.reserveCapacity(bytes.count / byteCount)
        var index = 0
        while index < bytes.count {
            let value = UInt32(bytes[index]) << 24 | UInt32(bytes[index + 1]) << 16 | UInt32(bytes[index + 2]) << 8 | UInt32(bytes[index + 3])
            let offset = Int64(value >> 7)
            guard offset < Timestamp.microsecondsPerSecond, let symbol = Symbol(index: Int(value >> 2 & 0x1f)) else { return nil }
            entries.append(
                FineLogEntry(second: second, offset: offset, symbol: symbol, answeredTrue: value & 2 == 2, isFollowup: value & 1 == 1))
            index += byteCount
        }
        return entries
    }
}

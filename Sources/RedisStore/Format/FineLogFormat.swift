import NIOCore
import SymbolStreamCore

/// A second's fine log as Redis stores it: one `FINE_FORMAT` (`>I4`) entry
/// per initial and per attributed followup, `offset << 7 | symbol << 2 |
/// answeredTrue << 1 | isFollowup`, appended in arrival order.
enum FineLogFormat {
    static let entryByteCount = 4

    @inline(__always)
    static func value(of entry: FineLogEntry) -> UInt32 {
        UInt32(entry.offset) << 7 | UInt32(entry.symbol.index) << 2 | (entry.answeredTrue ? 2 : 0) | (entry.isFollowup ? 1 : 0)
    }

    /// Nil if `value` names no offset within a second or no symbol.
    @inline(__always)
    static func entry(second: Int64, value: UInt32) -> FineLogEntry? {
        let offset = Int64(value >> 7)
        guard offset < Timestamp.microsecondsPerSecond, let symbol = Symbol(index: Int(value >> 2 & 0x1f)) else { return nil }
        return FineLogEntry(second: second, offset: offset, symbol: symbol, answeredTrue: value & 2 != 0, isFollowup: value & 1 != 0)
    }

    static func write(_ entry: FineLogEntry, to buffer: inout ByteBuffer) {
        buffer.writeInteger(value(of: entry))
    }

    static func encode(_ entries: [FineLogEntry]) -> [UInt8] {
        var buffer = ByteBuffer()
        for entry in entries { write(entry, to: &buffer) }
        return Array(buffer.readableBytesView)
    }

    /// A whole fine log; nil if it is not a sequence of valid entries.
    static func decode(_ bytes: [UInt8], second: Int64) -> [FineLogEntry]? {
        guard bytes.count % entryByteCount == 0 else { return nil }
        var entries = [FineLogEntry]()
        entries.reserveCapacity(bytes.count / entryByteCount)
        var index = 0
        while index < bytes.count {
            let value = UInt32(bytes[index]) << 24 | UInt32(bytes[index + 1]) << 16 | UInt32(bytes[index + 2]) << 8 | UInt32(bytes[index + 3])
            guard let entry = entry(second: second, value: value) else { return nil }
            entries.append(entry)
            index += entryByteCount
        }
        return entries
    }
}

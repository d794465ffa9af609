import NIOCore
import SymbolStreamCore

/// A receive time as Redis stores it (`TIME_FORMAT`, `>I5 I3` in the function
/// library): 5 bytes of seconds since the epoch, then 3 of microseconds,
/// big-endian; that is the 64-bit `second << 24 | offset`. Uuid records, the
/// ingest argument and log entries all hold times in this form.
enum PackedTime {
    static let byteCount = 8

    @inline(__always)
    static func value(of time: Timestamp) -> UInt64 {
        UInt64(truncatingIfNeeded: time.second) << 24 | UInt64(time.offset)
    }

    @inline(__always)
    static func time(of value: UInt64) -> Timestamp {
        Timestamp(second: Int64(value >> 24), offset: Int64(value & 0xFF_FFFF))
    }

    static func write(_ time: Timestamp, to buffer: inout ByteBuffer) {
        buffer.writeInteger(value(of: time))
    }

    static func append(_ time: Timestamp, to bytes: inout [UInt8]) {
        let value = value(of: time)
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    /// The time in the first `byteCount` bytes of `bytes` (which must hold them).
    static func decode(_ bytes: ArraySlice<UInt8>) -> Timestamp {
        var value: UInt64 = 0
        for byte in bytes.prefix(byteCount) { value = value << 8 | UInt64(byte) }
        return time(of: value)
    }

    /// A run of times; nil unless `bytes` is a whole number of them.
    static func decodeAll(_ bytes: ArraySlice<UInt8>) -> [Timestamp]? {
        guard bytes.count % byteCount == 0 else { return nil }
        return stride(from: bytes.startIndex, to: bytes.endIndex, by: byteCount).map { decode(bytes[$0..<$0 + byteCount]) }
    }
}

import NIOCore
import SymbolStreamCore

/// The binary formats the function library stores, decoded on the Swift side.
enum RecordCodec {
    /// `>I5 I3`: a second and a microsecond offset.
    static let timeByteCount = 8

    static func time(_ bytes: ArraySlice<UInt8>) -> Timestamp {
        var second: Int64 = 0
        for byte in bytes.prefix(5) { second = second << 8 | Int64(byte) }
        var offset: Int64 = 0
        for byte in bytes.dropFirst(5).prefix(3) { offset = offset << 8 | Int64(byte) }
        return Timestamp(second: second, offset: offset)
    }

    static func times(_ bytes: ArraySlice<UInt8>) -> [Timestamp]? {
        guard bytes.count % timeByteCount == 0 else { return nil }
        return stride(from: bytes.startIndex, to: bytes.endIndex, by: timeByteCount).map {
            time(bytes[$0..<$0 + timeByteCount])
        }
    }

    /// Marks a record of followups whose initial has not arrived yet.
    static let orphanMarker: UInt8 = 0xFF

    /// A uuid record: `>I5 I3 B` (time, symbol·2+guess), then its followups;
    /// or the orphan marker, then the followups waiting for their initial.
    static func record(_ bytes: [UInt8], id: RequestID) -> RequestRecord? {
        if bytes.first == orphanMarker {
            guard let followups = times(bytes.dropFirst()) else { return nil }
            return RequestRecord(id: id, symbol: nil, guess: nil, receivedAt: nil, followups: followups)
        }
        guard bytes.count >= 9, let followups = times(bytes[9...]) else { return nil }
        let flags = Int(bytes[8])
        guard let symbol = Symbol(index: flags >> 1) else { return nil }
        return RequestRecord(
            id: id, symbol: symbol, guess: flags & 1 == 1, receivedAt: time(bytes[0..<8]), followups: followups)
    }

    /// Decodes `>dddddd` (see `encode(stats:)`); nil if malformed.
    static func stats(_ bytes: [UInt8]) -> BucketStats? {
        guard bytes.count == 48 else { return nil }
        var values = [Int64]()
        values.reserveCapacity(6)
        for start in stride(from: 0, to: 48, by: 8) {
            var bits: UInt64 = 0
            for byte in bytes[start..<start + 8] { bits = bits << 8 | UInt64(byte) }
            let value = Double(bitPattern: bits)
            guard let exact = Int64(exactly: value) else { return nil }
            values.append(exact)
        }
        return BucketStats(
            count: values[0], followups: values[1], earliest: Timestamp(microseconds: values[2]),
            latest: Timestamp(microseconds: values[3]), answeredTrue: values[4], followupsAnsweredTrue: values[5])
    }

    // MARK: Encoding (the same bytes the function library writes)

    static let statsByteCount = 48

    /// `>dddddd`: count, followups, first, last, answered True, their followups.
    static func write(stats: BucketStats, to buffer: inout ByteBuffer) {
        buffer.writeMultipleIntegers(
            Double(stats.count).bitPattern, Double(stats.followups).bitPattern, Double(stats.earliest?.microseconds ?? 0).bitPattern,
            Double(stats.latest?.microseconds ?? 0).bitPattern, Double(stats.answeredTrue).bitPattern,
            Double(stats.followupsAnsweredTrue).bitPattern)
    }

    /// `>I5 I3`: the 64-bit `second << 24 | offset`, big-endian.
    static func write(_ time: Timestamp, to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt64(truncatingIfNeeded: time.second) << 24 | UInt64(time.offset))
    }

    /// The bytes of a record (`write(record:to:)`).
    static func recordByteCount(_ record: AggregateModel.Record) -> Int { 9 + timeByteCount * record.followups.count }

    /// An initial's record: `>I5 I3 B` (time, symbol·2+guess), then its followups.
    static func write(record: AggregateModel.Record, to buffer: inout ByteBuffer) {
        write(record.receivedAt, to: &buffer)
        buffer.writeInteger(UInt8(record.symbol.index * 2 + (record.guess ? 1 : 0)))
        for followup in record.followups { write(followup, to: &buffer) }
    }

    /// A request with only followups so far: the orphan marker, then their times.
    static func write(orphanFollowups followups: [Timestamp], to buffer: inout ByteBuffer) {
        buffer.writeInteger(orphanMarker)
        for followup in followups { write(followup, to: &buffer) }
    }
}

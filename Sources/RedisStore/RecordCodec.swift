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

    // MARK: Encoding (the same bytes the function library writes)

    static func append(_ time: Timestamp, to bytes: inout [UInt8]) {
        let second = UInt64(time.second)
        for shift in stride(from: 32, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: second >> UInt64(shift))) }
        let offset = UInt32(time.offset)
        for shift in stride(from: 16, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: offset >> UInt32(shift))) }
    }

    static func encode(record: AggregateModel.Record) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(9 + 8 * record.followups.count)
        append(record.receivedAt, to: &bytes)
        bytes.append(UInt8(record.symbol.index * 2 + (record.guess ? 1 : 0)))
        for followup in record.followups { append(followup, to: &bytes) }
        return bytes
    }

    static func encode(orphanFollowups: [Timestamp]) -> [UInt8] {
        var bytes = [orphanMarker]
        for followup in orphanFollowups { append(followup, to: &bytes) }
        return bytes
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

    /// `>dddddd`: count, followups, first, last, answered True, their followups.
    static func encode(stats: BucketStats) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(48)
        let values = [
            Double(stats.count), Double(stats.followups), Double(stats.earliest?.microseconds ?? 0),
            Double(stats.latest?.microseconds ?? 0), Double(stats.answeredTrue), Double(stats.followupsAnsweredTrue),
        ]
        for value in values {
            let bits = value.bitPattern
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
        }
        return bytes
    }
}

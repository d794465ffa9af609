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
}

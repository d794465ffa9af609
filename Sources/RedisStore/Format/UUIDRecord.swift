import NIOCore
import SymbolStreamCore

/// A request's record in the uuid map: an initial's is `RECORD_FORMAT`
/// (`>I5 I3 B`: its time, then symbol·2 + guess), followed by its followups'
/// times; a request with only followups so far is the orphan marker followed
/// by their times.
enum UUIDRecord {
    /// The initial's time and flags, before the followups.
    static let headerByteCount = PackedTime.byteCount + 1
    /// First byte of a record whose followups wait for their initial.
    static let orphanMarker: UInt8 = 0xFF

    static func decode(_ bytes: [UInt8], id: RequestUUID) -> RequestRecord? {
        if bytes.first == orphanMarker {
            guard let followups = PackedTime.decodeAll(bytes.dropFirst()) else { return nil }
            return RequestRecord(id: id, symbol: nil, guess: nil, receivedAt: nil, followups: followups)
        }
        guard bytes.count >= headerByteCount, let followups = PackedTime.decodeAll(bytes[headerByteCount...]) else { return nil }
        let flags = Int(bytes[PackedTime.byteCount])
        guard let symbol = Symbol(index: flags >> 1) else { return nil }
        return RequestRecord(
            id: id, symbol: symbol, guess: flags & 1 == 1, receivedAt: PackedTime.decode(bytes[0..<PackedTime.byteCount]),
            followups: followups)
    }

    static func byteCount(_ record: AggregateModel.Record) -> Int { headerByteCount + PackedTime.byteCount * record.followups.count }

    static func write(_ record: AggregateModel.Record, to buffer: inout ByteBuffer) {
        PackedTime.write(record.receivedAt, to: &buffer)
        buffer.writeInteger(UInt8(record.symbol.index * 2 + (record.guess ? 1 : 0)))
        for followup in record.followups { PackedTime.write(followup, to: &buffer) }
    }

    static func orphanByteCount(_ followups: [Timestamp]) -> Int { 1 + PackedTime.byteCount * followups.count }

    static func writeOrphan(_ followups: [Timestamp], to buffer: inout ByteBuffer) {
        buffer.writeInteger(orphanMarker)
        for followup in followups { PackedTime.write(followup, to: &buffer) }
    }
}

import SymbolStreamCore

/// An entry of the event log (one per ingest batch), as `ss_ingest` writes
/// it: `e`, the batch's events (an `IngestArgument` record each, then `>I2`
/// followups adopted, 0 for a followup; a followup counted against its
/// initial carries that initial's symbol), and `a`, only when some initial
/// adopted followups logged before it, their times (`PackedTime`), initial
/// by initial in `e`'s order.
enum LogEntryFormat {
    static let eventByteCount = IngestArgument.eventByteCount + 2

    /// Decodes the events of one log entry; `adoptions` nil when the entry
    /// has no `a` field (as entries written before it existed). Nil if malformed.
    static func decode(streamID: String, events bytes: [UInt8], adoptions: [UInt8]?) -> [LoggedEvent]? {
        guard !bytes.isEmpty, bytes.count % eventByteCount == 0 else { return nil }
        if let adoptions, adoptions.count % PackedTime.byteCount != 0 { return nil }
        var adoptionStart = 0
        var events = [LoggedEvent]()
        events.reserveCapacity(bytes.count / eventByteCount)
        // Read in place: millions of events pass here on their way to MariaDB.
        let decoded: Bool = bytes.withUnsafeBytes { raw in
            func uint64(_ offset: Int) -> UInt64 { UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
            var index = 0
            while index < raw.count {
                defer { index += eventByteCount }
                let id = RequestUUID(high: uint64(index + 1), low: uint64(index + 9))
                let symbolByte = raw[index + 17]
                let symbol = (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(symbolByte) ? Symbol(index: Int(symbolByte) - 97) : nil
                guard symbol != nil || symbolByte == UInt8(ascii: "-") else { return false }
                let receivedAt = PackedTime.time(of: uint64(index + 19))
                let adopted = Int(raw[index + 27]) << 8 | Int(raw[index + 28])
                switch (raw[index], raw[index + 18]) {
                case (UInt8(ascii: "i"), let guess) where symbol != nil && (guess == UInt8(ascii: "0") || guess == UInt8(ascii: "1")):
                    var followups: [Timestamp]? = []
                    if adopted > 0 {
                        if let adoptions {
                            let end = adoptionStart + adopted * PackedTime.byteCount
                            guard end <= adoptions.count, let times = PackedTime.decodeAll(adoptions[adoptionStart..<end]) else { return false }
                            followups = times
                            adoptionStart = end
                        } else {
                            followups = nil
                        }
                    }
                    events.append(
                        LoggedEvent(
                            streamID: streamID, kind: .initial, id: id, symbol: symbol, guess: guess == UInt8(ascii: "1"),
                            receivedAt: receivedAt, adopted: adopted, adoptedFollowups: followups))
                case (UInt8(ascii: "f"), UInt8(ascii: "-")) where adopted == 0:
                    events.append(
                        LoggedEvent(streamID: streamID, kind: .followup, id: id, symbol: symbol, guess: nil, receivedAt: receivedAt, adopted: 0))
                default:
                    return false
                }
            }
            return true
        }
        guard decoded else { return nil }
        // Every adopted followup's time belongs to an initial of this entry.
        if let adoptions, adoptionStart != adoptions.count { return nil }
        return events
    }

    /// The `e` and `a` fields `ss_ingest` would write for these events (the
    /// inverse of `decode`, for tests and tools); `a` is nil when no initial
    /// carries adopted followups' times.
    static func encode(_ events: [LoggedEvent]) -> (events: [UInt8], adoptions: [UInt8]?) {
        var packed = [UInt8]()
        var adoptions = [UInt8]()
        var hasAdoptions = false
        for event in events {
            packed.append(event.kind == .initial ? UInt8(ascii: "i") : UInt8(ascii: "f"))
            event.id.append(to: &packed)
            packed.append(event.symbol?.asciiByte ?? UInt8(ascii: "-"))
            packed.append(event.guess.map { $0 ? UInt8(ascii: "1") : UInt8(ascii: "0") } ?? UInt8(ascii: "-"))
            PackedTime.append(event.receivedAt, to: &packed)
            packed.append(UInt8(truncatingIfNeeded: event.adopted >> 8))
            packed.append(UInt8(truncatingIfNeeded: event.adopted))
            if let followups = event.adoptedFollowups, !followups.isEmpty {
                hasAdoptions = true
                for time in followups { PackedTime.append(time, to: &adoptions) }
            }
        }
        return (packed, hasAdoptions ? adoptions : nil)
    }
}

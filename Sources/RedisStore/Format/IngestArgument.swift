import SymbolStreamCore

/// `ss_ingest`'s packed argument and reply.
///
/// The argument is one string of `INGEST_FORMAT` records (one argument per
/// batch rather than six per event: the caller builds one buffer and Redis
/// converts one Lua string): kind `i`/`f` (`k`, the library's `KEYED`, for a
/// followup with an idempotency key), the 16 uuid bytes, the symbol (`a`…`z`,
/// `-` for a followup), the guess (`0`/`1`, `-`), the receive time
/// (`PackedTime`). A second string holds the keyed followups' digests
/// (`IdempotencyDigest`), in order. The reply holds 2 bytes per event: an
/// `Outcome` code, then its value.
enum IngestArgument {
    static let eventByteCount = 1 + 16 + 1 + 1 + PackedTime.byteCount
    static let keyedKind = UInt8(ascii: "k")

    /// Outcome codes of `ss_ingest`'s reply, as the function library numbers them.
    enum Outcome: UInt8, CaseIterable {
        /// A new initial (value 0).
        case new = 1
        /// A retried initial (value: the original guess, 0/1).
        case retry = 2
        /// A uuid already used with another symbol (value: that symbol's index).
        case conflict = 3
        /// A followup counted against its initial (value: the initial's symbol index).
        case attributed = 4
        /// A followup waiting for its initial (value 0).
        case pending = 5
        /// A keyed followup this uuid already sent with that key within the
        /// window: nothing counted or stored (value 0).
        case replayed = 6
    }

    /// The events argument and the digests argument of one call.
    static func encode(_ events: some Collection<IngestEvent>) -> (events: [UInt8], digests: [UInt8]) {
        var packed = [UInt8]()
        var digests = [UInt8]()
        packed.reserveCapacity(eventByteCount * events.count)
        for event in events {
            switch event {
            case .initial(let initial):
                packed.append(UInt8(ascii: "i"))
                initial.id.append(to: &packed)
                packed.append(initial.symbol.asciiByte)
                packed.append(initial.guess ? UInt8(ascii: "1") : UInt8(ascii: "0"))
                PackedTime.append(initial.receivedAt, to: &packed)
            case .followup(let followup):
                if let key = followup.idempotencyKey {
                    packed.append(keyedKind)
                    digests += IdempotencyDigest.digest(key, of: followup.id)
                } else {
                    packed.append(UInt8(ascii: "f"))
                }
                followup.id.append(to: &packed)
                packed.append(UInt8(ascii: "-"))
                packed.append(UInt8(ascii: "-"))
                PackedTime.append(followup.receivedAt, to: &packed)
            }
        }
        return (packed, digests)
    }

    /// The events of a packed argument (the inverse of `encode`, but for the
    /// keys: a keyed followup comes back without its key, and its position
    /// in `keyed`); nil if malformed.
    static func decode(_ bytes: [UInt8]) -> (events: [IngestEvent], keyed: [Int])? {
        guard bytes.count % eventByteCount == 0 else { return nil }
        var keyed = [Int]()
        var events = [IngestEvent]()
        var index = 0
        while index < bytes.count {
            defer { index += eventByteCount }
            guard let id = RequestUUID(bytes: bytes[index + 1..<index + 17]) else { return nil }
            let time = PackedTime.decode(bytes[index + 19..<index + eventByteCount])
            switch (bytes[index], bytes[index + 17], bytes[index + 18]) {
            case (UInt8(ascii: "i"), let letter, let guess) where guess == UInt8(ascii: "0") || guess == UInt8(ascii: "1"):
                guard let symbol = Symbol(index: Int(letter) - Int(UInt8(ascii: "a"))) else { return nil }
                events.append(.initial(InitialEvent(id: id, symbol: symbol, guess: guess == UInt8(ascii: "1"), receivedAt: time)))
            case (let kind, UInt8(ascii: "-"), UInt8(ascii: "-")) where kind == UInt8(ascii: "f") || kind == keyedKind:
                if kind == keyedKind { keyed.append(events.count) }
                events.append(.followup(FollowupEvent(id: id, receivedAt: time)))
            default:
                return nil
            }
        }
        return (events, keyed)
    }

    /// The outcome of each event, in order; nil if the reply does not fit the events.
    static func decodeOutcomes(_ reply: [UInt8], for events: some Collection<IngestEvent>) -> [IngestOutcome]? {
        guard reply.count == 2 * events.count else { return nil }
        var outcomes = [IngestOutcome]()
        outcomes.reserveCapacity(events.count)
        var position = 0
        for event in events {
            defer { position += 2 }
            let value = Int(reply[position + 1])
            switch (event, Outcome(rawValue: reply[position])) {
            case (.initial(let initial), .new): outcomes.append(.initial(.accepted(guess: initial.guess)))
            case (.initial, .retry): outcomes.append(.initial(.retry(guess: value == 1)))
            case (.initial, .conflict):
                guard let symbol = Symbol(index: value) else { return nil }
                outcomes.append(.initial(.conflict(existing: symbol)))
            case (.followup, .attributed):
                guard let symbol = Symbol(index: value) else { return nil }
                outcomes.append(.followup(.attributed(symbol)))
            case (.followup, .pending): outcomes.append(.followup(.pending))
            case (.followup(let followup), .replayed) where followup.idempotencyKey != nil: outcomes.append(.followup(.replayed))
            default: return nil
            }
        }
        return outcomes
    }
}

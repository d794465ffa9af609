import SymbolStreamCore

/// Random, realistic event sequences for store tests: mostly fresh initials,
/// followups on some, retries, conflicting retries, followups that arrive
/// before their initial, times spread over several days and down to the
/// microsecond, and now and then a time slightly out of order (two server
/// threads racing to Redis), but never one time twice.
///
/// With `idempotencyKeys`, half the followups carry an idempotency key, and
/// now and then one of them is sent again with its key (a client retrying
/// after a timeout), seconds to days later: within the window and beyond.
package struct Traffic {
    package var generator: SplitMix64
    package var time: Int64
    package var idempotencyKeys = false
    private var keyed: [FollowupEvent] = []
    private var seen: [(RequestUUID, Symbol)] = []
    private var next: UInt64 = 0
    private var waiting: [RequestUUID] = []
    private var usedTimes: Set<Int64> = []

    package init(seed: UInt64, start: Int64 = 1_498_600_000_000_000) {
        self.generator = SplitMix64(seed: seed)
        self.time = start
    }

    package mutating func events(_ count: Int) -> [IngestEvent] {
        (0..<count).map { _ in event() }
    }

    package mutating func event() -> IngestEvent {
        // Gaps from a microsecond to hours, so events share seconds, minutes,
        // hours and days in every combination.
        let gapScale: Int64 = [3, 50, 2_000, 400_000, 30_000_000, 3_600_000_000][Int.random(in: 0..<6, using: &generator)]
        time += Int64.random(in: 0...gapScale, using: &generator)
        let jitter = Int.random(in: 0..<20, using: &generator) == 0 ? Int64.random(in: -40...0, using: &generator) : 0
        // Like the server's EventClock: never the same microsecond twice.
        var microseconds = time + jitter
        while !usedTimes.insert(microseconds).inserted { microseconds += 1 }
        let at = Timestamp(microseconds: microseconds)
        if idempotencyKeys, !keyed.isEmpty, Int.random(in: 0..<8, using: &generator) == 0 {
            // A retry of a keyed followup (recent ones more often).
            var retry = keyed[max(0, keyed.count - 1 - Int.random(in: 0..<min(keyed.count, 20), using: &generator))]
            retry.receivedAt = at
            return .followup(retry)
        }
        switch Int.random(in: 0..<100, using: &generator) {
        case 0..<55 where !waiting.isEmpty && Int.random(in: 0..<4, using: &generator) == 0:
            // The initial of a request whose followups came first.
            let id = waiting.removeFirst()
            let symbol = Symbol.all.randomElement(using: &generator)!
            seen.append((id, symbol))
            return .initial(InitialEvent(id: id, symbol: symbol, guess: Bool.random(using: &generator), receivedAt: at))
        case 0..<55:
            let id = freshID()
            let symbol = Symbol.all.randomElement(using: &generator)!
            seen.append((id, symbol))
            return .initial(InitialEvent(id: id, symbol: symbol, guess: Bool.random(using: &generator), receivedAt: at))
        case 55..<80 where !seen.isEmpty:
            return .followup(keyedNowAndThen(FollowupEvent(id: seen.randomElement(using: &generator)!.0, receivedAt: at)))
        case 80..<86 where !seen.isEmpty:
            let (id, symbol) = seen.randomElement(using: &generator)!
            return .initial(InitialEvent(id: id, symbol: symbol, guess: Bool.random(using: &generator), receivedAt: at))  // retry
        case 86..<89 where !seen.isEmpty:
            let (id, symbol) = seen.randomElement(using: &generator)!
            let other = Symbol(index: (symbol.index + 1 + Int.random(in: 0..<25, using: &generator)) % 26)!
            return .initial(InitialEvent(id: id, symbol: other, guess: true, receivedAt: at))  // conflict
        default:
            // A followup before its initial.
            let id = waiting.first.flatMap { Int.random(in: 0..<3, using: &generator) == 0 ? $0 : nil } ?? freshID()
            if !waiting.contains(id) { waiting.append(id) }
            return .followup(keyedNowAndThen(FollowupEvent(id: id, receivedAt: at)))
        }
    }

    /// With `idempotencyKeys`, every other followup gets a key of its own
    /// (now and then one a followup of another uuid used: keys are per uuid).
    private mutating func keyedNowAndThen(_ event: FollowupEvent) -> FollowupEvent {
        guard idempotencyKeys, Bool.random(using: &generator) else { return event }
        var event = event
        let reused = !keyed.isEmpty && Int.random(in: 0..<10, using: &generator) == 0
        event.idempotencyKey = reused ? keyed.randomElement(using: &generator)!.idempotencyKey : IdempotencyKey("key-\(next)-\(generator.next() % 1000)")!
        keyed.append(event)
        return event
    }

    private mutating func freshID() -> RequestUUID {
        next += 1
        return RequestUUID(high: generator.next() & ~0xf000 | 0x4000, low: next)
    }
}

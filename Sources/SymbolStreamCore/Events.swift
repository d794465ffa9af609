/// An event a client asks to record, once validated: what `POST /initial` and
/// `POST /followup` take (and each event of a `/stream` message), before the
/// server adds the guess and the receive time.
package enum IngestRequest: Sendable, Hashable {
    case initial(RequestUUID, Symbol)
    /// With a key, a retry of the same followup (same uuid, same key) within
    /// the window counts nothing.
    case followup(RequestUUID, idempotencyKey: IdempotencyKey? = nil)

    package var id: RequestUUID {
        switch self {
        case .initial(let id, _), .followup(let id, _): id
        }
    }
}

/// `POST /initial`: a uuid, its symbol, the server's guess and receive time.
package struct InitialEvent: Sendable, Hashable {
    package var id: RequestUUID
    package var symbol: Symbol
    package var guess: Bool
    package var receivedAt: Timestamp

    package init(id: RequestUUID, symbol: Symbol, guess: Bool, receivedAt: Timestamp) {
        self.id = id
        self.symbol = symbol
        self.guess = guess
        self.receivedAt = receivedAt
    }
}

/// `POST /followup`: a uuid and the server's receive time, and the client's
/// idempotency key if it sent one (remembered for a window, never archived).
package struct FollowupEvent: Sendable, Hashable {
    package var id: RequestUUID
    package var receivedAt: Timestamp
    package var idempotencyKey: IdempotencyKey?

    package init(id: RequestUUID, receivedAt: Timestamp, idempotencyKey: IdempotencyKey? = nil) {
        self.id = id
        self.receivedAt = receivedAt
        self.idempotencyKey = idempotencyKey
    }
}

/// Either kind of event, for batched ingest.
package enum IngestEvent: Sendable, Hashable {
    case initial(InitialEvent)
    case followup(FollowupEvent)

    package var id: RequestUUID {
        switch self {
        case .initial(let event): event.id
        case .followup(let event): event.id
        }
    }

    package var receivedAt: Timestamp {
        switch self {
        case .initial(let event): event.receivedAt
        case .followup(let event): event.receivedAt
        }
    }
}

package enum InitialOutcome: Sendable, Hashable {
    /// A new event: counted and stored; reply with this guess.
    case accepted(guess: Bool)
    /// The uuid was already seen with the same symbol: nothing stored; reply with
    /// the original guess.
    case retry(guess: Bool)
    /// The uuid was already seen with another symbol: rejected (409).
    case conflict(existing: Symbol)
}

package enum FollowupOutcome: Sendable, Hashable {
    /// Counted against the symbol of its initial.
    case attributed(Symbol)
    /// Its initial has not arrived yet: kept, and attributed when it does.
    case pending
    /// A retry: a followup of this uuid with the same idempotency key was
    /// counted within the window. Nothing is stored; the answer is the same.
    case replayed
}

package enum IngestOutcome: Sendable, Hashable {
    case initial(InitialOutcome)
    case followup(FollowupOutcome)
}

/// One request as a whole: the initial with its followups (`GET /requests/{uuid}`).
/// `symbol`, `guess` and `receivedAt` are nil while only followups have arrived.
package struct RequestRecord: Sendable, Hashable {
    package var id: RequestUUID
    package var symbol: Symbol?
    package var guess: Bool?
    package var receivedAt: Timestamp?
    /// Followup receive times, in chronological order.
    package var followups: [Timestamp]

    package init(id: RequestUUID, symbol: Symbol?, guess: Bool?, receivedAt: Timestamp?, followups: [Timestamp]) {
        self.id = id
        self.symbol = symbol
        self.guess = guess
        self.receivedAt = receivedAt
        self.followups = followups.sorted()
    }
}

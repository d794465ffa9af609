import SymbolStreamCore

/// One entry of the event log, as the archiver receives it.
package struct LoggedEvent: Sendable, Hashable {
    package enum Kind: String, Sendable, Hashable {
        case initial
        case followup
    }

    package var streamID: String
    package var kind: Kind
    package var id: RequestUUID
    /// Nil for a followup whose initial had not arrived when it was logged.
    package var symbol: Symbol?
    /// Initials only.
    package var guess: Bool?
    package var receivedAt: Timestamp
    /// For an initial: how many earlier followups it adopted (their rows get
    /// its symbol).
    package var adopted: Int
    /// The receive times of those adopted followups, so that their rows can
    /// be written with the symbol by this event's batch alone. Nil when the
    /// entry was logged before the log carried them (`adopted > 0` then needs
    /// the followups' rows looked up in the database).
    package var adoptedFollowups: [Timestamp]?

    package init(
        streamID: String, kind: Kind, id: RequestUUID, symbol: Symbol?, guess: Bool?, receivedAt: Timestamp, adopted: Int,
        adoptedFollowups: [Timestamp]? = []
    ) {
        self.streamID = streamID
        self.kind = kind
        self.id = id
        self.symbol = symbol
        self.guess = guess
        self.receivedAt = receivedAt
        self.adopted = adopted
        self.adoptedFollowups = adoptedFollowups
    }

    /// An initial that adopted followups whose times the log does not say.
    package var needsFollowupLookup: Bool { adopted > 0 && adoptedFollowups == nil }
}

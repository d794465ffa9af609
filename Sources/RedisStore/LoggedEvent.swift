import SymbolStreamCore

/// One entry of the event log, as the archiver receives it.
public struct LoggedEvent: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case initial
        case followup
    }

    public var streamID: String
    public var kind: Kind
    public var id: RequestUUID
    /// Nil for a followup whose initial had not arrived when it was logged.
    public var symbol: Symbol?
    /// Initials only.
    public var guess: Bool?
    public var receivedAt: Timestamp
    /// For an initial: how many earlier followups it adopted (their rows get
    /// its symbol).
    public var adopted: Int
    /// The receive times of those adopted followups, so that their rows can
    /// be written with the symbol by this event's batch alone. Nil when the
    /// entry was logged before the log carried them (`adopted > 0` then needs
    /// the followups' rows looked up in the database).
    public var adoptedFollowups: [Timestamp]?

    public init(
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
    public var needsFollowupLookup: Bool { adopted > 0 && adoptedFollowups == nil }
}

import SymbolStreamCore

/// The state of the path from Redis to MariaDB, as Redis sees it.
public struct PipelineStatus: Sendable, Hashable {
    /// Events logged but not yet archived.
    public var backlog: Int64
    /// Receive time of the oldest event not yet archived.
    public var oldestUnarchived: Timestamp?
    /// Events archived since this Redis was set up.
    public var archived: Int64
    /// Requests whose followups wait for their initial.
    public var waitingRequests: Int64

    public init(backlog: Int64, oldestUnarchived: Timestamp?, archived: Int64, waitingRequests: Int64) {
        self.backlog = backlog
        self.oldestUnarchived = oldestUnarchived
        self.archived = archived
        self.waitingRequests = waitingRequests
    }

    /// How far the archive is behind `now` (zero when nothing waits).
    public func archiveLag(now: Timestamp) -> Double {
        guard let oldestUnarchived else { return 0 }
        return max(0, Double(now.microseconds - oldestUnarchived.microseconds) / 1_000_000)
    }
}

/// One entry of the event log, as the archiver receives it.
public struct LoggedEvent: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case initial
        case followup
    }

    public var streamID: String
    public var kind: Kind
    public var id: RequestID
    /// Nil for a followup whose initial had not arrived when it was logged.
    public var symbol: Symbol?
    /// Initials only.
    public var guess: Bool?
    public var receivedAt: Timestamp
    /// For an initial: how many earlier followups it adopted (their rows get
    /// its symbol).
    public var adopted: Int

    public init(
        streamID: String, kind: Kind, id: RequestID, symbol: Symbol?, guess: Bool?, receivedAt: Timestamp, adopted: Int
    ) {
        self.streamID = streamID
        self.kind = kind
        self.id = id
        self.symbol = symbol
        self.guess = guess
        self.receivedAt = receivedAt
        self.adopted = adopted
    }

    /// Decodes the fields the function library writes; nil if any is missing
    /// or malformed.
    public init?(streamID: String, fields: [String: [UInt8]]) {
        guard let kindField = fields["k"], let uuid = fields["u"], let id = RequestID(bytes: uuid),
            let timeText = fields["t"].map({ String(decoding: $0, as: UTF8.self) }),
            let microseconds = Int64(timeText)
        else { return nil }
        let symbolText = fields["s"].map { String(decoding: $0, as: UTF8.self) } ?? ""
        let symbol = Symbol(parsing: symbolText)
        guard symbolText.isEmpty || symbol != nil else { return nil }
        switch kindField {
        case Array("i".utf8):
            guard let symbol, let guessField = fields["g"], guessField == Array("0".utf8) || guessField == Array("1".utf8)
            else { return nil }
            let adopted = fields["a"].flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 0
            self.init(
                streamID: streamID, kind: .initial, id: id, symbol: symbol, guess: guessField == Array("1".utf8),
                receivedAt: Timestamp(microseconds: microseconds), adopted: adopted)
        case Array("f".utf8):
            self.init(
                streamID: streamID, kind: .followup, id: id, symbol: symbol, guess: nil,
                receivedAt: Timestamp(microseconds: microseconds), adopted: 0)
        default:
            return nil
        }
    }
}

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

    /// Bytes per event in a log entry's `e` field.
    static let packedByteCount = 29

    /// Decodes the packed events of one log entry (see `RedisFunctions`):
    /// kind, uuid, symbol, guess, `>I5 I3` time, `>I2` adopted. Nil if malformed.
    public static func decode(streamID: String, packed bytes: [UInt8]) -> [LoggedEvent]? {
        guard !bytes.isEmpty, bytes.count % packedByteCount == 0 else { return nil }
        var events = [LoggedEvent]()
        events.reserveCapacity(bytes.count / packedByteCount)
        var index = 0
        while index < bytes.count {
            let event = bytes[index..<index + packedByteCount]
            index += packedByteCount
            let base = event.startIndex
            guard let id = RequestID(bytes: event[(base + 1)..<(base + 17)]) else { return nil }
            let symbolByte = event[base + 17]
            let symbol = Symbol(parsing: String(UnicodeScalar(symbolByte)))
            guard symbol != nil || symbolByte == UInt8(ascii: "-") else { return nil }
            let receivedAt = RecordCodec.time(event[(base + 19)..<(base + 27)])
            let adopted = Int(event[base + 27]) << 8 | Int(event[base + 28])
            switch (event[base], event[base + 18]) {
            case (UInt8(ascii: "i"), let guess) where symbol != nil && (guess == UInt8(ascii: "0") || guess == UInt8(ascii: "1")):
                events.append(
                    LoggedEvent(
                        streamID: streamID, kind: .initial, id: id, symbol: symbol, guess: guess == UInt8(ascii: "1"),
                        receivedAt: receivedAt, adopted: adopted))
            case (UInt8(ascii: "f"), UInt8(ascii: "-")) where adopted == 0:
                events.append(
                    LoggedEvent(streamID: streamID, kind: .followup, id: id, symbol: symbol, guess: nil, receivedAt: receivedAt, adopted: 0))
            default:
                return nil
            }
        }
        return events
    }
}

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
    /// The receive times of those adopted followups, so that their rows can
    /// be written with the symbol by this event's batch alone. Nil when the
    /// entry was logged before the log carried them (`adopted > 0` then needs
    /// the followups' rows looked up in the database).
    public var adoptedFollowups: [Timestamp]?

    public init(
        streamID: String, kind: Kind, id: RequestID, symbol: Symbol?, guess: Bool?, receivedAt: Timestamp, adopted: Int,
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

    /// Bytes per event in a log entry's `e` field.
    static let packedByteCount = 29

    /// Decodes the packed events of one log entry (see `RedisFunctions`):
    /// kind, uuid, symbol, guess, `>I5 I3` time, `>I2` adopted; and the times
    /// of the adopted followups (the `a` field: nil when the entry has none,
    /// as entries written before it existed). Nil if malformed.
    public static func decode(streamID: String, packed bytes: [UInt8], adoptions: [UInt8]? = nil) -> [LoggedEvent]? {
        guard !bytes.isEmpty, bytes.count % packedByteCount == 0 else { return nil }
        if let adoptions, adoptions.count % RecordCodec.timeByteCount != 0 { return nil }
        var adoptionStart = 0
        var events = [LoggedEvent]()
        events.reserveCapacity(bytes.count / packedByteCount)
        // Read in place: millions of events pass here on their way to MariaDB.
        let decoded: Bool = bytes.withUnsafeBytes { raw in
            func uint64(_ offset: Int) -> UInt64 { UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
            var index = 0
            while index < raw.count {
                defer { index += packedByteCount }
                let id = RequestID(high: uint64(index + 1), low: uint64(index + 9))
                let symbolByte = raw[index + 17]
                let symbol = (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(symbolByte) ? Symbol(index: Int(symbolByte) - 97) : nil
                guard symbol != nil || symbolByte == UInt8(ascii: "-") else { return false }
                // `>I5 I3`: the second in the high 40 bits, the offset in the low 24.
                let time = uint64(index + 19)
                let receivedAt = Timestamp(second: Int64(time >> 24), offset: Int64(time & 0xFF_FFFF))
                let adopted = Int(raw[index + 27]) << 8 | Int(raw[index + 28])
                switch (raw[index], raw[index + 18]) {
                case (UInt8(ascii: "i"), let guess) where symbol != nil && (guess == UInt8(ascii: "0") || guess == UInt8(ascii: "1")):
                    var followups: [Timestamp]? = []
                    if adopted > 0 {
                        if let adoptions {
                            let end = adoptionStart + adopted * RecordCodec.timeByteCount
                            guard end <= adoptions.count, let times = RecordCodec.times(adoptions[adoptionStart..<end]) else { return false }
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
}

import MariaDBClient
import RedisStore
import SymbolStreamCore

/// Writes one batch of logged events in one transaction: a bulk insert that
/// leaves rows already present alone (a redelivered batch changes nothing)
/// but gives a followup row its symbol once known.
///
/// A batch needs no other batch: an initial that adopted followups logged
/// before it carries their times, and its batch writes those followups' rows
/// with the symbol itself (an upsert: inserted if their own batch has not
/// committed yet, completed if it has). So batches may commit in any order,
/// and several at once.
///
/// Two kinds of event still look rows up in the table: a followup logged
/// before its initial (whose initial may have been logged, and archived,
/// without the times of what it adopted, by an earlier version), and such an
/// initial from before the log carried those times
/// (`LoggedEvent.needsFollowupLookup`). A lookup sees committed rows only,
/// and one beside the upsert of the same rows could deadlock: a batch with
/// either is written alone, after every batch before it
/// (`needsExclusiveWrite`). Both are rare: early followups are.
package enum ArchiveWriter {
    /// `kind` is bound as its ENUM index (1 initial, 2 followup).
    static let insert = """
        INSERT INTO events (received_at, uuid, kind, symbol, guess) VALUES (?, ?, ?, ?, ?)
        ON DUPLICATE KEY UPDATE symbol = COALESCE(events.symbol, VALUES(symbol))
        """

    static let attribute = """
        UPDATE events AS f JOIN events AS i ON i.uuid = f.uuid AND i.kind = 'initial'
        SET f.symbol = i.symbol
        WHERE f.uuid = ? AND f.kind = 'followup' AND f.symbol IS NULL
        """

    /// An event's row as text values, the way SQL shows it (for logs and
    /// dead letters; `rows(_:)` is what is written).
    package static func row(_ event: LoggedEvent) -> [MariaDBValue] {
        [
            .string(event.receivedAt.description),
            .string(event.id.description),
            .string(event.kind.rawValue),
            event.symbol.map { .string($0.letter) } ?? .null,
            event.guess.map { .int($0 ? 1 : 0) } ?? .null,
        ]
    }

    /// Whether the batch must not overlap any other (see the type's comment).
    package static func needsExclusiveWrite(_ events: [LoggedEvent]) -> Bool {
        events.contains(where: needsLookup)
    }

    static func needsLookup(_ event: LoggedEvent) -> Bool {
        (event.kind == .followup && event.symbol == nil) || event.needsFollowupLookup
    }

    /// The rows of `events`: one per event, plus one per followup an initial
    /// adopted (its time, the initial's uuid and symbol). Datetimes go as
    /// binary times and uuids as their 16 bytes, which MariaDB's UUID type
    /// stores as they are: nothing is formatted here or parsed there.
    package static func rows(_ events: [LoggedEvent]) -> MariaDBBatch {
        // A value the UUID type cannot store it would read as another one
        // from its bytes; as text MariaDB refuses it, like any wrong value.
        let binary = events.allSatisfy { UUIDColumn.stores($0.id) }
        var batch = MariaDBBatch([.dateTime, binary ? .binary : .text, .int, .text, .int], reservingRows: events.count)
        for event in events {
            append(
                to: &batch, binary, at: event.receivedAt, id: event.id, isInitial: event.kind == .initial, symbol: event.symbol,
                guess: event.guess)
            for followup in event.adoptedFollowups ?? [] {
                append(to: &batch, binary, at: followup, id: event.id, isInitial: false, symbol: event.symbol, guess: nil)
            }
        }
        return batch
    }

    private static func append(
        to batch: inout MariaDBBatch, _ binary: Bool, at time: Timestamp, id: RequestUUID, isInitial: Bool, symbol: Symbol?, guess: Bool?
    ) {
        batch.append(time.microseconds)
        if binary {
            withUnsafeBytes(of: (id.high.bigEndian, id.low.bigEndian)) { batch.append(bytes: $0) }
        } else {
            batch.append(text: id.description)
        }
        batch.append(isInitial ? 1 : 2)
        if let symbol {
            withUnsafeBytes(of: symbol.asciiByte) { batch.append(bytes: $0) }
        } else {
            batch.append(bytes: nil)
        }
        batch.append(guess.map { $0 ? 1 : 0 })
        batch.endRow()
    }

    /// - Returns: the number of rows inserted or changed.
    @discardableResult
    package static func write(_ events: [LoggedEvent], on connection: MariaDBConnection) throws -> UInt64 {
        try write(events, rows: rows(events), on: connection)
    }

    /// The same with the rows built ahead (`rows(_:)`), e.g. while another batch is written.
    @discardableResult
    package static func write(_ events: [LoggedEvent], rows: MariaDBBatch, on connection: MariaDBConnection) throws -> UInt64 {
        guard !events.isEmpty else { return 0 }
        // Followups logged before their initial, whose initial may be in the
        // table already, and initials from before adopted followups' times
        // were logged: their followups get the symbol from the table.
        var lookups = Set<RequestUUID>()
        for event in events where needsLookup(event) { lookups.insert(event.id) }
        try connection.begin()
        do {
            var changed = try connection.executeBatch(insert, rows)
            if !lookups.isEmpty {
                changed += try connection.executeBatch(attribute, rows: lookups.sorted().map { [.string($0.description)] })
            }
            try connection.commit()
            return changed
        } catch {
            try? connection.rollback()
            throw error
        }
    }
}

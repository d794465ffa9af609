import MariaDBClient
import RedisStore
import SymbolStreamCore

/// Writes one batch of logged events in one transaction: a bulk insert that
/// ignores rows already present (a redelivered batch changes nothing), then
/// gives followups the symbol of their initial where it is now known.
public enum ArchiveWriter {
    static let insert = """
        INSERT INTO events (received_at, uuid, kind, symbol, guess) VALUES (?, ?, ?, ?, ?)
        ON DUPLICATE KEY UPDATE symbol = COALESCE(events.symbol, VALUES(symbol))
        """

    static let attribute = """
        UPDATE events AS f JOIN events AS i ON i.uuid = f.uuid AND i.kind = 'initial'
        SET f.symbol = i.symbol
        WHERE f.uuid = ? AND f.kind = 'followup' AND f.symbol IS NULL
        """

    public static func row(_ event: LoggedEvent) -> [MariaDBValue] {
        [
            .string(event.receivedAt.description),
            .string(event.id.description),
            .string(event.kind.rawValue),
            event.symbol.map { .string($0.letter) } ?? .null,
            event.guess.map { .int($0 ? 1 : 0) } ?? .null,
        ]
    }

    /// - Returns: the number of rows inserted or changed.
    @discardableResult
    public static func write(_ events: [LoggedEvent], on connection: MariaDBConnection) throws -> UInt64 {
        guard !events.isEmpty else { return 0 }
        // Followups logged before their initial, and initials that adopted
        // such followups, in whichever order the batches bring them.
        var unattributed = Set<RequestID>()
        for event in events where (event.kind == .followup && event.symbol == nil) || event.adopted > 0 {
            unattributed.insert(event.id)
        }
        try connection.begin()
        do {
            var changed = try connection.executeBatch(insert, rows: events.map(row))
            if !unattributed.isEmpty {
                changed += try connection.executeBatch(attribute, rows: unattributed.sorted().map { [.string($0.description)] })
            }
            try connection.commit()
            return changed
        } catch {
            try? connection.rollback()
            throw error
        }
    }
}

import MariaDBClient
import SymbolStreamCore

/// Reads the raw history back in receive order, a page at a time (keyset
/// pagination on the primary key, so every page is an index range scan and
/// memory stays flat however many rows there are).
public struct ArchiveReader: Sendable {
    public let database: MariaDBPool
    public var pageSize: Int

    public init(database: MariaDBPool, pageSize: Int = 20_000) {
        self.database = database
        self.pageSize = pageSize
    }

    /// A row of `events`, as an event to replay.
    public struct Row: Sendable, Hashable {
        public var receivedAt: Timestamp
        public var id: RequestID
        public var isInitial: Bool
        public var symbol: Symbol?
        public var guess: Bool?

        public var event: IngestEvent {
            if isInitial, let symbol {
                return .initial(InitialEvent(id: id, symbol: symbol, guess: guess ?? false, receivedAt: receivedAt))
            }
            return .followup(FollowupEvent(id: id, receivedAt: receivedAt))
        }
    }

    /// Where the last page ended, compared the way `ORDER BY` sorts: the UUID
    /// column in MariaDB's UUID order, the kind by its ENUM index.
    public struct Cursor: Sendable, Hashable {
        var receivedAt: String
        var uuid: String
        var kindIndex: Int64
    }

    /// The columns `decode` reads, in its order.
    static let selectAll = "SELECT received_at, CAST(uuid AS CHAR) AS uuid_text, kind, symbol, guess, kind + 0 AS kind_index FROM events"

    public func count() async throws -> Int64 {
        try await database.withConnection { connection in
            try connection.query("SELECT COUNT(*) AS n FROM events").first?["n"]?.int ?? 0
        }
    }

    /// The next page after `cursor` (from the start when nil); an empty page ends.
    public func page(after cursor: Cursor?) async throws -> (rows: [Row], next: Cursor?) {
        let limit = Int64(pageSize)
        let raw = try await database.withConnection { connection -> [MariaDBRow] in
            let columns = Self.selectAll
            guard let cursor else {
                return try connection.query("\(columns) ORDER BY received_at, uuid, kind LIMIT ?", [.int(limit)])
            }
            // The range on received_at uses the primary key; the rest only
            // filters the rows sharing the cursor's microsecond.
            return try connection.query(
                """
                \(columns) WHERE received_at >= ? AND (received_at > ? OR uuid > ? OR (uuid = ? AND kind + 0 > ?))
                ORDER BY received_at, uuid, kind LIMIT ?
                """,
                [
                    .string(cursor.receivedAt), .string(cursor.receivedAt), .string(cursor.uuid), .string(cursor.uuid),
                    .int(cursor.kindIndex), .int(limit),
                ])
        }
        var rows = [Row]()
        rows.reserveCapacity(raw.count)
        for row in raw { rows.append(try Self.decode(row)) }
        let next = raw.last.map {
            Cursor(receivedAt: $0[0].string ?? "", uuid: $0[1].string ?? "", kindIndex: $0[5].int ?? 0)
        }
        return (rows, next)
    }

    static func decode(_ row: MariaDBRow) throws -> Row {
        guard let timeText = row[0].string, let time = try? Timestamp.parseBound(timeText).get(),
            let uuidText = row[1].string, let id = RequestID(parsing: uuidText), let kind = row[2].string
        else { throw ArchiveReadError.malformedRow("\(row.values)") }
        let symbol = row[3].string.flatMap { Symbol(parsing: $0) }
        guard kind == "followup" || (kind == "initial" && symbol != nil) else {
            throw ArchiveReadError.malformedRow("\(row.values)")
        }
        return Row(receivedAt: time, id: id, isInitial: kind == "initial", symbol: symbol, guess: row[4].int.map { $0 != 0 })
    }
}

public enum ArchiveReadError: Error, Sendable, Hashable {
    case malformedRow(String)
}

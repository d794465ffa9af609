import Logging
import MariaDBClient

/// The raw history's tables, created by numbered migrations that `migrate`
/// (and `serve`, at start) applies once each.
package enum Schema {
    package struct Migration: Sendable {
        package var version: Int
        package var description: String
        package var statements: [String]
    }

    package static let migrations: [Migration] = [
        Migration(
            version: 1, description: "events: every accepted event, one row each",
            statements: [
                """
                CREATE TABLE IF NOT EXISTS events (
                    received_at DATETIME(6) NOT NULL COMMENT 'server receive time, UTC, to the microsecond',
                    uuid UUID NOT NULL COMMENT 'the request id the client sent',
                    kind ENUM('initial', 'followup') NOT NULL,
                    symbol CHAR(1) CHARACTER SET ascii NULL COMMENT 'a-z; NULL on a followup until its initial arrives',
                    guess BOOLEAN NULL COMMENT 'initials only: the answer given, 1 = True',
                    PRIMARY KEY (received_at, uuid, kind),
                    KEY events_by_uuid (uuid)
                ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4
                  COMMENT = 'SymbolStream raw history: every accepted event, one row each'
                """,
                """
                CREATE OR REPLACE VIEW initials AS
                    SELECT received_at, uuid, symbol, guess FROM events WHERE kind = 'initial'
                """,
                """
                CREATE OR REPLACE VIEW followups AS
                    SELECT received_at, uuid, symbol FROM events WHERE kind = 'followup'
                """,
            ]),
    ]

    /// Applies the migrations not applied yet, under a named lock so that two
    /// instances starting together do not race. Returns the versions applied.
    @discardableResult
    package static func migrate(_ connection: MariaDBConnection, logger: Logger) throws -> [Int] {
        try connection.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version INT NOT NULL PRIMARY KEY,
                description VARCHAR(200) NOT NULL,
                applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
            ) ENGINE = InnoDB
            """)
        let locked = try connection.query("SELECT GET_LOCK('symbolstream_migrate', 30) AS locked").first?["locked"]?.int
        guard locked == 1 else { throw ArchiveError.migrationLockTimeout }
        defer { _ = try? connection.query("SELECT RELEASE_LOCK('symbolstream_migrate')") }

        let applied = Set(try connection.query("SELECT version FROM schema_migrations").compactMap { $0[0].int })
        var done = [Int]()
        for migration in migrations where !applied.contains(Int64(migration.version)) {
            logger.info("applying migration", metadata: ["version": "\(migration.version)", "description": "\(migration.description)"])
            for statement in migration.statements { try connection.execute(statement) }
            try connection.execute(
                "INSERT INTO schema_migrations (version, description) VALUES (?, ?)",
                [.int(Int64(migration.version)), .string(migration.description)])
            done.append(migration.version)
        }
        return done
    }
}

package enum ArchiveError: Error, Sendable, Hashable, CustomStringConvertible {
    case migrationLockTimeout
    case backlogNotDrained(Int64)
    /// A row of `events` that no accepted event could have written.
    case malformedRow(String)

    package var description: String {
        switch self {
        case .migrationLockTimeout: "another instance holds the migration lock"
        case .backlogNotDrained(let backlog): "\(backlog) logged events are not archived yet"
        case .malformedRow(let row): "malformed row in events: \(row)"
        }
    }
}

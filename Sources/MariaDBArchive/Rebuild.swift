import Logging
import MariaDBClient
import RedisStore
import SymbolStreamCore

/// Recomputes every Redis aggregate from the raw history in MariaDB: archive
/// what is still in the log, read every archived event once in receive order
/// into the reference `AggregateModel` (the same semantics `ss_ingest`
/// implements, checked against it by the store tests) while Redis deletes the
/// old aggregates, and write the model's final state as commands whose number
/// grows with the number of keys, not of events (`RedisSnapshot`). Automatic
/// AOF rewrites wait until the end: one rewrite then, instead of several
/// while the keyspace empties and fills again.
///
/// Run it with the service stopped: events ingested during a rebuild would be
/// counted and then deleted.
public struct Rebuild: Sendable {
    public let store: RedisEventStore
    public let archiver: Archiver
    public let database: MariaDBPool
    public let logger: Logger

    public init(store: RedisEventStore, archiver: Archiver, database: MariaDBPool, logger: Logger) {
        self.store = store
        self.archiver = archiver
        self.database = database
        self.logger = logger
    }

    public struct Progress: Sendable, Hashable {
        public enum Phase: String, Sendable, Hashable {
            case reading = "read"
            case writing = "write"
        }

        public var phase: Phase
        public var done: Int64
        public var total: Int64
    }

    /// - Returns: the number of events read from MariaDB.
    @discardableResult
    public func run(progress: @escaping @Sendable (Progress) -> Void = { _ in }) async throws -> Int64 {
        try await archiver.drain()
        let backlog = try await store.pipelineStatus().backlog
        guard backlog == 0 else { throw ArchiveError.backlogNotDrained(backlog) }

        let (store, logger) = (self.store, self.logger)
        return try await store.withAutomaticAOFRewritesPaused { paused in
            if paused { logger.info("automatic AOF rewrites paused until the rebuild is written") }
            let started = ContinuousClock.now
            func seconds() -> String { String(describing: ContinuousClock.now - started) }
            // Deleting the old aggregates (Redis) overlaps reading the history (MariaDB).
            let reset = Task {
                let deleted = try await store.resetAggregates()
                logger.info("deleted the old aggregates", metadata: ["keys": "\(deleted)", "after": "\(seconds())"])
            }
            let (model, events) = try await database.withConnection { connection in
                try Self.read(on: connection, progress: progress)
            }
            logger.info("read the history", metadata: ["events": "\(events)", "after": "\(seconds())"])
            // Grouping the uuid map starts now, beside whatever is left of the reset.
            let snapshot = RedisSnapshot(model: model, layout: store.layout)
            try await reset.value
            try await store.write(snapshot) { done, total in
                progress(Progress(phase: .writing, done: Int64(done), total: Int64(total)))
            }
            logger.info("wrote the aggregates", metadata: ["keys": "\(snapshot.keyCount)", "after": "\(seconds())"])
            return events
        }
    }

    /// Every row of `events`, in receive order, into the reference model.
    static func read(on connection: MariaDBConnection, progress: (Progress) -> Void) throws -> (AggregateModel, Int64) {
        // InnoDB's estimate: an exact COUNT(*) would read an index of the
        // whole table first (4 s at 10M rows). For progress and sizing only.
        let total =
            try connection.query(
                "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'events'"
            ).first?[0].int ?? 0
        progress(Progress(phase: .reading, done: 0, total: total))
        var model = AggregateModel(expectedRequests: Int(total))
        var read: Int64 = 0
        // Rows read in place (no allocation per row): this loop runs
        // millions of times. The time comes as integer microseconds, the
        // uuid as its 16 bytes.
        try connection.forEachRawRow(Self.scan) { row in
            _ = model.apply(try Self.event(row))
            read += 1
            if read % 200_000 == 0 { progress(Progress(phase: .reading, done: read, total: max(total, read))) }
        }
        progress(Progress(phase: .reading, done: read, total: read))
        return (model, read)
    }

    static let scan = """
        SELECT TIMESTAMPDIFF(MICROSECOND, '1970-01-01', received_at), CAST(uuid AS BINARY(16)), kind + 0, symbol, guess
        FROM events ORDER BY received_at, uuid, kind
        """

    static func event(_ row: MariaDBRawRow) throws -> IngestEvent {
        guard let microseconds = row.int(0), let uuid = row.bytes(1), uuid.count == 16, let kind = row.int(2) else {
            throw ArchiveReadError.malformedRow("a row of events")
        }
        // The UUID type's binary form is its 16 bytes in textual order.
        let id = RequestID(
            high: UInt64(bigEndian: uuid.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
            low: UInt64(bigEndian: uuid.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        let time = Timestamp(microseconds: microseconds)
        if kind == 2 { return .followup(FollowupEvent(id: id, receivedAt: time)) }
        guard kind == 1, let letter = row.bytes(3), letter.count == 1, let symbol = Symbol(index: Int(letter[0]) - 97),
            let guess = row.int(4)
        else { throw ArchiveReadError.malformedRow("an initial of \(id)") }
        return .initial(InitialEvent(id: id, symbol: symbol, guess: guess == 1, receivedAt: time))
    }
}

import Logging
import MariaDBClient
import RedisStore
import SymbolStreamCore

/// Recomputes every Redis aggregate from the raw history in MariaDB: archive
/// what is still in the log, read every archived event once in receive order
/// into the reference `AggregateModel` (the same semantics `ss_ingest`
/// implements, checked against it by the store tests), delete the aggregates,
/// and write the model's final state in pipelines whose size grows with the
/// number of keys, not of events.
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

        // Deleting the old aggregates (Redis) overlaps reading the history (MariaDB).
        let store = self.store
        let reset = Task { try await store.resetAggregates() }
        let (model, events) = try await database.withConnection { connection -> (AggregateModel, Int64) in
            let history = try HistoryModel.read(on: connection) { done, total in
                progress(Progress(phase: .reading, done: done, total: total))
            }
            return (history.model, history.rows)
        }

        let deleted = try await reset.value
        logger.info("deleted aggregate keys", metadata: ["keys": "\(deleted)"])
        try await store.write(model) { done, total in
            progress(Progress(phase: .writing, done: Int64(done), total: Int64(total)))
        }
        try await store.setArchivedCount(events)
        return events
    }
}

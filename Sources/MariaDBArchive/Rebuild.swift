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
            // Deleting the old aggregates (Redis) overlaps reading the history
            // (MariaDB), then the uuid map's grouping; a child task, so that a
            // failed read cancels it rather than leave it deleting on its own.
            return try await withThrowingTaskGroup(of: Void.self) { reset in
                reset.addTask {
                    let deleted = try await store.resetAggregates()
                    logger.info("deleted the old aggregates", metadata: ["keys": "\(deleted)", "after": "\(seconds())"])
                }
                let (model, events) = try await database.withConnection { connection -> (AggregateModel, Int64) in
                    let history = try HistoryModel.read(on: connection) { done, total in
                        progress(Progress(phase: .reading, done: done, total: total))
                    }
                    return (history.model, history.rows)
                }
                logger.info("read the history", metadata: ["events": "\(events)", "after": "\(seconds())"])
                let snapshot = RedisSnapshot(model: model, layout: store.layout)
                // The writer starts grouping the uuid map, then waits here for
                // whatever is left of the reset before its first command.
                try await store.write(snapshot, beforeFirstCommand: { try await reset.waitForAll() }) { done, total in
                    progress(Progress(phase: .writing, done: Int64(done), total: Int64(total)))
                }
                logger.info("wrote the aggregates", metadata: ["keys": "\(snapshot.keyCount)", "after": "\(seconds())"])
                try await store.setArchivedCount(events)
                return events
            }
        }
    }
}

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
    public let redis: RedisStoreClient
    public let archiver: Archiver
    public let database: MariaDBPool
    public let logger: Logger

    public init(redis: RedisStoreClient, archiver: Archiver, database: MariaDBPool, logger: Logger) {
        self.redis = redis
        self.archiver = archiver
        self.database = database
        self.logger = logger
    }

    /// - Returns: the number of events read from MariaDB.
    @discardableResult
    public func run(progress: @escaping @Sendable (HistoryProgress) -> Void = { _ in }) async throws -> Int64 {
        try await archiver.drain()
        let backlog = try await RedisEventLog(redis: redis).status().backlog
        guard backlog == 0 else { throw ArchiveError.backlogNotDrained(backlog) }

        let (admin, logger) = (RedisAdmin(redis: redis), self.logger)
        return try await admin.withAutomaticAOFRewritesPaused { paused in
            if paused { logger.info("automatic AOF rewrites paused until the rebuild is written") }
            let started = ContinuousClock.now
            func seconds() -> String { String(describing: ContinuousClock.now - started) }
            // Deleting the old aggregates (Redis) overlaps reading the history
            // (MariaDB), then the uuid map's grouping; a child task, so that a
            // failed read cancels it rather than leave it deleting on its own.
            return try await withThrowingTaskGroup(of: Void.self) { reset in
                reset.addTask {
                    let deleted = try await admin.resetAggregates()
                    logger.info("deleted the old aggregates", metadata: ["keys": "\(deleted)", "after": "\(seconds())"])
                }
                let (model, events) = try await database.withConnection { connection -> (AggregateModel, Int64) in
                    let history = try HistoryModel.read(on: connection) { done, total in
                        progress(HistoryProgress(phase: .reading, done: done, total: total))
                    }
                    return (history.model, history.rows)
                }
                logger.info("read the history", metadata: ["events": "\(events)", "after": "\(seconds())"])
                let snapshot = RedisSnapshot(model: model, layout: admin.layout)
                // The writer starts grouping the uuid map, then waits here for
                // whatever is left of the reset before its first command.
                try await admin.write(snapshot, beforeFirstCommand: { try await reset.waitForAll() }) { done, total in
                    progress(HistoryProgress(phase: .writing, done: Int64(done), total: Int64(total)))
                }
                logger.info("wrote the aggregates", metadata: ["keys": "\(snapshot.keyCount)", "after": "\(seconds())"])
                try await admin.setArchivedCount(events)
                return events
            }
        }
    }
}

/// How far a long run over the history (`rebuild`, `verify`) has got, for a
/// progress line.
public struct HistoryProgress: Sendable, Hashable {
    public enum Phase: String, Sendable, Hashable {
        /// Rows of MariaDB read into the model.
        case reading = "read history"
        /// Redis keys written (`rebuild`).
        case writing = "write keys"
        /// Redis keys compared with the model (`verify`).
        case comparing = "compare keys"
    }

    public var phase: Phase
    public var done: Int64
    public var total: Int64
}

import Logging
import MariaDBClient
import RedisStore
import SymbolStreamCore

/// Recomputes every Redis aggregate from the raw history in MariaDB: archive
/// what is still logged, read every archived event once in receive order
/// into the reference model, one per shard (the same semantics `ss_ingest`
/// implements, checked against it by the store tests), while Redis deletes
/// the old aggregates, and write each shard's final state as commands whose
/// number grows with the number of keys, not of events (`RedisSnapshot`).
/// Automatic AOF rewrites wait until the end: one rewrite then, instead of
/// several while the keyspace empties and fills again.
///
/// It also moves a deployment between layouts: from the unsharded layout of
/// earlier versions, or to another shard count. Whatever Redis holds in the
/// layout it records (or the unsharded one) is archived first and deleted,
/// and the new layout is recorded at the end.
///
/// Run it with the service stopped: events ingested during a rebuild would be
/// counted and then deleted.
package struct Rebuild: Sendable {
    package let redis: RedisStoreClient
    package let archiver: Archiver
    package let database: MariaDBPool
    package let logger: Logger

    package init(redis: RedisStoreClient, archiver: Archiver, database: MariaDBPool, logger: Logger) {
        self.redis = redis
        self.archiver = archiver
        self.database = database
        self.logger = logger
    }

    /// - Returns: the number of events read from MariaDB.
    @discardableResult
    package func run(progress: @escaping @Sendable (HistoryProgress) -> Void = { _ in }) async throws -> Int64 {
        let (admin, logger, layout) = (RedisAdmin(redis: redis), self.logger, redis.layout)
        // Shards of an earlier layout that the new one does not have.
        var earlier = [RedisLayout.Shard]()
        if try await admin.holdsLegacyLayout() {
            logger.notice("moving the unsharded layout of an earlier version to \(layout.shardCount) shards")
            earlier.append(layout.legacy)
        }
        if let recorded = try await admin.recordedShardCount(), recorded != layout.shardCount {
            logger.notice("moving from \(recorded) shards to \(layout.shardCount)")
            earlier += RedisLayout(prefix: layout.prefix, shards: recorded).shards.filter { $0.index >= layout.shardCount }
        }
        let resetShards = layout.shards + earlier
        try await archiver.drain(shards: resetShards)
        let backlog = try await RedisEventLog(redis: redis).status().backlog
        guard backlog == 0 else { throw ArchiveError.backlogNotDrained(backlog) }

        return try await admin.withAutomaticAOFRewritesPaused { paused in
            if paused { logger.info("automatic AOF rewrites paused until the rebuild is written") }
            let started = ContinuousClock.now
            func seconds() -> String { String(describing: ContinuousClock.now - started) }
            // Deleting the old aggregates (Redis) overlaps reading the history
            // (MariaDB), then the uuid map's grouping; a child task, so that a
            // failed read cancels it rather than leave it deleting on its own.
            return try await withThrowingTaskGroup(of: Void.self) { reset in
                reset.addTask {
                    let deleted = try await admin.resetAggregates(of: resetShards)
                    logger.info("deleted the old aggregates", metadata: ["keys": "\(deleted)", "after": "\(seconds())"])
                }
                let history = try await database.withConnection { connection in
                    try HistoryModel.read(on: connection, layout: layout) { done, total in
                        progress(HistoryProgress(phase: .reading, done: done, total: total))
                    }
                }
                logger.info("read the history", metadata: ["events": "\(history.rows)", "after": "\(seconds())"])
                let snapshots = layout.shards.map { RedisSnapshot(model: history.model.shards[$0.index], shard: $0, of: layout) }
                let total = Int64(snapshots.reduce(0) { $0 + $1.keyCount })
                var written: Int64 = 0
                for snapshot in snapshots {
                    let before = written
                    // The writer starts grouping the uuid map, then waits here for
                    // whatever is left of the reset before its first command.
                    try await admin.write(snapshot, beforeFirstCommand: { try await reset.waitForAll() }) { done, _ in
                        progress(HistoryProgress(phase: .writing, done: before + Int64(done), total: total))
                    }
                    written += Int64(snapshot.keyCount)
                    try await admin.setArchivedCount(history.rowsByShard[snapshot.shard.index], shard: snapshot.shard)
                }
                logger.info("wrote the aggregates", metadata: ["keys": "\(total)", "after": "\(seconds())"])
                try await admin.deleteLeftovers(of: Array(resetShards.dropFirst(layout.shardCount)))
                try await admin.recordLayout()
                return history.rows
            }
        }
    }
}

/// How far a long run over the history (`rebuild`, `verify`) has got, for a
/// progress line.
package struct HistoryProgress: Sendable, Hashable {
    package enum Phase: String, Sendable, Hashable {
        /// Rows of MariaDB read into the model.
        case reading = "read history"
        /// Redis keys written (`rebuild`).
        case writing = "write keys"
        /// Redis keys compared with the model (`verify`).
        case comparing = "compare keys"
    }

    package var phase: Phase
    package var done: Int64
    package var total: Int64
}

import Logging
import MariaDBClient
import RedisStore
import ServiceLifecycle
import Synchronization
import SymbolStreamCore

package struct ArchiverConfiguration: Sendable, Hashable {
    /// Consumer name in the `archiver` group. Keep it stable across restarts of
    /// one instance: its unacknowledged entries are re-read first on start.
    package var consumer: String = "archiver"
    /// Log entries per read and transaction. An entry holds one ingest batch
    /// (1 event when traffic is light, up to 256 under load), so a transaction
    /// grows with the load it has to keep up with.
    package var entriesPerRead: Int = 200
    /// Batches written at once, each on its own MariaDB connection, while the
    /// next is read from Redis and prepared. Batches commute (see
    /// `ArchiveWriter`), so they may commit in any order.
    package var concurrentBatches: Int = 2
    /// How long one read waits for new events (also the shutdown latency).
    package var blockTime: Duration = .milliseconds(100)
    /// After a read that did not fill a batch, wait this long before the
    /// next, so that a batch gathers what arrives meanwhile: a shard's log
    /// then costs MariaDB one transaction per this interval rather than one
    /// per ingest call (with many shards, each sees a trickle). It adds this
    /// much to the archive lag. Zero reads again at once.
    package var gatherTime: Duration = .milliseconds(50)
    /// Entries another consumer has held unacknowledged this long are taken
    /// over (looked for once per this interval, so within twice this after
    /// a consumer died). Keep it well above the time a batch takes to write,
    /// MariaDB retries included: a live consumer's entries taken over are
    /// written twice (harmless, the insert is idempotent, but wasted).
    /// `--archiver-takeover-after`.
    package var abandonedAfter: Duration = .seconds(60)
    package var retryDelay: Duration = .milliseconds(100)
    package var maximumRetryDelay: Duration = .seconds(5)

    package init() {}
}

/// Moves events from the Redis logs into MariaDB: for each shard, read a
/// batch through the shard's consumer group, write it in one transaction,
/// commit, then acknowledge. A crash anywhere leaves the batch pending, to be
/// delivered again (to this consumer on restart, or to another that takes it
/// over); the idempotent insert makes that harmless. MariaDB being down only
/// delays it. Any number of archivers share the shards: each reads every
/// shard, and the consumer groups deal each entry to one of them.
package final class Archiver: Service {
    private let log: RedisEventLog
    private let database: MariaDBPool
    private let configuration: ArchiverConfiguration
    private let logger: Logger
    private let clock: EventClock
    /// Times the retry delays and the claim interval (`clock` stamps batches).
    private let timing: any Clock<Duration>
    private let statisticsBox = Mutex(ArchiverStatistics())

    package init(
        log: RedisEventLog, database: MariaDBPool, configuration: ArchiverConfiguration = .init(), logger: Logger,
        clock: EventClock = EventClock(), timing: any Clock<Duration> = ContinuousClock()
    ) {
        self.log = log
        self.database = database
        self.configuration = configuration
        self.logger = logger
        self.clock = clock
        self.timing = timing
    }

    package var statistics: ArchiverStatistics { statisticsBox.withLock { $0 } }

    package func run() async throws {
        guard await migrate() else { return }
        // A reader per shard, each on its own connection (a blocking read
        // cannot wait on several slots of a cluster at once).
        await withDiscardingTaskGroup { group in
            for shard in log.layout.shards {
                group.addTask { await self.archive(shard: shard) }
            }
        }
        logger.info("archiver stopped")
    }

    /// Archives one shard's log until asked to stop, reconnecting after errors.
    private func archive(shard: RedisLayout.Shard) async {
        var logger = self.logger
        logger[metadataKey: "shard"] = "\(shard.index)"
        var delay = configuration.retryDelay
        while !isStopping {
            do {
                try await log.withReader(shard: shard) { reader in
                    try await self.consume(with: reader, untilDrained: false)
                }
            } catch {
                guard !isStopping else { break }
                statisticsBox.withLock { $0.interruptions += 1 }
                logger.warning("archiver interrupted; will retry", metadata: ["error": "\(error)", "retry_in": "\(delay)"])
                try? await timing.sleep(for: delay)
                delay = min(delay * 2, configuration.maximumRetryDelay)
                continue
            }
            delay = configuration.retryDelay
        }
    }

    /// Archives everything logged so far, every shard at once, and returns
    /// (for `rebuild`, tests and tools that need the archive complete).
    /// - Parameter shards: the layout's by default; `rebuild` also drains
    ///   those of an earlier layout.
    package func drain(shards: [RedisLayout.Shard]? = nil) async throws {
        let logger = self.logger
        try await database.withConnection { try Schema.migrate($0, logger: logger) }
        try await withThrowingDiscardingTaskGroup { group in
            for shard in shards ?? log.layout.shards {
                group.addTask {
                    try await self.log.withReader(shard: shard) { reader in
                        try await self.consume(with: reader, untilDrained: true)
                    }
                }
            }
        }
    }

    private var isStopping: Bool { Task.isCancelled || Task.isShuttingDownGracefully }

    /// The schema must exist before the first insert; MariaDB may still be
    /// starting (ingest does not wait for it), so keep trying.
    private func migrate() async -> Bool {
        var delay = configuration.retryDelay
        while !isStopping {
            do {
                let logger = self.logger
                let applied = try await database.withConnection { try Schema.migrate($0, logger: logger) }
                if !applied.isEmpty { logger.info("schema migrated", metadata: ["versions": "\(applied)"]) }
                return true
            } catch {
                logger.warning("cannot migrate the archive schema yet; will retry", metadata: ["error": "\(error)", "retry_in": "\(delay)"])
                try? await timing.sleep(for: delay)
                delay = min(delay * 2, configuration.maximumRetryDelay)
            }
        }
        return false
    }

    private func consume(with reader: RedisEventLog.Reader, untilDrained: Bool) async throws {
        // First whatever this consumer was given but never acknowledged, one
        // batch at a time: reading pending entries returns them until acknowledged.
        while !isStopping {
            let pending = try await reader.read(
                consumer: configuration.consumer, count: configuration.entriesPerRead, pending: true, block: nil)
            if pending.isEmpty { break }
            logger.info("re-archiving entries left pending by an earlier run", metadata: ["count": "\(pending.count)"])
            guard try await archive(try await prepare(pending, shard: reader.shard)) else { return }
        }
        // Then new entries: the next batch is read and prepared while earlier
        // ones are written.
        try await withThrowingTaskGroup(of: Bool.self) { group in
            var inFlight = 0
            /// Waits until at most `limit` batches are in flight; false if one
            /// of them was not written (asked to stop).
            func settle(_ limit: Int, _ group: inout ThrowingTaskGroup<Bool, any Error>) async throws -> Bool {
                var written = true
                while inFlight > limit, let done = try await group.next() {
                    inFlight -= 1
                    written = written && done
                }
                return written
            }
            func submit(_ entries: [RedisEventLog.Entry], _ group: inout ThrowingTaskGroup<Bool, any Error>) async throws -> Bool {
                let batch = try await prepare(entries, shard: reader.shard)
                // A batch that looks rows up sees only committed ones: alone.
                let limit = batch.isExclusive ? 0 : max(1, configuration.concurrentBatches) - 1
                guard try await settle(limit, &group) else { return false }
                group.addTask { try await self.archive(batch) }
                inFlight += 1
                return batch.isExclusive ? try await settle(0, &group) : true
            }

            var sinceClaim = Stopwatch(timing)
            // A claim that filled a batch may have left more: claim again at once.
            var claimAgain = false
            while !isStopping {
                if claimAgain || sinceClaim.elapsed > configuration.abandonedAfter {
                    sinceClaim = Stopwatch(timing)
                    let claimed = try await reader.claimAbandoned(
                        consumer: configuration.consumer, minimumIdle: configuration.abandonedAfter, count: configuration.entriesPerRead)
                    claimAgain = claimed.count >= configuration.entriesPerRead
                    if !claimed.isEmpty {
                        logger.notice("took over entries abandoned by another consumer", metadata: ["count": "\(claimed.count)"])
                        guard try await submit(claimed, &group) else { break }
                    }
                }
                let entries = try await reader.read(
                    consumer: configuration.consumer, count: configuration.entriesPerRead, pending: false,
                    block: untilDrained || inFlight > 0 ? nil : configuration.blockTime)
                if entries.isEmpty {
                    if inFlight > 0 {
                        // Nothing new: finish what is in flight before blocking.
                        guard try await settle(0, &group) else { break }
                        continue
                    }
                    if untilDrained { break }
                    continue
                }
                guard try await submit(entries, &group) else { break }
                if !untilDrained, configuration.gatherTime > .zero, entries.count < configuration.entriesPerRead {
                    try? await timing.sleep(for: configuration.gatherTime)
                }
            }
            _ = try await settle(0, &group)
        }
    }

    /// A batch read from a shard's log, ready to write: its events and their rows.
    struct PreparedBatch: Sendable {
        var shard: RedisLayout.Shard
        var entries: [RedisEventLog.Entry]
        var events: [LoggedEvent]
        var rows: MariaDBBatch
        var isExclusive: Bool
    }

    /// Decodes a batch and builds its rows; malformed entries go to the
    /// dead-letter stream.
    private func prepare(_ entries: [RedisEventLog.Entry], shard: RedisLayout.Shard) async throws -> PreparedBatch {
        var events = [LoggedEvent]()
        events.reserveCapacity(entries.count)
        for entry in entries {
            switch entry {
            case .events(_, let batch):
                events += batch
            case .malformed(let streamID, let fields):
                logger.error("malformed log entry moved to the dead-letter stream", metadata: ["stream_id": "\(streamID)"])
                try await log.deadLetter(streamID: streamID, fields: fields, shard: shard)
                statisticsBox.withLock { $0.deadLetters += 1 }
            case .gone:
                break
            }
        }
        return PreparedBatch(
            shard: shard, entries: entries, events: events, rows: ArchiveWriter.rows(events), isExclusive: ArchiveWriter.needsExclusiveWrite(events))
    }

    /// Writes and acknowledges one batch, retrying MariaDB until it succeeds.
    /// Returns false if asked to stop first (the batch then stays pending).
    private func archive(_ batch: PreparedBatch) async throws -> Bool {
        let (entries, events) = (batch.entries, batch.events)
        var delay = configuration.retryDelay
        var eventByEvent = false
        var refused = 0
        while true {
            do {
                if eventByEvent {
                    refused = try await writeEventByEvent(events, shard: batch.shard)
                } else {
                    try await database.withConnection { connection in
                        try ArchiveWriter.write(batch.events, rows: batch.rows, on: connection)
                    }
                }
                break
            } catch let error as MariaDBError where error.isRefusedValue && !eventByEvent {
                // One event MariaDB refuses must not hold back every later one
                // (retrying the batch would fail the same way forever).
                logger.error(
                    "MariaDB refuses a value in this batch; archiving it event by event", metadata: ["error": "\(error)"])
                eventByEvent = true
            } catch {
                statisticsBox.withLock {
                    $0.failures += 1
                    $0.lastError = "\(error)"
                }
                logger.warning(
                    "archive batch failed; will retry", metadata: ["events": "\(events.count)", "error": "\(error)", "retry_in": "\(delay)"])
                if isStopping { return false }
                statisticsBox.withLock { $0.retries += 1 }
                try? await timing.sleep(for: delay)
                delay = min(delay * 2, configuration.maximumRetryDelay)
            }
        }
        try await log.acknowledge(entries.map(\.streamID), events: events.count - refused, shard: batch.shard)
        let now = clock.now()
        statisticsBox.withLock {
            $0.batches += 1
            $0.events += Int64(events.count)
            $0.lastBatchAt = now
        }
        logger.debug("archived batch", metadata: ["events": "\(events.count)"])
        return true
    }

    /// Writes each event in a transaction of its own; those MariaDB refuses
    /// go to the dead-letter stream (with the error), so they are kept, shown
    /// in `/health` and by `verify`, and the archive goes on.
    /// - Returns: how many were refused.
    private func writeEventByEvent(_ events: [LoggedEvent], shard: RedisLayout.Shard) async throws -> Int {
        let refused = try await database.withConnection { connection -> [(LoggedEvent, MariaDBError)] in
            var refused = [(LoggedEvent, MariaDBError)]()
            for event in events {
                do {
                    try ArchiveWriter.write([event], on: connection)
                } catch let error as MariaDBError where error.isRefusedValue {
                    refused.append((event, error))
                }
            }
            return refused
        }
        for (event, error) in refused {
            logger.error(
                "MariaDB refuses an event; moved to the dead-letter stream",
                metadata: ["uuid": "\(event.id)", "received_at": "\(event.receivedAt)", "error": "\(error)"])
            let row = ArchiveWriter.row(event).map { $0.string ?? ($0.int.map(String.init) ?? "NULL") }
            var fields: [String: [UInt8]] = [
                "received_at": Array(row[0].utf8), "uuid": Array(row[1].utf8), "kind": Array(row[2].utf8),
                "symbol": Array(row[3].utf8), "guess": Array(row[4].utf8), "error": Array("\(error)".utf8),
            ]
            // The followups an initial adopted were refused with it (their
            // rows are part of its write): their times go with it, or the
            // dead letter would not say they existed.
            if let adopted = event.adoptedFollowups, !adopted.isEmpty {
                fields["adopted_followups"] = Array(adopted.map(\.description).joined(separator: ",").utf8)
            }
            try await log.deadLetter(streamID: event.streamID, fields: fields, shard: shard)
            statisticsBox.withLock { $0.deadLetters += 1 }
        }
        return refused.count
    }
}

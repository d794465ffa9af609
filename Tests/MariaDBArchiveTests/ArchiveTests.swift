import Logging
import Synchronization
import MariaDBClient
import RedisClient
import StoreTestSupport
import SymbolStreamCore
import Testing
import TestSupport

@testable import MariaDBArchive
@testable import RedisStore

/// The archive path against real Redis and MariaDB.
@Suite struct ArchiveTests {
    /// (kind, uuid, symbol or "-", guess or "-", received_at) of every row.
    static func rows(_ pool: MariaDBPool) async throws -> [[String]] {
        try await pool.withConnection { connection in
            try connection.query(
                "SELECT kind, CAST(uuid AS CHAR), COALESCE(symbol, '-'), COALESCE(guess, '-'), received_at FROM events ORDER BY received_at, uuid, kind"
            ).map { row in row.values.map { $0.string ?? "\($0)" } }
        }
    }

    /// The rows the accepted events must produce, followups with the symbol of
    /// their initial when it is known at the end.
    static func expectedRows(_ events: [IngestEvent], model: inout AggregateModel) -> [[String]] {
        var accepted = [IngestEvent]()
        for event in events {
            switch model.apply(event) {
            case .initial(.accepted), .followup: accepted.append(event)
            default: break
            }
        }
        return accepted.map { event -> [String] in
            switch event {
            case .initial(let initial):
                return ["initial", initial.id.description, initial.symbol.letter, initial.guess ? "1" : "0", initial.receivedAt.description]
            case .followup(let followup):
                let symbol = model.request(followup.id)?.symbol?.letter ?? "-"
                return ["followup", followup.id.description, symbol, "-", followup.receivedAt.description]
            }
        }.sorted { ($0[4], $0[1], $0[0] == "initial" ? 0 : 1) < ($1[4], $1[1], $1[0] == "initial" ? 0 : 1) }
    }

    @Test func migrationsAreIdempotent() async throws {
        try await TestStores.withDatabase { pool, name in
            let logger = TestStores.logger
            #expect(try await pool.withConnection { try Schema.migrate($0, logger: logger) } == [1])
            #expect(try await pool.withConnection { try Schema.migrate($0, logger: logger) } == [])
            let tables = try await pool.withConnection { connection in
                try connection.query(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY table_name", [.string(name)]
                ).compactMap { $0[0].string }
            }
            #expect(tables == ["events", "followups", "initials", "schema_migrations"])
        }
    }

    @Test func archivesExactlyTheAcceptedEvents() async throws {
        try await TestStores.withRedisStore { store in
            try await TestStores.withDatabase { pool, _ in
                var traffic = Traffic(seed: 21)
                let events = traffic.events(3000)
                try await store.ingest(events, inBatchesOf: 100)
                var configuration = ArchiverConfiguration()
                configuration.entriesPerRead = 3  // several transactions, adoptions across them
                let archiver = Archiver(
                    log: store.log, database: pool, configuration: configuration,
                    logger: TestStores.logger)
                try await archiver.drain()
                var model = AggregateModel()
                let rows = try await Self.rows(pool)
                let expected = Self.expectedRows(events, model: &model)
                #expect(rows.count == expected.count)
                #expect(Array(rows.filter { !expected.contains($0) }.prefix(5)) == [])
                #expect(Array(expected.filter { !rows.contains($0) }.prefix(5)) == [])
                #expect(try await store.log.status().backlog == 0)
                #expect(archiver.statistics.failures == 0)
            }
        }
    }

    @Test func aBatchRedeliveredAfterACrashIsInsertedOnce() async throws {
        // One shard: the batch redelivered is the log's first.
        try await TestStores.withRedisStore(shards: 1) { store in
            try await TestStores.withDatabase { pool, _ in
                var traffic = Traffic(seed: 22)
                let events = traffic.events(800)
                _ = try await store.ingest(events)
                let log = store.log
                let logger = TestStores.logger
                try await pool.withConnection { try Schema.migrate($0, logger: logger) }
                // An archiver that committed a batch and died before acknowledging it.
                let delivered = try await log.withReader(shard: store.layout.shard(0)) { reader in
                    try await reader.read(consumer: "archiver", count: 2, pending: false, block: nil)
                }
                let batch = delivered.flatMap { entry -> [LoggedEvent] in if case .events(_, let events) = entry { events } else { [] } }
                #expect(batch.count > 300)
                try await pool.withConnection { try ArchiveWriter.write(batch, on: $0) }
                // The next run gets the same entries again, then the rest.
                let archiver = Archiver(log: log, database: pool, logger: logger)
                try await archiver.drain()
                var model = AggregateModel()
                #expect(try await Self.rows(pool) == Self.expectedRows(events, model: &model))
                #expect(try await store.log.status().backlog == 0)
            }
        }
    }

    /// After a read that did not fill a batch the archiver waits
    /// `gatherTime` (on its clock) before it reads again: what arrives
    /// meanwhile is archived only once the clock moves, in one batch.
    @Test func aShortReadWaitsTheGatherTimeBeforeReadingAgain() async throws {
        try await TestStores.withRedisStore { store in
            try await TestStores.withDatabase { pool, _ in
                let id = RequestUUID(high: 0x1234_5678_9abc_4def, low: 0x8123_4567_89ab_cdef)
                let start = Timestamp(microseconds: 1_498_700_000_000_000)
                _ = try await store.ingest([.initial(InitialEvent(id: id, symbol: Symbol(parsing: "q")!, guess: true, receivedAt: start))])
                let clock = ManualClock()
                var configuration = ArchiverConfiguration()
                configuration.gatherTime = .milliseconds(50)
                let archiver = Archiver(
                    log: store.log, database: pool, configuration: configuration, logger: TestStores.logger, timing: clock)
                _ = try await pool.withConnection { try Schema.migrate($0, logger: TestStores.logger) }  // so rows can be counted at once
                let running = Task { try await archiver.run() }
                func rowCount() async throws -> Int { try await Self.rows(pool).count }
                func waitForRows(_ count: Int) async throws {
                    while try await rowCount() < count { try await Task.sleep(for: .milliseconds(20)) }
                }

                // The initial is read alone (a short read), archived, then the archiver gathers.
                try await waitForRows(1)
                await clock.waitForSleepers(1)
                #expect(clock.sleeps == [.milliseconds(50)])
                // A followup of the same uuid (same shard) waits for the clock…
                _ = try await store.ingest([.followup(FollowupEvent(id: id, receivedAt: Timestamp(microseconds: start.microseconds + 1_000)))])
                try await Task.sleep(for: .milliseconds(300))
                #expect(try await rowCount() == 1)
                // …and is archived once the gather time has passed.
                clock.advance(by: .milliseconds(50))
                try await waitForRows(2)
                running.cancel()
                try await running.value
            }
        }
    }

    @Test func rebuildRestoresEveryAggregate() async throws {
        try await TestStores.withRedisStore { store in
            try await TestStores.withDatabase { pool, _ in
                var traffic = Traffic(seed: 23)
                let events = traffic.events(2500)
                _ = try await store.ingest(events)
                var model = AggregateModel()
                for event in events { _ = model.apply(event) }
                let archiver = Archiver(log: store.log, database: pool, logger: TestStores.logger)
                let before = try await store.totals()
                #expect(before == Symbol.all.map(model.summary))

                // Redis loses everything but the (archived) log; rebuild from MariaDB.
                try await store.admin.resetAggregates()
                #expect(try await store.totals().allSatisfy { $0.count == 0 })
                let rebuild = Rebuild(redis: store.redis, archiver: archiver, database: pool, logger: TestStores.logger)
                let progress = ProgressLog()
                let read = try await ServerSettingsLock.shared.withLock { try await rebuild.run { progress.append($0) } }
                #expect(read == Int64(try await Self.rows(pool).count))
                #expect(progress.values.contains(HistoryProgress(phase: .reading, done: read, total: read)))
                #expect(progress.values.last?.phase == .writing && progress.values.last?.done == progress.values.last?.total)

                #expect(try await store.totals() == before)
                #expect(try await StoreChecks.differences(store, model, events: events, seed: 24) == [])
                // Nothing was logged again by the replay.
                #expect(try await store.log.status().backlog == 0)
            }
        }
    }
}

final class ProgressLog: Sendable {
    private let storage = Mutex([HistoryProgress]())
    func append(_ value: HistoryProgress) { storage.withLock { $0.append(value) } }
    var values: [HistoryProgress] { storage.withLock { $0 } }
}

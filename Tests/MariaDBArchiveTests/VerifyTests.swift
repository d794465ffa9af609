import MariaDBClient
import NIOCore
import RedisClient
import StoreTestSupport
import SymbolStreamCore
import Testing

@testable import MariaDBArchive
@testable import RedisStore

/// `verify` against real Redis and MariaDB: silent on a consistent state
/// (with or without a backlog still in the log), and it names each planted
/// difference.
@Suite struct VerifyTests {
    /// Traffic ingested, part of it archived (the rest stays in the log).
    static func ingest(_ store: RedisEventStore, _ pool: MariaDBPool, seed: UInt64, archiveFirst: Int) async throws -> [IngestEvent] {
        var traffic = Traffic(seed: seed)
        let events = traffic.events(1500)
        let logger = TestStores.logger
        try await pool.withConnection { try Schema.migrate($0, logger: logger) }
        _ = try await store.ingest(Array(events[..<archiveFirst]))
        let archiver = Archiver(log: store.log, database: pool, logger: logger)
        try await archiver.drain()
        _ = try await store.ingest(Array(events[archiveFirst...]))
        return events
    }

    /// A bucket field's bytes, as the function library writes them.
    static func encoded(_ stats: BucketStats) -> [UInt8] {
        StatsRecord.encode(stats)
    }

    static func verify(_ store: RedisEventStore, _ pool: MariaDBPool) async throws -> Verify.Report {
        var verify = Verify(redis: store.redis, database: pool, logger: TestStores.logger)
        verify.listedPerKind = 1000
        return try await verify.run()
    }

    @Test func aConsistentStateHasNoDifferenceWithOrWithoutABacklog() async throws {
        try await TestStores.withRedisStore(shards: 1) { store in
            try await TestStores.withDatabase { pool, _ in
                _ = try await Self.ingest(store, pool, seed: 31, archiveFirst: 900)
                let before = try await Self.verify(store, pool)
                #expect(before.differences == [])
                #expect(before.rows > 0 && before.backlogEvents > 0)
                #expect(before.keys > 100)

                // Archived to the end: the same, with the archived count checked too.
                try await Archiver(log: store.log, database: pool, logger: TestStores.logger)
                    .drain()
                let after = try await Self.verify(store, pool)
                #expect(after.differences == [])
                #expect(after.backlogEvents == 0 && after.rows == before.rows + before.backlogEvents)
            }
        }
    }

    @Test func aBatchCommittedButNotAcknowledgedCountsOnce() async throws {
        try await TestStores.withRedisStore(shards: 1) { store in
            try await TestStores.withDatabase { pool, _ in
                _ = try await Self.ingest(store, pool, seed: 32, archiveFirst: 0)
                // Committed to MariaDB, still in the log (a crash before XACK).
                let log = store.log
                let delivered = try await log.withReader(shard: store.layout.shard(0)) { reader in
                    try await reader.read(consumer: "archiver", count: 1, pending: false, block: nil)
                }
                let batch = delivered.flatMap { entry -> [LoggedEvent] in if case .events(_, let events) = entry { events } else { [] } }
                #expect(!batch.isEmpty)
                try await pool.withConnection { try ArchiveWriter.write(batch, on: $0) }
                let report = try await Self.verify(store, pool)
                #expect(report.differences == [])
                #expect(report.rows == Int64(batch.count))
            }
        }
    }

    @Test func findsEachPlantedDifference() async throws {
        try await TestStores.withRedisStore(shards: 1) { store in
            try await TestStores.withDatabase { pool, _ in
                let events = try await Self.ingest(store, pool, seed: 33, archiveFirst: 1500)
                #expect(try await Self.verify(store, pool).differences == [])
                var model = AggregateModel()
                for event in events { _ = model.apply(event) }
                let client = store.client
                let layout = store.layout.shard(0)

                // A rollup bucket with a count off by one.
                let (bucket, stats) = try #require(model.rollups.first { $0.key.level == .minute })
                let (symbol, bucketStats) = try #require(stats.present.first)
                var wrong = bucketStats
                wrong.count += 1
                try await client.send(
                    RedisCommand("HSET", RedisArgument(layout.bucket(bucket)), RedisArgument(symbol.letter), RedisArgument(bytes: Self.encoded(wrong))))
                // A fine log lost.
                let (second, _) = try #require(model.fineLogs.first)
                try await client.send(RedisCommand("DEL", RedisArgument(layout.fineLog(second: second))))
                // A key nobody writes.
                try await client.send(RedisCommand("SET", RedisArgument(layout.prefix + "stray"), "1"))
                // A request's record gone from the uuid map.
                let (lost, _) = try #require(model.records.first)
                let slot = layout.uuidSlot(lost)
                try await client.send(RedisCommand("HDEL", slot.key, slot.field))
                // A row lost from MariaDB: the archived count and every aggregate
                // of its event now disagree with the history.
                let (gone, record) = try #require(model.records.first { $0.key != lost && $0.value.followups.isEmpty })
                try await pool.withConnection { connection in
                    _ = try connection.execute("DELETE FROM events WHERE uuid = ? AND kind = 'initial'", [.string(gone.description)])
                }

                let report = try await Self.verify(store, pool)
                let text = report.differences.joined(separator: "\n")
                #expect(text.contains("rollup: shard 0: bucket \(bucket) symbol \(symbol.letter): Redis count \(wrong.count)"))
                #expect(text.contains("fine log: shard 0: second \(Timestamp(second: second, offset: 0)) missing in Redis"))
                #expect(text.contains("key: shard 0: \(layout.prefix)stray: unexpected key"))
                #expect(text.contains("request: shard 0: \(lost) missing in Redis"))
                #expect(text.contains("request: shard 0: \(gone): Redis \(record.symbol.letter)"))
                #expect(text.contains("stats: shard 0: archived is"))
                #expect(text.contains("totals: shard 0: symbol \(record.symbol.letter)"))
                #expect(report.differenceCount == report.differences.count)
                #expect(!report.isConsistent)
            }
        }
    }

    /// The rankings' sorted sets are compared with the history's totals; the
    /// remembered idempotency keys are not in the history, and are only
    /// checked to expire.
    @Test func checksTheRankingsAndThatRememberedKeysExpire() async throws {
        try await TestStores.withRedisStore(shards: 1) { store in
            try await TestStores.withDatabase { pool, _ in
                var traffic = Traffic(seed: 35)
                traffic.idempotencyKeys = true
                let events = traffic.events(1200)
                try await pool.withConnection { try Schema.migrate($0, logger: TestStores.logger) }
                let outcomes = try await store.ingest(events, inBatchesOf: 100)
                #expect(outcomes.contains(.followup(.replayed)))
                try await Archiver(log: store.log, database: pool, logger: TestStores.logger).drain()
                #expect(try await Self.verify(store, pool).differences == [])

                var model = AggregateModel()
                for event in events { _ = model.apply(event) }
                let ranked = model.rankings.top(by: .initials, limit: 2)
                try #require(ranked.count == 2)
                let shard = store.layout.shard(0)
                let client = store.client
                try await client.send(RedisCommand("ZINCRBY", RedisArgument(shard.ranking(.initials)), "1", RedisArgument(ranked[0].symbol.letter)))
                try await client.send(RedisCommand("ZREM", RedisArgument(shard.ranking(.recent)), RedisArgument(ranked[1].symbol.letter)))
                let remembered = try await store.rawKeys().first { if case .shard(_, .idempotency) = store.layout.key(named: $0) { true } else { false } }
                let key = try #require(remembered)
                try await client.send(RedisCommand("PERSIST", RedisArgument(bytes: key)))

                let text = try await Self.verify(store, pool).differences.joined(separator: "\n")
                #expect(text.contains("ranking: shard 0: z:initials symbol \(ranked[0].symbol.letter): Redis \(ranked[0].count + 1), history \(ranked[0].count)"))
                #expect(text.contains("ranking: shard 0: z:recent symbol \(ranked[1].symbol.letter): Redis absent, history \(ranked[1].latest!.microseconds)"))
                #expect(text.contains("idempotency: shard 0: \(String(decoding: key.dropFirst(shard.prefix.utf8.count), as: UTF8.self)) has no time to live"))
                #expect(text.split(separator: "\n").count == 3, "\(text)")
            }
        }
    }

    @Test func findsARetryStoredTwiceInTheHistory() async throws {
        try await TestStores.withRedisStore(shards: 1) { store in
            try await TestStores.withDatabase { pool, _ in
                let events = try await Self.ingest(store, pool, seed: 34, archiveFirst: 1500)
                let first = try #require(events.lazy.compactMap { if case .initial(let initial) = $0 { initial } else { nil } }.first)
                // What a Redis that lost the uuid map would let in: the retry as a new event.
                var retry = first
                retry.receivedAt = Timestamp(microseconds: first.receivedAt.microseconds + 1)
                let logged = LoggedEvent(
                    streamID: "0-1", kind: .initial, id: retry.id, symbol: retry.symbol, guess: retry.guess, receivedAt: retry.receivedAt, adopted: 0)
                try await pool.withConnection { try ArchiveWriter.write([logged], on: $0) }
                let report = try await Self.verify(store, pool)
                #expect(report.differences.contains { $0.hasPrefix("history: uuid \(first.id) has 2 initial rows") })
            }
        }
    }
}

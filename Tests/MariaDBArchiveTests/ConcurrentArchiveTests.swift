import MariaDBClient
import RedisClient
import StoreTestSupport
import SymbolStreamCore
import Testing

@testable import MariaDBArchive
@testable import RedisStore

/// Batches of the log commute: written in any order, or several at once, they
/// leave the same rows, a followup logged before its initial included. (On
/// one shard: these are the mechanics of one shard's log.)
@Suite struct ConcurrentArchiveTests {
    static func logged(_ store: RedisEventStore) async throws -> [[LoggedEvent]] {
        let log = store.log
        let entries = try await log.withReader(shard: store.layout.shard(0)) { reader in
            try await reader.read(consumer: "test", count: 100_000, pending: false, block: nil)
        }
        return entries.map { entry in if case .events(_, let events) = entry { events } else { [] } }
    }

    /// Drains the log with `concurrentBatches` batches of `entriesPerRead`
    /// log entries written at once, each on a connection of its own.
    static func drainConcurrently(
        _ store: RedisEventStore, into pool: MariaDBPool, entriesPerRead: Int, concurrentBatches: Int
    ) async throws -> ArchiverStatistics {
        var configuration = ArchiverConfiguration()
        configuration.entriesPerRead = entriesPerRead
        configuration.concurrentBatches = concurrentBatches
        let wider = MariaDBPool(configuration: pool.configuration, size: concurrentBatches, logger: TestStores.logger)
        let archiver = Archiver(
            log: store.log, database: wider, configuration: configuration,
            logger: TestStores.logger)
        try await archiver.drain()
        await wider.shutdown()
        return archiver.statistics
    }

    static func migrate(_ pool: MariaDBPool) async throws {
        let logger = TestStores.logger
        try await pool.withConnection { try Schema.migrate($0, logger: logger) }
    }

    @Test func batchesWrittenInAnyOrderGiveTheSameRows() async throws {
        try await TestStores.withRedisStore(shards: 1) { store in
            try await TestStores.withDatabase { pool, _ in
                var traffic = Traffic(seed: 51)
                let events = traffic.events(2500)
                try await store.ingest(events, inBatchesOf: 7)
                let batches = try await Self.logged(store)
                #expect(batches.contains { $0.contains { $0.adopted > 0 } })
                try await Self.migrate(pool)
                // Last batch first: every initial commits before the followups it adopted.
                for batch in batches.reversed() {
                    try await pool.withConnection { try ArchiveWriter.write(batch, on: $0) }
                }
                var model = AggregateModel()
                let expected = ArchiveTests.expectedRows(events, model: &model)
                #expect(try await ArchiveTests.rows(pool) == expected)
                // A redelivery of everything, shuffled, changes nothing.
                var generator = SplitMix64(seed: 52)
                for batch in batches.shuffled(using: &generator) {
                    #expect(try await pool.withConnection { try ArchiveWriter.write(batch, on: $0) } == 0)
                }
                #expect(try await ArchiveTests.rows(pool) == expected)
            }
        }
    }

    @Test func theArchiverWritesSeveralBatchesAtOnce() async throws {
        try await TestStores.withRedisStore(shards: 1) { store in
            try await TestStores.withDatabase { pool, _ in
                var traffic = Traffic(seed: 53)
                let events = traffic.events(3000)
                try await store.ingest(events, inBatchesOf: 5)
                let statistics = try await Self.drainConcurrently(store, into: pool, entriesPerRead: 2, concurrentBatches: 4)
                var model = AggregateModel()
                #expect(try await ArchiveTests.rows(pool) == ArchiveTests.expectedRows(events, model: &model))
                let status = try await store.log.status()
                #expect(status.backlog == 0)
                #expect(status.archived == Int64(try await ArchiveTests.rows(pool).count))
                #expect(statistics.batches > 100 && statistics.failures == 0, "\(statistics)")
            }
        }
    }

    /// Traffic without followups before their initial: no batch needs a lookup,
    /// so every one is written beside others.
    @Test func batchesWithoutLookupsAreAllWrittenAtOnce() async throws {
        try await TestStores.withRedisStore(shards: 1) { store in
            try await TestStores.withDatabase { pool, _ in
                let events = Array(
                    SyntheticTraffic(
                        requests: 3000, start: Timestamp(second: 1_790_812_800, offset: 0), span: 600_000_000, followupShare: 0.3, seed: 55))
                try await store.ingest(events, inBatchesOf: 4)
                let batches = try await Self.logged(store)
                #expect(batches.allSatisfy { !ArchiveWriter.needsExclusiveWrite($0) })
                // Put them back for the archiver.
                _ = try await store.client.send(RedisCommand("XGROUP", "SETID", RedisArgument(store.layout.shard(0).stream), "archiver", "0"))
                let statistics = try await Self.drainConcurrently(store, into: pool, entriesPerRead: 1, concurrentBatches: 4)
                var model = AggregateModel()
                #expect(try await ArchiveTests.rows(pool) == ArchiveTests.expectedRows(events, model: &model))
                #expect(statistics.batches == Int64(batches.count) && statistics.failures == 0)
            }
        }
    }

    /// A backlog logged by the previous version: initials that adopted
    /// followups without saying when those came. Their batches look the
    /// followups up in the table, alone, after every batch before them.
    @Test func entriesFromBeforeAdoptionTimesStillAttributeTheirFollowups() async throws {
        try await TestStores.withRedisStore(shards: 1) { store in
            try await TestStores.withDatabase { pool, _ in
                var traffic = Traffic(seed: 54)
                let events = traffic.events(2000)
                try await store.ingest(events, inBatchesOf: 9)
                // Rewrite the log as the previous version wrote it: no `a` field.
                let batches = try await Self.logged(store)
                var legacy = 0
                _ = try await store.client.send(RedisCommand("DEL", RedisArgument(store.layout.shard(0).stream)))
                _ = try await store.client.send(RedisCommand("FCALL", "ss_setup", "1", RedisArgument(store.layout.shard(0).stream), RedisArgument(store.layout.shard(0).prefix)))
                for batch in batches where !batch.isEmpty {
                    var packed = [UInt8]()
                    for event in batch {
                        packed += [event.kind == .initial ? UInt8(ascii: "i") : UInt8(ascii: "f")] + event.id.bytes
                        packed.append(event.symbol.map(\.asciiByte) ?? UInt8(ascii: "-"))
                        packed.append(event.guess.map { $0 ? UInt8(ascii: "1") : UInt8(ascii: "0") } ?? UInt8(ascii: "-"))
                        let time = UInt64(event.receivedAt.second) << 24 | UInt64(event.receivedAt.offset)
                        packed += (0..<8).map { UInt8(truncatingIfNeeded: time >> (56 - 8 * $0)) }
                        packed += [UInt8(event.adopted >> 8), UInt8(event.adopted & 0xff)]
                        if event.adopted > 0 { legacy += 1 }
                    }
                    _ = try await store.client.send(
                        RedisCommand(
                            "XADD", RedisArgument(store.layout.shard(0).stream), "*", "t", "0", "n", RedisArgument(batch.count), "e",
                            RedisArgument(bytes: packed)))
                }
                #expect(legacy > 5)
                _ = try await Self.drainConcurrently(store, into: pool, entriesPerRead: 3, concurrentBatches: 3)
                var model = AggregateModel()
                #expect(try await ArchiveTests.rows(pool) == ArchiveTests.expectedRows(events, model: &model))
            }
        }
    }

    /// Uuids go to MariaDB as their 16 bytes: the UUID type must read them in
    /// order, whatever their version (MariaDB stores version 1 uuids with
    /// their time fields moved, for index locality).
    @Test func uuidsAreStoredAsTheirText() async throws {
        try await TestStores.withRedisStore(shards: 1) { store in
            try await TestStores.withDatabase { pool, _ in
                let ids = [
                    RequestUUID(high: 0, low: 0), RequestUUID(high: .max, low: .max),
                    RequestUUID(high: 0x6f1c_2a4e_8b3d_1c5e, low: 0x9f70_1a2b_3c4d_5e6f),
                    RequestUUID(high: 0x123e_4567_e89b_12d3, low: 0xa456_4266_1417_4000),
                    RequestUUID(high: 0x0011_2233_4455_6677, low: 0xc899_aabb_ccdd_eeff),
                ]
                var events = [IngestEvent]()
                for (index, id) in ids.enumerated() {
                    let time = Timestamp(microseconds: 1_790_812_800_000_000 + Int64(index) * 1_000_001)
                    events.append(.initial(InitialEvent(id: id, symbol: Symbol(index: index)!, guess: index % 2 == 0, receivedAt: time)))
                    events.append(.followup(FollowupEvent(id: id, receivedAt: Timestamp(microseconds: time.microseconds + 999_999))))
                }
                _ = try await store.ingest(events)
                let archiver = Archiver(log: store.log, database: pool, logger: TestStores.logger)
                try await archiver.drain()
                var model = AggregateModel()
                let rows = try await ArchiveTests.rows(pool)
                #expect(rows == ArchiveTests.expectedRows(events, model: &model))
                #expect(rows.map { $0[1] }.contains("6f1c2a4e-8b3d-1c5e-9f70-1a2b3c4d5e6f"))
                let found = try await pool.withConnection { connection in
                    try connection.query("SELECT COUNT(*) FROM events WHERE uuid = '6f1c2a4e-8b3d-1c5e-9f70-1a2b3c4d5e6f'")[0][0].int
                }
                #expect(found == 2)
            }
        }
    }

    /// A uuid MariaDB's UUID type cannot store (byte 6 from 0x80, byte 8 from
    /// 0x01 to 0x80) would be read from its 16 bytes as another value; the
    /// batch sends text instead, which MariaDB refuses as a wrong value.
    @Test func anUnstorableUUIDIsRefusedNotStoredAsAnother() async throws {
        try await TestStores.withDatabase { pool, _ in
            try await Self.migrate(pool)
            let unstorable = RequestUUID(high: 0x27e3_ddde_bdae_86df, low: 0x0110_2392_14ce_5bc6)
            let fine = RequestUUID(high: 0x27e3_ddde_bdae_86df, low: 0x8110_2392_14ce_5bc6)
            #expect(!UUIDColumn.stores(unstorable) && UUIDColumn.stores(fine))
            let events = [(fine, 1_790_812_800), (unstorable, 1_790_812_801)].map { (id: RequestUUID, second: Int64) in
                LoggedEvent(
                    streamID: "1-1", kind: .initial, id: id, symbol: Symbol(parsing: "e"), guess: true,
                    receivedAt: Timestamp(second: second, offset: 5), adopted: 0)
            }
            let refused = await #expect(throws: MariaDBError.self) {
                try await pool.withConnection { try ArchiveWriter.write(events, on: $0) }
            }
            #expect(refused?.code == 1292)
            #expect(try await ArchiveTests.rows(pool) == [])
            try await pool.withConnection { try ArchiveWriter.write([events[0]], on: $0) }
            #expect(try await ArchiveTests.rows(pool).map { $0[1] } == ["27e3ddde-bdae-86df-8110-239214ce5bc6"])
        }
    }
}

import MariaDBClient
import RedisClient
import StoreTestSupport
import SymbolStreamCore
import Testing

@testable import MariaDBArchive
@testable import RedisStore

/// An event MariaDB refuses (here a uuid its UUID type will not take, which
/// the routes now turn away but a store could still be handed) is set aside
/// in the dead-letter stream; the events around it are archived, and verify
/// reports it rather than the archive stalling on it forever.
@Suite struct RefusedEventTests {
    @Test(.timeLimit(.minutes(5))) func aRefusedEventIsDeadLetteredAndTheRestArchived() async throws {
        try await TestStores.withRedisStore { store in
            try await TestStores.withDatabase { pool, _ in
                var traffic = Traffic(seed: 41)
                var events = traffic.events(400)
                let poison = try #require(RequestID(parsing: "0c100000-0000-bad0-8000-000000000000"))
                #expect(!UUIDColumn.stores(poison))
                let at = Timestamp(microseconds: events[200].receivedAt.microseconds + 1)
                events.insert(.initial(InitialEvent(id: poison, symbol: .init(parsing: "q")!, guess: true, receivedAt: at)), at: 201)
                _ = try await store.ingest(events)

                let archiver = Archiver(
                    log: store.log, database: pool, logger: TestStores.logger)
                try await archiver.drain()
                #expect(archiver.statistics.deadLetters == 1)
                #expect(try await store.log.status().backlog == 0)

                var model = AggregateModel()
                let expected = ArchiveTests.expectedRows(events, model: &model).filter { $0[1] != poison.description }
                #expect(try await ArchiveTests.rows(pool) == expected)
                let letters = try await store.client.send(
                    RedisCommand("XRANGE", RedisArgument(store.layout.shard(of: poison).deadLetters), "-", "+"))
                #expect(String(describing: letters).contains(poison.description))

                var verify = Verify(redis: store.redis, database: pool, logger: TestStores.logger)
                verify.listedPerKind = 100
                let report = try await verify.run()
                #expect(report.differences.contains("log: shard \(store.layout.shard(of: poison).index): 1 log entries were dead-lettered: their events are not in MariaDB"))
                #expect(report.differences.contains { $0.hasPrefix("request: shard \(store.layout.shard(of: poison).index): \(poison)") })
            }
        }
    }
}

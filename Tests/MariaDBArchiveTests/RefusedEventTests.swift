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
                let poison = try #require(RequestUUID(parsing: "0c100000-0000-bad0-8000-000000000000"))
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

    /// A refused initial that had adopted followups (they came first) takes
    /// their rows down with it (they are written together): its dead letter
    /// names their times, so nothing refused goes unrecorded.
    @Test(.timeLimit(.minutes(1))) func aRefusedInitialNamesTheFollowupsItAdopted() async throws {
        try await TestStores.withRedisStore { store in
            try await TestStores.withDatabase { pool, _ in
                var traffic = Traffic(seed: 43)
                let poison = try #require(RequestUUID(parsing: "0c100000-0000-bad0-8000-0000000000a1"))
                let start = traffic.time + 1_000_000
                let followups = [Timestamp(microseconds: start), Timestamp(microseconds: start + 250_000)]
                _ = try await store.ingest(followups.map { .followup(FollowupEvent(id: poison, receivedAt: $0)) })
                _ = try await store.ingest(traffic.events(50))
                let initial = InitialEvent(id: poison, symbol: .init(parsing: "k")!, guess: false, receivedAt: Timestamp(microseconds: start + 500_000))
                _ = try await store.ingest([.initial(initial)])

                let archiver = Archiver(log: store.log, database: pool, logger: TestStores.logger)
                try await archiver.drain()
                // Each followup alone, then the initial with both.
                #expect(archiver.statistics.deadLetters == 3)
                let reply = try await store.client.send(
                    RedisCommand("XRANGE", RedisArgument(store.layout.shard(of: poison).deadLetters), "-", "+"))
                let letters = try #require(reply.array).compactMap { $0.array?.last?.array }.map { fields in
                    Dictionary(
                        uniqueKeysWithValues: stride(from: 0, to: fields.count - 1, by: 2).map {
                            (fields[$0].string ?? "", fields[$0 + 1].string ?? "")
                        })
                }
                let dead = try #require(letters.first { $0["kind"] == "initial" })
                #expect(dead["uuid"] == poison.description)
                #expect(dead["adopted_followups"] == followups.map(\.description).joined(separator: ","))
                #expect(letters.filter { $0["kind"] == "followup" }.compactMap { $0["received_at"] }.sorted() == followups.map(\.description))
            }
        }
    }
}

import MariaDBClient
import StoreTestSupport
import SymbolStreamCore
import Testing

@testable import MariaDBArchive
@testable import RedisStore

/// Archivers share the shards: entries a consumer was given and never
/// acknowledged (it died) are taken over by another one once they have been
/// pending for `abandonedAfter` (`--archiver-takeover-after`), however many.
@Suite struct ArchiverTakeoverTests {
    @Test func anotherArchiverTakesOverWhatADeadOneLeftPending() async throws {
        try await TestStores.withRedisStore(shards: 2) { store in
            try await TestStores.withDatabase { pool, _ in
                let logger = TestStores.logger
                try await pool.withConnection { try Schema.migrate($0, logger: logger) }
                var traffic = Traffic(seed: 41)
                let events = traffic.events(600)
                try await store.ingest(events, inBatchesOf: 20)
                // A consumer that was given every entry of both shards and died.
                var given = 0
                for shard in store.layout.shards {
                    given += try await store.log.withReader(shard: shard) { reader in
                        try await reader.read(consumer: "dead", count: 10_000, pending: false, block: nil).count
                    }
                }
                #expect(given > 20)

                var configuration = ArchiverConfiguration()
                configuration.consumer = "alive"
                // Under a second (whole milliseconds reach XAUTOCLAIM), and
                // fewer entries per claim than were abandoned: several claims.
                configuration.abandonedAfter = .milliseconds(300)
                configuration.entriesPerRead = 7
                let archiver = Archiver(log: store.log, database: pool, configuration: configuration, logger: logger)
                let backlog = try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await archiver.run() }
                    defer { group.cancelAll() }
                    // A guard against a hang only, not a timing: the takeover takes ~0.3 s.
                    let clock = ContinuousClock()
                    let deadline = clock.now.advanced(by: .seconds(120))
                    var backlog = try await store.log.status().backlog
                    while backlog > 0, clock.now < deadline {
                        try await Task.sleep(for: .milliseconds(50))
                        backlog = try await store.log.status().backlog
                    }
                    return backlog
                }
                #expect(backlog == 0)
                var model = AggregateModel()
                #expect(try await ArchiveTests.rows(pool) == ArchiveTests.expectedRows(events, model: &model))
            }
        }
    }
}

import MariaDBClient
import RedisClient
import StoreTestSupport
import SymbolStreamCore
import Testing

@testable import MariaDBArchive
@testable import RedisStore

@Suite struct RebuildSnapshotTests {
    /// Live ingest, archive, rebuild from MariaDB: every aggregate key comes
    /// back byte for byte, and the server's AOF setting as it was.
    @Test func rebuildReproducesLiveKeysByteForByte() async throws {
        try await TestStores.withRedisStore { store in
            try await TestStores.withDatabase { pool, _ in
                // In receive order, as one server logs them: the rebuild reads
                // the history in that order, and fine logs and uuid records
                // keep the order events came in (answers do not depend on it,
                // the bytes do).
                var traffic = Traffic(seed: 61)
                let events = traffic.events(3000).sorted { $0.receivedAt < $1.receivedAt }
                try await store.ingest(events, inBatchesOf: 64)
                let live = try await store.aggregateDump()
                let archiver = Archiver(log: store.log, database: pool, logger: TestStores.logger)
                let rebuild = Rebuild(redis: store.redis, archiver: archiver, database: pool, logger: TestStores.logger)
                let setting: @Sendable () async throws -> String? = {
                    try await store.client.send(RedisCommand("CONFIG", "GET", "auto-aof-rewrite-percentage")).array?.last?.string
                }
                let (before, read, after) = try await ServerSettingsLock.shared.withLock {
                    (try await setting(), try await rebuild.run(), try await setting())
                }
                #expect(before == after)
                #expect(read == Int64(try await ArchiveTests.rows(pool).count))
                let rebuilt = try await store.aggregateDump()
                #expect(live.count > 1500)
                #expect(Set(live.keys).symmetricDifference(rebuilt.keys).sorted() == [])
                #expect(live.filter { rebuilt[$0.key] != $0.value }.map(\.key).sorted() == [])
            }
        }
    }
}

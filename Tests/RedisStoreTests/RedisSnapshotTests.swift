import RedisClient
import StoreTestSupport
import Synchronization
import SymbolStreamCore
import Testing

@testable import RedisStore

/// `write(model)` (what `rebuild` ends with) builds, byte for byte, the keys
/// live ingest builds from the same events.
@Suite struct RedisSnapshotTests {
    final class Progress: Sendable {
        let values = Mutex([(Int, Int)]())
    }

    @Test func aWrittenModelEqualsLiveIngestByteForByte() async throws {
        try await TestStores.withRedisStore { store in
            var traffic = Traffic(seed: 41)
            let events = traffic.events(3000)
            var model = AggregateModel()
            var sharded = ShardedModel(layout: store.layout)
            for event in events {
                _ = model.apply(event)
                sharded.apply(event)
            }
            try await store.ingest(events, inBatchesOf: 150)
            let live = try await store.aggregateDump()

            try await store.admin.resetAggregates()
            #expect(try await store.aggregateDump() == [:])
            // Small chunks, several in flight: every path of the encoder and the window.
            let progress = Progress()
            try await store.admin.write(sharded, chunkBytes: 2048, window: 3) { done, total in progress.values.withLock { $0.append((done, total)) } }
            let written = try await store.aggregateDump()

            #expect(live.keys.filter { $0.contains("}:r:s:") }.count > 500)
            // Requests still waiting for their initial, in the shards that have some.
            #expect(Set(live.keys.filter { $0.hasSuffix("}:stats") }).count == sharded.shards.filter { !$0.orphans.isEmpty }.count)
            #expect(Set(live.keys).symmetricDifference(written.keys).sorted() == [])
            #expect(live.filter { written[$0.key] != $0.value }.map(\.key).sorted() == [])
            let reported = progress.values.withLock { $0 }
            #expect(reported.count > 10)
            #expect(reported.first?.0 == 0)
            #expect(reported.last.map { $0.0 == $0.1 && $0.1 == live.count } == true)
            #expect(zip(reported, reported.dropFirst()).allSatisfy { $0.0 <= $1.0 })
            #expect(try await StoreChecks.differences(store, model, events: events, seed: 42) == [])
        }
    }

    /// The encoder stops at the uuid map until the writer hands over its
    /// grouping (a child task of the writer), then goes on to the end.
    @Test func encodingWaitsForTheUUIDMapItIsGiven() async {
        var traffic = Traffic(seed: 43)
        var model = AggregateModel()
        for event in traffic.events(500) { _ = model.apply(event) }
        let layout = RedisLayout(prefix: "t:", shards: 1)
        var encoder = RedisSnapshot(model: model, shard: layout.shard(0), of: layout, chunkBytes: 2048)
        var keys = 0
        while let chunk = encoder.next() { keys += chunk.keys }
        #expect(encoder.needsUUIDMap)
        #expect(keys > 0 && keys < encoder.keyCount)
        #expect(encoder.next() == nil)
        encoder.provideUUIDMap(await encoder.groupUUIDMap())
        #expect(!encoder.needsUUIDMap)
        while let chunk = encoder.next() { keys += chunk.keys }
        #expect(keys == encoder.keyCount)
        #expect(!encoder.needsUUIDMap)
    }

    @Test func anEmptyModelWritesNothing() async throws {
        try await TestStores.withRedisStore { store in
            try await store.admin.write(ShardedModel(layout: store.layout))
            #expect(try await store.keys() == [])
        }
    }

    @Test func automaticAOFRewritesArePausedAndRestored() async throws {
        try await TestStores.withRedisStore { store in
            try await ServerSettingsLock.shared.withLock { try await Self.checkPause(store) }
        }
    }

    static func checkPause(_ store: RedisEventStore) async throws {
        let setting: @Sendable () async throws -> String? = {
            try await store.client.send(RedisCommand("CONFIG", "GET", "auto-aof-rewrite-percentage")).array?.last?.string
        }
        let before = try await setting()
        try #require(before != nil && before != "0")
        let inside = try await store.admin.withAutomaticAOFRewritesPaused { paused in
            (paused, try await setting())
        }
        #expect(inside.0 && inside.1 == "0")
        #expect(try await setting() == before)
        struct Failure: Error {}
        await #expect(throws: Failure.self) {
            try await store.admin.withAutomaticAOFRewritesPaused { _ -> Int in throw Failure() }
        }
        #expect(try await setting() == before)
    }
}

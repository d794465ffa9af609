import RedisClient
import StoreTestSupport
import SymbolStreamCore
import Testing

@testable import RedisStore

/// The constants the function library (`symbolstream.lua`) and the Swift
/// codecs share agree: asked of the library as loaded in a real Redis (its
/// byte counts measured by packing its own formats).
@Suite struct FunctionLibraryTests {
    @Test func sharedConstantsAgree() async throws {
        try await TestStores.withRedisStore { store in
            let reply = try await store.redis.call(.format, shard: store.layout.shard(0))
            let pairs = try #require(reply.array)
            var constants = [String: Int64?]()
            var texts = [String: String]()
            for index in stride(from: 0, to: pairs.count - 1, by: 2) {
                let name = try #require(pairs[index].string)
                if case .integer(let value) = pairs[index + 1] { constants[name] = value } else { texts[name] = pairs[index + 1].string }
            }
            let expected: [String: Int] = [
                "time_bytes": PackedTime.byteCount,
                "stats_bytes": StatsRecord.byteCount,
                "record_bytes": UUIDRecord.headerByteCount,
                "record_stride": UUIDRecord.headerByteCount,
                "time_stride": PackedTime.byteCount,
                "fine_bytes": FineLogFormat.entryByteCount,
                "ingest_bytes": IngestArgument.eventByteCount,
                "ingest_stride": IngestArgument.eventByteCount,
                "log_event_bytes": LogEntryFormat.eventByteCount,
                "none_adopted": 0,
                "orphan_marker": Int(UUIDRecord.orphanMarker),
                "keyed_kind": Int(IngestArgument.keyedKind),
                "idempotency_digest_bytes": IdempotencyDigest.byteCount,
                "outcome_new": Int(IngestArgument.Outcome.new.rawValue),
                "outcome_retry": Int(IngestArgument.Outcome.retry.rawValue),
                "outcome_conflict": Int(IngestArgument.Outcome.conflict.rawValue),
                "outcome_attributed": Int(IngestArgument.Outcome.attributed.rawValue),
                "outcome_pending": Int(IngestArgument.Outcome.pending.rawValue),
                "outcome_replayed": Int(IngestArgument.Outcome.replayed.rawValue),
            ]
            #expect(constants == expected.mapValues { Int64($0) })
            #expect(texts == ["rankings": RankingFormat.names])
        }
    }

    @Test func everyFunctionIsRegistered() async throws {
        try await TestStores.withRedisStore { store in
            let reply = try await store.client.send(RedisCommand("FUNCTION", "LIST", "LIBRARYNAME", "symbolstream"))
            let text = String(describing: reply)
            for function in [FunctionLibrary.Function.ingest, .setup, .acknowledge, .status, .reset, .format] {
                #expect(text.contains(function.rawValue), "\(function.rawValue) is not registered")
            }
        }
    }
}

/// `RedisLayout` is the only Swift code that names keys; what the library
/// names from the same prefix must parse there.
@Suite struct LayoutTests {
    @Test func everyKeyAnIngestWritesParses() async throws {
        try await TestStores.withRedisStore { store in
            var traffic = Traffic(seed: 12)
            traffic.idempotencyKeys = true
            _ = try await store.ingest(traffic.events(2000), inBatchesOf: 64)
            let keys = try await store.rawKeys()
            var kinds = Set<String>()
            var shards = Set<Int>()
            for key in keys {
                guard case .shard(let index, let parsed) = store.layout.key(named: key) else {
                    Issue.record("\(String(decoding: key, as: UTF8.self)) is not a key of a shard")
                    continue
                }
                #expect(store.layout.shard(index).bytes(parsed) == key)
                #expect(store.layout.shard(of: RequestUUID(high: 0, low: 0)).slot == store.layout.shard(0).slot)
                kinds.insert(String(describing: parsed).prefix(while: { $0 != "(" }).description)
                shards.insert(index)
            }
            #expect(kinds.isSuperset(of: ["totals", "rollup", "fineLog", "uuidMap", "eventLog", "ranking", "idempotency"]))
            #expect(shards.count == store.layout.shardCount)
        }
    }

    @Test func namesParseBack() {
        let layout = RedisLayout(prefix: "x:", shards: 16)
        let keys: [RedisLayout.Key] = [
            .totals, .stats, .eventLog, .deadLetters, .fineLog(second: 1_700_000_000), .fineLog(second: -5), .uuidMap(0), .uuidMap(0xffff),
            .uuidMap(0x3a3a), .rollup(RollupBucket(level: .second, index: 12)), .rollup(RollupBucket(level: .day, index: -1)),
            .ranking(.initials), .ranking(.followups), .ranking(.recent), .idempotency(bucket: 2_833_333, part: 0),
            .idempotency(bucket: -3, part: 255),
        ]
        for shard in [layout.shard(0), layout.shard(7), layout.shard(15)] {
            for key in keys { #expect(layout.key(named: shard.bytes(key)) == .shard(shard.index, key)) }
        }
        for key in keys { #expect(layout.key(named: layout.legacy.bytes(key)) == .legacy(key)) }
        #expect(layout.key(named: Array(layout.meta.utf8)) == .meta)
        #expect(layout.shard(7).prefix == "x:{7}:")
        for name in ["x:", "y:totals", "x:r:s:1x", "x:r:w:1", "x:e:01", "x:u:abc", "x:totals2", "x:r:s", "x:{16}:totals", "x:{07}:totals", "x:{}:totals", "x:{7}totals",
            "x:{7}:z:rate", "x:{7}:z:initials:1", "x:{7}:k:1", "x:{7}:k:1:256", "x:{7}:k:1:01", "x:{7}:k:x:1",
        ] {
            #expect(layout.key(named: Array(name.utf8)) == nil, "\(name)")
        }
    }

    /// A uuid's events all go to one shard, every shard's keys to one slot,
    /// and the shards spread over the uuid-map hashes evenly.
    @Test func shardsAreSlotsAndSpreadEvenly() {
        let layout = RedisLayout(prefix: "ss:", shards: 16)
        for shard in layout.shards {
            let keys = [
                shard.totals, shard.stream, shard.stats, shard.bucket(RollupBucket(level: .hour, index: 9)), shard.fineLog(second: 1),
                shard.ranking(.recent), shard.name(.idempotency(bucket: 5, part: 7)),
            ]
            #expect(Set(keys.map { HashSlot.of(key: $0) }) == [shard.slot])
        }
        #expect(Set(layout.shards.map(\.slot)).count == 16)
        var perShard = [Int](repeating: 0, count: 16)
        for head in 0..<65_536 { perShard[layout.shard(of: RequestUUID(high: UInt64(head) << 48, low: 0)).index] += 1 }
        #expect(perShard.allSatisfy { $0 == 4096 })
    }
}

import RedisClient
import StoreTestSupport
import SymbolStreamCore
import Testing

@testable import RedisStore

/// Followups with an idempotency key against a real Redis: the key is looked
/// up and remembered inside the `ss_ingest` call that counts the followup.
@Suite struct IdempotencyTests {
    static let id = RequestUUID(high: 0x1111_2222_3333_4444, low: 1)
    static let other = RequestUUID(high: 0x5555_6666_7777_8888, low: 2)
    static let e = Symbol(parsing: "e")!
    static let start: Int64 = 1_700_000_000  // a second

    static func at(_ second: Int64, _ offset: Int64 = 0) -> Timestamp { Timestamp(second: second, offset: offset) }
    static func initial(_ id: RequestUUID = id, at time: Timestamp) -> IngestEvent {
        .initial(InitialEvent(id: id, symbol: e, guess: true, receivedAt: time))
    }
    static func followup(_ id: RequestUUID = id, key: String?, at time: Timestamp) -> IngestEvent {
        .followup(FollowupEvent(id: id, receivedAt: time, idempotencyKey: key.map { IdempotencyKey($0)! }))
    }

    @Test func theSameKeyTwiceInOneBatchCountsOnce() async throws {
        try await TestStores.withRedisStore { store in
            let outcomes = try await store.ingest(
                [
                    Self.initial(at: Self.at(Self.start)), Self.followup(key: "a", at: Self.at(Self.start, 1)),
                    Self.followup(key: "a", at: Self.at(Self.start, 2)), Self.followup(key: "b", at: Self.at(Self.start, 3)),
                ], inBatchesOf: 256)
            #expect(outcomes == [.initial(.accepted(guess: true)), .followup(.attributed(Self.e)), .followup(.replayed), .followup(.attributed(Self.e))])
            #expect(try await store.summary(of: Self.e).followups == 2)
            #expect(try await store.request(Self.id)?.followups == [Self.at(Self.start, 1), Self.at(Self.start, 3)])
            // Only the counted followups are logged for the archive.
            let logged = try await store.log.backlog(of: store.layout.shard(of: Self.id)).flatMap { entry -> [LoggedEvent] in
                if case .events(_, let events) = entry { events } else { [] }
            }
            #expect(logged.filter { $0.kind == .followup }.map(\.receivedAt) == [Self.at(Self.start, 1), Self.at(Self.start, 3)])
        }
    }

    @Test func theSameKeyAcrossBatchesCountsOnceAndWithoutAKeyEveryFollowupCounts() async throws {
        try await TestStores.withRedisStore { store in
            _ = try await store.ingest([Self.initial(at: Self.at(Self.start))])
            var outcomes = [IngestOutcome]()
            for (index, key) in ["a", "a", nil, nil, "a"].enumerated() {
                outcomes += try await store.ingest([Self.followup(key: key, at: Self.at(Self.start + 1 + Int64(index)))]).map { try $0.get() }
            }
            #expect(outcomes == [.followup(.attributed(Self.e)), .followup(.replayed), .followup(.attributed(Self.e)), .followup(.attributed(Self.e)), .followup(.replayed)])
            #expect(try await store.summary(of: Self.e).followups == 3)
            #expect(try await store.recordFollowup(FollowupEvent(id: Self.id, receivedAt: Self.at(Self.start + 9), idempotencyKey: IdempotencyKey("a"))) == .replayed)
        }
    }

    @Test func keysOfDifferentUUIDsAreIndependent() async throws {
        try await TestStores.withRedisStore { store in
            let outcomes = try await store.ingest(
                [
                    Self.initial(at: Self.at(Self.start)), Self.initial(Self.other, at: Self.at(Self.start, 1)),
                    Self.followup(key: "same", at: Self.at(Self.start, 2)), Self.followup(Self.other, key: "same", at: Self.at(Self.start, 3)),
                    Self.followup(Self.other, key: "same", at: Self.at(Self.start, 4)),
                ], inBatchesOf: 2)
            #expect(outcomes.suffix(3) == [.followup(.attributed(Self.e)), .followup(.attributed(Self.e)), .followup(.replayed)])
            #expect(try await store.summary(of: Self.e).followups == 2)
        }
    }

    /// A key of a followup that came before its initial: the retry is not
    /// kept again, and the initial adopts one followup.
    @Test func aRetriedEarlyFollowupWaitsOnce() async throws {
        try await TestStores.withRedisStore { store in
            let outcomes = try await store.ingest(
                [Self.followup(key: "k", at: Self.at(Self.start)), Self.followup(key: "k", at: Self.at(Self.start + 5)), Self.initial(at: Self.at(Self.start + 6))],
                inBatchesOf: 1)
            #expect(outcomes == [.followup(.pending), .followup(.replayed), .initial(.accepted(guess: true))])
            #expect(try await store.summary(of: Self.e).followups == 1)
            #expect(try await store.log.status().waitingRequests == 0)
        }
    }

    /// Remembered for at least the window after the followup, forgotten after
    /// two (a retry then counts again), by the followups' receive times.
    @Test func theWindowEnds() async throws {
        let window: Int64 = 100
        try await TestStores.withRedisStore(idempotencyWindow: window) { store in
            let base = Self.start - Self.start % window  // a bucket's start
            _ = try await store.ingest([Self.initial(at: Self.at(base))])
            func send(_ second: Int64, _ key: String) async throws -> IngestOutcome {
                try await store.ingest([Self.followup(key: key, at: Self.at(second, 999_999))])[0].get()
            }
            // Late in a bucket, retried just inside the window (in the next bucket).
            #expect(try await send(base + 99, "late") == .followup(.attributed(Self.e)))
            #expect(try await send(base + 99 + window - 1, "late") == .followup(.replayed))
            // Early in a bucket: still remembered a window later and up to the end of the next bucket.
            #expect(try await send(base, "early") == .followup(.attributed(Self.e)))
            #expect(try await send(base + 2 * window - 1, "early") == .followup(.replayed))
            // Two buckets on: forgotten, so a retry counts again (and is remembered anew).
            #expect(try await send(base + 2 * window, "early") == .followup(.attributed(Self.e)))
            #expect(try await send(base + 2 * window + 1, "early") == .followup(.replayed))
            // A front whose clock is a little behind still finds a key of the next bucket.
            #expect(try await send(base + 3 * window + 1, "skew") == .followup(.attributed(Self.e)))
            #expect(try await send(base + 3 * window - 2, "skew") == .followup(.replayed))
            #expect(try await store.summary(of: Self.e).followups == 4)
        }
    }

    /// Each bucket's hashes carry a time to live that ends once no followup
    /// can look into them: (bucket + 2) windows, counted from the followup's
    /// own time (so fronts' clocks need not agree with Redis's).
    @Test func rememberedKeysHaveATimeToLive() async throws {
        let window: Int64 = 1000
        try await TestStores.withRedisStore(idempotencyWindow: window) { store in
            let base = Self.start - Self.start % window
            _ = try await store.ingest([Self.followup(key: "x", at: Self.at(base + 10)), Self.followup(Self.other, key: "y", at: Self.at(base + 10))])
            let keys = try await store.rawKeys().filter { if case .shard(_, .idempotency) = store.layout.key(named: $0) { true } else { false } }
            #expect(!keys.isEmpty && keys.count <= 2)
            for key in keys {
                // 2 windows from the bucket's start, less the 10 s in: 1991 s, less what passed since.
                let ttl = try await store.client.send(RedisCommand("PTTL", RedisArgument(bytes: key))).int ?? -1
                #expect(ttl > window * 1000 && ttl <= 1_991_000, "\(ttl) ms")
            }
        }
    }

    /// With a window of a second, Redis drops the hashes whole within seconds.
    @Test func rememberedKeysExpireWhole() async throws {
        try await TestStores.withRedisStore(idempotencyWindow: 1) { store in
            let now = Int64(try await store.client.send(RedisCommand("TIME")).array?.first?.int ?? 0)
            _ = try await store.ingest([Self.followup(key: "x", at: Self.at(now)), Self.followup(Self.other, key: "y", at: Self.at(now))])
            func rememberedKeys() async throws -> Int {
                try await store.rawKeys().filter { if case .shard(_, .idempotency) = store.layout.key(named: $0) { true } else { false } }.count
            }
            var remaining = try await rememberedKeys()
            for _ in 0..<300 where remaining > 0 {
                try await Task.sleep(for: .milliseconds(100))
                remaining = try await rememberedKeys()
            }
            #expect(remaining == 0)
            // Their followups stay: only the keys are forgotten.
            #expect(try await store.request(Self.id)?.followups.count == 1)
        }
    }

    /// One small listpack hash per (bucket, first digest byte), and the
    /// names parse in `RedisLayout`.
    @Test func keysLiveInSmallListpackHashes() async throws {
        try await TestStores.withRedisStore { store in
            let time = Self.at(Self.start)
            _ = try await store.ingest(
                (0..<300).map { .followup(FollowupEvent(id: RequestUUID(high: 7, low: UInt64($0)), receivedAt: time, idempotencyKey: IdempotencyKey("retry-\($0)"))) })
            var fields = 0
            for key in try await store.rawKeys() {
                guard case .shard(let index, .idempotency(let bucket, let part)) = store.layout.key(named: key) else { continue }
                #expect(bucket == Self.start / IdempotencyKey.defaultWindowSeconds)
                #expect(store.layout.shard(index).bytes(.idempotency(bucket: bucket, part: part)) == key)
                #expect(try await store.client.send(RedisCommand("OBJECT", "ENCODING", RedisArgument(bytes: key))).string == "listpack")
                let pairs = try await store.client.send(RedisCommand("HGETALL", RedisArgument(bytes: key))).array ?? []
                for index in stride(from: 0, to: pairs.count, by: 2) {
                    #expect(pairs[index].bytes?.count == IdempotencyDigest.byteCount - 1)
                    #expect(pairs[index + 1].bytes == [])
                }
                fields += pairs.count / 2
            }
            #expect(fields == 300)
        }
    }

    /// Random traffic with keyed followups and their retries, within and
    /// beyond the window: Redis answers every event and every dashboard as
    /// the reference model does.
    @Test func keyedTrafficMatchesTheModel() async throws {
        let window: Int64 = 3600
        try await TestStores.withRedisStore(idempotencyWindow: window) { store in
            var traffic = Traffic(seed: 61)
            traffic.idempotencyKeys = true
            var model = AggregateModel(idempotencyWindow: window)
            let events = traffic.events(4000)
            let outcomes = try await store.ingest(events, inBatchesOf: 97)
            let expected = events.map { model.apply($0) }
            #expect(outcomes == expected)
            #expect(expected.filter { $0 == .followup(.replayed) }.count > 50)
            #expect(try await StoreChecks.differences(store, model, events: events, seed: 62) == [])
        }
    }

    /// `rebuild`'s reset keeps the remembered keys (they are not in the
    /// history to be written back): a retry after a rebuild still counts once.
    @Test func aResetKeepsRememberedKeys() async throws {
        try await TestStores.withRedisStore { store in
            _ = try await store.ingest([Self.initial(at: Self.at(Self.start)), Self.followup(key: "a", at: Self.at(Self.start, 1))])
            try await store.admin.resetAggregates()
            var model = ShardedModel(layout: store.layout)
            model.apply(Self.initial(at: Self.at(Self.start)))
            model.apply(Self.followup(key: nil, at: Self.at(Self.start, 1)))
            try await store.admin.write(model)
            #expect(try await store.ingest([Self.followup(key: "a", at: Self.at(Self.start, 9))]).map { try $0.get() } == [.followup(.replayed)])
            #expect(try await store.summary(of: Self.e).followups == 1)
        }
    }

    /// A malformed call (digests that do not fit the keyed followups) is
    /// refused before anything is written.
    @Test func aMalformedCallWritesNothing() async throws {
        try await TestStores.withRedisStore { store in
            let shard = store.layout.shard(of: Self.id)
            let packed = IngestArgument.encode([Self.followup(key: "a", at: Self.at(Self.start))])
            for arguments in [[packed.events, Array(packed.digests.dropLast()), Array("600".utf8)], [packed.events, packed.digests, Array("0".utf8)]] {
                await #expect(throws: (any Error).self) {
                    _ = try await store.redis.call(.ingest, shard: shard, arguments.map { RedisArgument(bytes: $0) })
                }
            }
            let keys = try await store.rawKeys()
            #expect(keys.isEmpty)
        }
    }
}

import RedisClient
import StoreTestSupport
import SymbolStreamCore
import Testing

@testable import RedisStore

/// The Redis store against a real Redis, checked against the reference model.
@Suite struct RedisEventStoreTests {
    @Test func answersEverythingLikeTheReferenceModel() async throws {
        try await TestStores.withRedisStore { store in
            var traffic = Traffic(seed: 1)
            var model = AggregateModel()
            let events = traffic.events(4000)
            for event in events {
                let expected = model.apply(event)
                let got: IngestOutcome
                switch event {
                case .initial(let initial): got = .initial(try await store.recordInitial(initial))
                case .followup(let followup): got = .followup(try await store.recordFollowup(followup))
                }
                #expect(got == expected, "\(event)")
            }
            #expect(try await StoreChecks.differences(store, model, events: events, seed: 2) == [])
        }
    }

    @Test func aPipelinedBatchEqualsOneByOne() async throws {
        try await TestStores.withRedisStore { store in
            var traffic = Traffic(seed: 3)
            var model = AggregateModel()
            let events = traffic.events(3000)
            let outcomes = try await store.ingest(events, inBatchesOf: 500)
            #expect(outcomes == events.map { model.apply($0) })
            #expect(try await StoreChecks.differences(store, model, events: events, seed: 4) == [])
        }
    }

    @Test func concurrentSymbolReadsShareCallsAndAnswerEachItsOwn() async throws {
        try await TestStores.withRedisStore { store in
            var traffic = Traffic(seed: 11)
            var model = AggregateModel()
            let events = traffic.events(800)
            for event in events { _ = model.apply(event) }
            _ = try await store.ingest(events)
            // Many readers at once, repeated symbols among them: each gets its
            // own symbol's answer, whichever batch it lands in.
            let asked = (0..<600).map { Symbol.all[($0 * 7) % 26] }
            let answers = try await withThrowingTaskGroup(of: (Int, SymbolSummary).self) { group in
                for (index, symbol) in asked.enumerated() {
                    group.addTask { (index, try await store.summary(of: symbol)) }
                }
                return try await group.reduce(into: [Int: SymbolSummary]()) { $0[$1.0] = $1.1 }
            }
            for (index, symbol) in asked.enumerated() {
                #expect(answers[index] == model.summary(of: symbol), "\(symbol)")
            }
        }
    }

    @Test func everyAcceptedEventIsLoggedOnceInOrderAndRetriesAreNot() async throws {
        try await TestStores.withRedisStore { store in
            let log = store.log
            let layout = store.layout
            var traffic = Traffic(seed: 5)
            var model = AggregateModel()
            let events = traffic.events(1500)
            let outcomes = try await store.ingest(events).map { try $0.get() }
            var expected = [(IngestEvent, Int)]()
            for (event, outcome) in zip(events, outcomes) {
                let before = model.request(event.id)
                _ = model.apply(event)
                switch outcome {
                case .initial(.accepted):
                    expected.append((event, before?.followups.count ?? 0))
                case .followup:
                    expected.append((event, 0))
                default:
                    break
                }
            }
            let status = try await store.log.status()
            #expect(status.oldestUnarchived == expected.map(\.0.receivedAt).min())

            var entryCount = 0
            var loggedCount = 0
            for shard in layout.shards {
                let entries = try await log.withReader(shard: shard) { reader in
                    try await reader.read(consumer: "test", count: 10_000, pending: false, block: nil)
                }
                let events = events.filter { layout.shard(of: $0.id) == shard }
                let expectedHere = expected.filter { layout.shard(of: $0.0.id) == shard }
                // One entry per call of at most 256 events of the shard.
                #expect(entries.count == (events.count + 255) / 256, "shard \(shard.index)")
                entryCount += entries.count
                let logged = entries.flatMap { entry -> [LoggedEvent] in
                    guard case .events(_, let events) = entry else {
                        Issue.record("not events: \(entry)")
                        return []
                    }
                    return events
                }
                #expect(logged.count == expectedHere.count)
                loggedCount += logged.count
                for (logged, (event, adopted)) in zip(logged, expectedHere) {
                    #expect(logged.id == event.id)
                    #expect(logged.receivedAt == event.receivedAt)
                    switch event {
                    case .initial(let initial):
                        #expect(logged.kind == .initial && logged.symbol == initial.symbol && logged.guess == initial.guess)
                        #expect(logged.adopted == adopted)
                    case .followup:
                        #expect(logged.kind == .followup && logged.guess == nil)
                        #expect(logged.symbol == model.request(event.id)?.symbol || logged.symbol == nil)
                    }
                }
                // Acknowledging trims: the log keeps only what is not archived.
                #expect(try await log.acknowledge(entries.map(\.streamID), events: logged.count, shard: shard) == entries.count)
            }
            #expect(status.backlog == Int64(entryCount))
            #expect(loggedCount == expected.count)
            let done = try await store.log.status()
            #expect(done.backlog == 0 && done.oldestUnarchived == nil && done.archived == Int64(loggedCount))
        }
    }

    @Test func survivesTheFunctionLibraryBeingFlushed() async throws {
        try await TestStores.withRedisStore { store in
            let e = Symbol(parsing: "e")!
            let id = RequestUUID(high: 7, low: 7)
            _ = try await store.recordInitial(InitialEvent(id: id, symbol: e, guess: true, receivedAt: Timestamp(microseconds: 1_000_000)))
            _ = try await store.client.send(RedisCommand("FUNCTION", "FLUSH"))
            #expect(try await store.summary(of: e).count == 1)
            #expect(try await store.recordFollowup(FollowupEvent(id: id, receivedAt: Timestamp(microseconds: 2_000_000))) == .attributed(e))
            #expect(try await store.ingest([.followup(FollowupEvent(id: id, receivedAt: Timestamp(microseconds: 3_000_000)))]).map { try $0.get() } == [.followup(.attributed(e))])
        }
    }

    @Test func resetDeletesAggregatesButKeepsTheLog() async throws {
        try await TestStores.withRedisStore { store in
            var traffic = Traffic(seed: 8)
            _ = try await store.ingest(traffic.events(300))
            let backlog = try await store.log.status().backlog
            #expect(try await store.admin.resetAggregates() > 0)
            let kept = try await store.rawKeys().compactMap { store.layout.key(named: $0) }
            #expect(!kept.isEmpty && kept.allSatisfy { if case .shard(_, .eventLog) = $0 { true } else if case .shard(_, .stats) = $0 { true } else { false } })
            #expect(try await store.log.status().waitingRequests == 0)
            #expect(try await store.log.status().backlog == backlog)
            #expect(try await store.totals().allSatisfy { $0.count == 0 && $0.followups == 0 })
        }
    }

    @Test func usesListpackEncodedUUIDBuckets() async throws {
        try await TestStores.withRedisStore { store in
            var traffic = Traffic(seed: 9)
            _ = try await store.ingest(traffic.events(500))
            let keys = try await store.rawKeys().filter { if case .shard(_, .uuidMap) = store.layout.key(named: $0) { true } else { false } }
            #expect(!keys.isEmpty)
            for key in keys.prefix(20) {
                let encoding = try await store.client.send(RedisCommand("OBJECT", "ENCODING", RedisArgument(bytes: key)))
                #expect(encoding.string == "listpack")
            }
        }
    }
}

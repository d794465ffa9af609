import MariaDBClient
import StoreTestSupport
import SymbolStreamCore
import Testing

@testable import MariaDBArchive
@testable import RedisStore

/// Event identity across fronts. An archived row is identified by
/// `(received_at, uuid, kind)`; one process never stamps the same microsecond
/// twice, but fronts stamp receive times independently, so two followups of
/// one uuid can arrive with the same time (from two calls, or in one batch).
/// `ss_ingest` gives the later one the next free microsecond of that uuid:
/// two events in Redis, two in the log, two rows in MariaDB.
@Suite struct FollowupIdentityTests {
    static let start: Int64 = 1_498_600_000_000_000

    static func followupRows(_ pool: MariaDBPool, _ id: RequestUUID) async throws -> [String] {
        try await pool.withConnection { connection in
            try connection.query(
                "SELECT received_at FROM events WHERE kind = 'followup' AND uuid = ? ORDER BY received_at", [.string(id.description)]
            ).map { $0[0].string ?? "?" }
        }
    }

    @Test func followupsOfOneUUIDReceivedInTheSameMicrosecondAreTwoEvents() async throws {
        try await TestStores.withRedisStore { store in
            try await TestStores.withDatabase { pool, _ in
                let symbol = Symbol(parsing: "e")!
                let attributed = RequestUUID(high: 0x1111_2222_3333_4444, low: 0x8555_6666_7777_8888)
                let early = RequestUUID(high: 0x9999_aaaa_bbbb_4ccc, low: 0x8ddd_eeee_ffff_0000)
                let initialAt = Timestamp(microseconds: Self.start)
                let at = Timestamp(microseconds: Self.start + 5_000)
                func followup(_ id: RequestUUID) -> IngestEvent { .followup(FollowupEvent(id: id, receivedAt: at)) }

                // Two fronts: one call each, the same receive time.
                _ = try await store.ingest([.initial(InitialEvent(id: attributed, symbol: symbol, guess: true, receivedAt: initialAt))])
                func outcomes(_ events: [IngestEvent]) async throws -> [IngestOutcome?] { try await store.ingest(events).map { try? $0.get() } }
                #expect(try await outcomes([followup(attributed)]) == [.followup(.attributed(symbol))])
                #expect(try await outcomes([followup(attributed)]) == [.followup(.attributed(symbol))])
                // Before their initial, two in one batch and a third from another call.
                #expect(try await outcomes([followup(early), followup(early)]) == [.followup(.pending), .followup(.pending)])
                _ = try await store.ingest([followup(early)])
                _ = try await store.ingest([.initial(InitialEvent(id: early, symbol: symbol, guess: false, receivedAt: initialAt))])

                let next = Timestamp(microseconds: at.microseconds + 1)
                let third = Timestamp(microseconds: at.microseconds + 2)
                #expect(try await store.request(attributed)?.followups == [at, next])
                #expect(try await store.request(early)?.followups == [at, next, third])
                let summary = try await store.summary(of: symbol)
                #expect(summary.count == 2 && summary.followups == 5)

                // The log holds each as an event of its own, with its unique time.
                let logged = try await store.log.backlog().flatMap { entry -> [LoggedEvent] in
                    if case .events(_, let events) = entry { events } else { [] }
                }
                let followups = logged.filter { $0.kind == .followup }
                #expect(followups.filter { $0.id == attributed }.map(\.receivedAt) == [at, next])
                #expect(followups.filter { $0.id == early }.map(\.receivedAt) == [at, next, third])

                // And MariaDB a row each.
                try await Archiver(log: store.log, database: pool, logger: TestStores.logger).drain()
                #expect(try await Self.followupRows(pool, attributed) == [at.description, next.description])
                #expect(try await Self.followupRows(pool, early) == [at.description, next.description, third.description])
                let report = try await Verify(redis: store.redis, database: pool, logger: TestStores.logger).run()
                #expect(report.differences == [])
                #expect(report.rows == 7)
            }
        }
    }
}

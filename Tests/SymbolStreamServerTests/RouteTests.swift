import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import SymbolStreamCore
import Testing

@testable import SymbolStreamServer
import FoundationEssentials

/// Routes over the in-memory store: the HTTP contract of SPEC.md, fast.
/// (The same contract is exercised end to end against Redis and MariaDB by
/// `Tests/e2e`.)
@Suite struct RouteTests {
    static let start: Int64 = 1_498_742_101_173_535  // 2017-06-29 13:15:01.173535

    struct StubHealth: HealthProbe {
        var redisUp = true
        var mariadbUp = true
        func report() async -> HealthReport {
            HealthReport(
                redis: .init(isUp: redisUp, error: redisUp ? nil : "connection refused"),
                mariadb: .init(isUp: mariadbUp, error: mariadbUp ? nil : "connection refused"), eventLog: nil, archiver: nil)
        }
    }

    /// A store whose dependency is down.
    struct UnavailableStore: EventStore {
        func fail() -> StoreUnavailableError { StoreUnavailableError(dependency: "redis", reason: "connection refused") }
        func recordInitial(_ event: InitialEvent) async throws -> InitialOutcome { throw fail() }
        func recordFollowup(_ event: FollowupEvent) async throws -> FollowupOutcome { throw fail() }
        func summary(of symbol: Symbol) async throws -> SymbolSummary { throw fail() }
        func summaries(in range: TimeRange) async throws -> [SymbolSummary] { throw fail() }
        func request(_ id: SymbolStreamCore.RequestUUID) async throws -> RequestRecord? { throw fail() }
        func rankings() async throws -> Rankings { throw fail() }
    }

    /// A clock ticking one microsecond per event from `start`.
    static func clock() -> EventClock {
        let next = Mutex(start)
        return EventClock {
            next.withLock { value in
                defer { value += 1 }
                return value
            }
        }
    }

    static func app(
        store: any EventStore = InMemoryEventStore(), flip: Double = 0, health: StubHealth = StubHealth(),
        counters: ServiceCounters = ServiceCounters()
    ) -> some ApplicationProtocol {
        let dependencies = RouteDependencies(
            store: store, health: health, guesser: Guesser(model: GuessModel(flipProbability: flip), seed: 1), clock: clock(),
            counters: counters, logger: Logger(label: "test"))
        return Application(router: buildRouter(dependencies))
    }

    static let uuid = "6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f"

    func body(_ response: TestResponse) -> String { String(buffer: response.body) }

    func expectError(_ response: TestResponse, _ status: HTTPResponse.Status, mentioning parameter: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.status == status, sourceLocation: sourceLocation)
        #expect(response.headers[.contentType]?.hasPrefix("application/json") == true, sourceLocation: sourceLocation)
        let text = body(response)
        #expect(text.hasPrefix("{\"error\":\""), sourceLocation: sourceLocation)
        #expect(text.contains(parameter), "\(text) should name \(parameter)", sourceLocation: sourceLocation)
    }

    // MARK: POST /initial

    @Test func initialAnswersTrueForVowelsAndFalseOtherwise() async throws {
        try await Self.app().test(.router) { client in
            for (n, (symbol, expected)) in [("e", "True"), ("b", "False"), ("U", "True")].enumerated() {
                let id = "00000000-0000-4000-8000-00000000000\(n)"
                try await client.execute(uri: "/initial?uuid=\(id)&symbol=\(symbol)", method: .post) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType] == "text/plain; charset=utf-8")
                    #expect(body(response) == expected)
                }
            }
        }
    }

    @Test func aRetryGetsTheOriginalGuessAndCountsOnce() async throws {
        let store = InMemoryEventStore()
        try await Self.app(store: store, flip: 0).test(.router) { client in
            try await client.execute(uri: "/initial?uuid=\(Self.uuid)&symbol=e", method: .post) { #expect(body($0) == "True") }
        }
        // A server that would now answer otherwise still repeats the original answer.
        try await Self.app(store: store, flip: 1).test(.router) { client in
            try await client.execute(uri: "/initial?uuid=\(Self.uuid.uppercased())&symbol=E", method: .post) { response in
                #expect(response.status == .ok)
                #expect(body(response) == "True")
            }
        }
        #expect(store.snapshot.summary(of: Symbol(parsing: "e")!).count == 1)
    }

    @Test func theSameUUIDWithAnotherSymbolIsAConflict() async throws {
        let store = InMemoryEventStore()
        let counters = ServiceCounters()
        try await Self.app(store: store, counters: counters).test(.router) { client in
            try await client.execute(uri: "/initial?uuid=\(Self.uuid)&symbol=e", method: .post)
            try await client.execute(uri: "/initial?uuid=\(Self.uuid)&symbol=b", method: .post) { response in
                expectError(response, .conflict, mentioning: "uuid")
                #expect(body(response).contains("'e'"))
            }
        }
        #expect(store.snapshot.summary(of: Symbol(parsing: "b")!).count == 0)
        #expect(counters.snapshot.rejected[.uuidConflict] == 1)
    }

    @Test func formBodiesWorkLikeTheQueryString() async throws {
        try await Self.app().test(.router) { client in
            try await client.execute(
                uri: "/initial", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "uuid=\(Self.uuid)&symbol=a")
            ) { response in
                #expect(response.status == .ok)
                #expect(body(response) == "True")
            }
        }
    }

    @Test(arguments: [
        ("/initial?symbol=e", "uuid"),
        ("/initial?uuid=&symbol=e", "uuid"),
        ("/initial?uuid=not-a-uuid&symbol=e", "uuid"),
        ("/initial?uuid=6f1c2a4e8b3d4c5e9f701a2b3c4d5e6f&symbol=e", "uuid"),
        ("/initial?uuid=6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f", "symbol"),
        ("/initial?uuid=6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f&symbol=", "symbol"),
        ("/initial?uuid=6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f&symbol=ab", "symbol"),
        ("/initial?uuid=6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f&symbol=1", "symbol"),
        ("/initial?uuid=6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f&symbol=%C3%A9", "symbol"),
        ("/initial?uuid=6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f&symbol=e&symbol=a", "symbol"),
        ("/initial?uuid=6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f&symbol=%zz", "symbol"),
        ("/initial?uuid=%27%20OR%201%3D1%20--&symbol=e", "uuid"),
        ("/followup", "uuid"),
        ("/followup?uuid=6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6", "uuid"),
    ])
    func badInputIsA400NamingTheParameterAndStoresNothing(_ uri: String, _ parameter: String) async throws {
        let store = InMemoryEventStore()
        try await Self.app(store: store).test(.router) { client in
            try await client.execute(uri: uri, method: .post) { expectError($0, .badRequest, mentioning: parameter) }
        }
        let snapshot = store.snapshot
        #expect(snapshot.records.isEmpty && snapshot.orphans.isEmpty && snapshot.rollups.isEmpty)
    }

    /// An invalid escape is a 400 (`malformed_encoding`) on every route, also
    /// in a parameter the route does not read (issue 13, item 9: these were
    /// answered as if the query were fine); unknown routes stay 404.
    @Test(arguments: [
        ("GET", "/dashboard/symbol/a?x=%zz", "x"), ("GET", "/health?%zz=1", "query"), ("GET", "/dashboard?x=%C3", "x"),
        ("GET", "/requests/\(uuid)?x=%2", "x"), ("GET", "/dashboard/range/2017-06-28/2017-06-29?x=%zz", "x"),
        ("GET", "/pipeline?x=%zz", "x"), ("GET", "/metrics?x=%zz", "x"), ("POST", "/followup?uuid=\(uuid)&x=%zz", "x"),
    ])
    func anInvalidEscapeIsA400OnEveryRoute(_ method: String, _ uri: String, _ parameter: String) async throws {
        let counters = ServiceCounters()
        let store = InMemoryEventStore()
        try await Self.app(store: store, counters: counters).test(.router) { client in
            try await client.execute(uri: uri, method: method == "GET" ? .get : .post) { expectError($0, .badRequest, mentioning: parameter) }
            try await client.execute(uri: "/nowhere?x=%zz", method: .get) { #expect($0.status == .notFound) }
        }
        #expect(counters.snapshot.rejected == [.malformedEncoding: 1])
        #expect(store.snapshot.records.isEmpty && store.snapshot.orphans.isEmpty)
    }

    @Test func oversizedBodiesAreRefused() async throws {
        let store = InMemoryEventStore()
        try await Self.app(store: store).test(.router) { client in
            let huge = "uuid=\(Self.uuid)&symbol=e&pad=" + String(repeating: "x", count: 64 * 1024)
            try await client.execute(
                uri: "/initial", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: huge)
            ) { expectError($0, .contentTooLarge, mentioning: "body") }
        }
        #expect(store.snapshot.records.isEmpty)
    }

    // MARK: POST /followup

    @Test func followupsAreCountedEvenBeforeTheirInitial() async throws {
        let store = InMemoryEventStore()
        try await Self.app(store: store).test(.router) { client in
            for _ in 0..<2 {
                try await client.execute(uri: "/followup?uuid=\(Self.uuid)", method: .post) { response in
                    #expect(response.status == .ok)
                    #expect(body(response) == "hooray")
                }
            }
            try await client.execute(uri: "/dashboard/symbol/e", method: .get) { #expect(body($0).contains("\"followups\":0")) }
            try await client.execute(uri: "/initial?uuid=\(Self.uuid)&symbol=e", method: .post)
            try await client.execute(uri: "/followup?uuid=\(Self.uuid)", method: .post)
            try await client.execute(uri: "/dashboard/symbol/e", method: .get) { response in
                #expect(
                    body(response)
                        == #"{"symbol":"e","count":1,"earliest":"2017-06-29 13:15:01.173537","latest":"2017-06-29 13:15:01.173537","followups":3}"#
                )
            }
        }
    }

    /// A client resending a followup after a timeout: with the same
    /// `Idempotency-Key` it counts once and gets the same answer.
    @Test func aFollowupWithAnIdempotencyKeyCountsOnce() async throws {
        let counters = ServiceCounters()
        try await Self.app(counters: counters).test(.router) { client in
            try await client.execute(uri: "/initial?uuid=\(Self.uuid)&symbol=e", method: .post)
            let key = SymbolStreamRoutes.idempotencyKeyHeader
            for (value, replayed) in [("retry-1", false), ("retry-1", true), (#""retry-1""#, true), ("retry-2", false)] {
                try await client.execute(uri: "/followup?uuid=\(Self.uuid)", method: .post, headers: [key: value]) { response in
                    #expect(response.status == .ok)
                    #expect(body(response) == "hooray")
                    #expect(response.headers[SymbolStreamRoutes.replayedHeader] == (replayed ? "true" : nil), "\(value)")
                }
            }
            // The same key with another uuid is another followup; no key: every one counts.
            let other = "00000000-0000-4000-8000-000000000077"
            try await client.execute(uri: "/initial?uuid=\(other)&symbol=e", method: .post)
            try await client.execute(uri: "/followup?uuid=\(other)", method: .post, headers: [key: "retry-1"]) {
                #expect($0.headers[SymbolStreamRoutes.replayedHeader] == nil)
            }
            for _ in 0..<2 { try await client.execute(uri: "/followup?uuid=\(other)", method: .post) { #expect($0.status == .ok) } }
            try await client.execute(uri: "/dashboard/symbol/e", method: .get) { #expect(body($0).contains(#""followups":5"#)) }
        }
        #expect(counters.snapshot.followups == 5 && counters.snapshot.followupReplays == 2)
    }

    @Test func badIdempotencyKeysAreA400AndStoreNothing() async throws {
        let store = InMemoryEventStore()
        let counters = ServiceCounters()
        try await Self.app(store: store, counters: counters).test(.router) { client in
            let key = SymbolStreamRoutes.idempotencyKeyHeader
            for value in ["", "a b", String(repeating: "x", count: 256), "caf\u{e9}", #""unterminated"#] {
                for path in ["/followup?uuid=\(Self.uuid)", "/initial?uuid=\(Self.uuid)&symbol=e"] {
                    try await client.execute(uri: path, method: .post, headers: [key: value]) { expectError($0, .badRequest, mentioning: "Idempotency-Key") }
                }
            }
            var twice = HTTPFields()
            twice.append(HTTPFields.Element(name: key, value: "a"))
            twice.append(HTTPFields.Element(name: key, value: "b"))
            try await client.execute(uri: "/followup?uuid=\(Self.uuid)", method: .post, headers: twice) {
                expectError($0, .badRequest, mentioning: "Idempotency-Key")
            }
            // On an initial a good key changes nothing (an initial is idempotent by its uuid).
            try await client.execute(uri: "/initial?uuid=\(Self.uuid)&symbol=e", method: .post, headers: [key: "fine"]) { #expect($0.status == .ok) }
        }
        #expect(store.snapshot.request(RequestUUID(parsing: Self.uuid)!)?.followups == [])
        #expect(counters.snapshot.rejected[.invalidIdempotencyKey] == 10 && counters.snapshot.rejected[.duplicateParameter] == 1)
    }

    // MARK: Dashboards

    @Test func symbolDashboardOfAnEmptySymbol() async throws {
        try await Self.app().test(.router) { client in
            try await client.execute(uri: "/dashboard/symbol/q", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json; charset=utf-8")
                #expect(body(response) == #"{"symbol":"q","count":0,"earliest":null,"latest":null,"followups":0}"#)
            }
            try await client.execute(uri: "/dashboard/symbol/Q", method: .get) { #expect(body($0).contains(#""symbol":"q""#)) }
            for bad in ["qq", "1", "%C3%A9", "%20"] {
                try await client.execute(uri: "/dashboard/symbol/\(bad)", method: .get) { expectError($0, .badRequest, mentioning: "symbol") }
            }
        }
    }

    @Test func rangeDashboardIsExactToTheMicrosecond() async throws {
        try await Self.app().test(.router) { client in
            // Three initials of 'e' at .173535, .173536, .173537.
            for n in 0..<3 {
                try await client.execute(uri: "/initial?uuid=00000000-0000-4000-8000-00000000000\(n)&symbol=e", method: .post)
            }
            try await client.execute(uri: "/followup?uuid=00000000-0000-4000-8000-000000000001", method: .post)
            try await client.execute(uri: "/dashboard/range/2017-06-29T13:15:01.173536/2017-06-29%2013:15:01.173537Z", method: .get) {
                response in
                #expect(response.status == .ok)
                let text = body(response)
                #expect(text.hasPrefix(#"[{"symbol":"a","count":0,"earliest":null,"latest":null,"followups":0},"#))
                #expect(text.contains(#"{"symbol":"e","count":1,"earliest":"2017-06-29 13:15:01.173536","latest":"2017-06-29 13:15:01.173536","followups":1}"#))
                #expect(text.components(separatedBy: "\"symbol\"").count == 27)
            }
            try await client.execute(uri: "/dashboard/range/2017-06-29/2017-06-30", method: .get) {
                #expect(body($0).contains(#"{"symbol":"e","count":3,"earliest":"2017-06-29 13:15:01.173535","latest":"2017-06-29 13:15:01.173537","followups":1}"#))
            }
            try await client.execute(uri: "/dashboard/range/2017-06-29/2017-06-29", method: .get) {
                #expect(!body($0).contains("\"count\":3"))
                #expect(body($0).contains(#"{"symbol":"e","count":0"#))
            }
        }
    }

    @Test(arguments: [
        ("/dashboard/range/2017-06-30/2017-06-29", "lower"),
        ("/dashboard/range/yesterday/2017-06-29", "lower"),
        ("/dashboard/range/2017-02-29/2017-06-29", "lower"),
        ("/dashboard/range/2017-06-29/2017-06-29T25:00:00", "upper"),
        ("/dashboard/range/2017-06-29/2017-06-29T12:00:00.1234567", "upper"),
    ])
    func badRangesAreRejected(_ uri: String, _ parameter: String) async throws {
        try await Self.app().test(.router) { client in
            try await client.execute(uri: uri, method: .get) { expectError($0, .badRequest, mentioning: parameter) }
        }
    }

    @Test func requestRecords() async throws {
        try await Self.app().test(.router) { client in
            try await client.execute(uri: "/requests/\(Self.uuid)", method: .get) { expectError($0, .notFound, mentioning: "uuid") }
            try await client.execute(uri: "/requests/nope", method: .get) { expectError($0, .badRequest, mentioning: "uuid") }
            try await client.execute(uri: "/initial?uuid=\(Self.uuid)&symbol=b", method: .post)
            try await client.execute(uri: "/followup?uuid=\(Self.uuid)", method: .post)
            try await client.execute(uri: "/requests/\(Self.uuid.uppercased())", method: .get) { response in
                #expect(response.status == .ok)
                #expect(
                    body(response)
                        == #"{"uuid":"6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f","symbol":"b","guess":false,"received_at":"2017-06-29 13:15:01.173535","followups":["2017-06-29 13:15:01.173536"]}"#
                )
            }
        }
    }

    // MARK: Errors and health

    @Test func unknownRoutesAre404AndWrongMethods405() async throws {
        try await Self.app().test(.router) { client in
            try await client.execute(uri: "/nope", method: .get) { expectError($0, .notFound, mentioning: "/nope") }
            try await client.execute(uri: "/initial?uuid=\(Self.uuid)&symbol=e", method: .get) { response in
                expectError(response, .methodNotAllowed, mentioning: "POST")
                #expect(response.headers[.allow] == "POST")
            }
            try await client.execute(uri: "/dashboard/symbol/e", method: .delete) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow]?.contains("GET") == true)
            }
            try await client.execute(uri: "/dashboard/symbol/e", method: .head) { #expect($0.status == .ok) }
        }
    }

    @Test func aDownStoreIsA503WithRetryAfter() async throws {
        try await Self.app(store: UnavailableStore(), health: StubHealth(redisUp: false)).test(.router) { client in
            for (uri, method) in [
                ("/initial?uuid=\(Self.uuid)&symbol=e", HTTPRequest.Method.post), ("/followup?uuid=\(Self.uuid)", .post),
                ("/dashboard/symbol/e", .get), ("/dashboard/range/2017-01-01/2017-01-02", .get), ("/requests/\(Self.uuid)", .get),
            ] {
                try await client.execute(uri: uri, method: method) { response in
                    expectError(response, .serviceUnavailable, mentioning: "redis")
                    #expect(response.headers[.retryAfter] == "1")
                }
            }
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(body(response).contains(#""status":"unavailable""#))
            }
        }
    }

    @Test func healthReportsEachDependencyAndRejectsByReason() async throws {
        try await Self.app(health: StubHealth(redisUp: true, mariadbUp: false)).test(.router) { client in
            try await client.execute(uri: "/initial?uuid=x&symbol=e", method: .post)
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
                let text = body(response)
                #expect(text.contains(#""status":"degraded""#))
                #expect(text.contains(#""redis":{"status":"up"}"#))
                #expect(text.contains(#""mariadb":{"status":"down","error":"connection refused"}"#))
                #expect(text.contains(#""invalid_uuid":1"#))
            }
        }
    }
}

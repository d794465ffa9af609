import Synchronization

/// Where events go and dashboards come from. The HTTP layer sees only this
/// protocol: Redis in production, `InMemoryEventStore` in route tests.
package protocol EventStore: Sendable {
    func recordInitial(_ event: InitialEvent) async throws -> InitialOutcome
    func recordFollowup(_ event: FollowupEvent) async throws -> FollowupOutcome
    /// Several events at once, a result per event in the same order (one
    /// round trip where the store can). A store spread over several servers
    /// may be unavailable for some events and not others; any other failure
    /// throws.
    func ingest(_ events: [IngestEvent]) async throws -> [IngestResult]
    func summary(of symbol: Symbol) async throws -> SymbolSummary
    /// Exactly 26 summaries, `a` to `z`, of initials received in `range`.
    func summaries(in range: TimeRange) async throws -> [SymbolSummary]
    func request(_ id: RequestUUID) async throws -> RequestRecord?
    /// The statistics of each rollup bucket of `span`, in order (a time series).
    func series(_ span: BucketSpan) async throws -> [SymbolStats]
    /// Every symbol's all-time initials, followups and latest initial, for
    /// `GET /dashboard/top` (Redis: the rankings' sorted sets).
    func rankings() async throws -> Rankings
}

/// What became of one event of a batch: its outcome, or the store being
/// unreachable for it (the event may be sent again).
package typealias IngestResult = Result<IngestOutcome, StoreUnavailableError>

extension EventStore {
    package func ingest(_ events: [IngestEvent]) async throws -> [IngestResult] {
        var results = [IngestResult]()
        results.reserveCapacity(events.count)
        for event in events {
            do {
                switch event {
                case .initial(let initial): results.append(.success(.initial(try await recordInitial(initial))))
                case .followup(let followup): results.append(.success(.followup(try await recordFollowup(followup))))
                }
            } catch let error as StoreUnavailableError {
                results.append(.failure(error))
            }
        }
        return results
    }
}

/// A dependency the request needs is down; the route answers 503 at once and
/// the store recovers by itself when the dependency returns.
package struct StoreUnavailableError: Error, Sendable, Hashable, CustomStringConvertible {
    package var dependency: String
    package var reason: String

    package init(dependency: String, reason: String) {
        self.dependency = dependency
        self.reason = reason
    }

    package var description: String { "\(dependency) unavailable: \(reason)" }
}

/// `AggregateModel` behind a lock: a complete store without servers.
package final class InMemoryEventStore: EventStore {
    private let model: Mutex<AggregateModel>

    package init(idempotencyWindow: Int64 = IdempotencyKey.defaultWindowSeconds) {
        model = Mutex(AggregateModel(idempotencyWindow: idempotencyWindow))
    }

    package func recordInitial(_ event: InitialEvent) async throws -> InitialOutcome {
        model.withLock { $0.apply(event) }
    }

    package func recordFollowup(_ event: FollowupEvent) async throws -> FollowupOutcome {
        model.withLock { $0.apply(event) }
    }

    package func ingest(_ events: [IngestEvent]) async throws -> [IngestResult] {
        model.withLock { model in events.map { .success(model.apply($0)) } }
    }

    package func summary(of symbol: Symbol) async throws -> SymbolSummary {
        model.withLock { $0.summary(of: symbol) }
    }

    package func summaries(in range: TimeRange) async throws -> [SymbolSummary] {
        model.withLock { $0.summaries(in: range) }
    }

    package func request(_ id: RequestUUID) async throws -> RequestRecord? {
        model.withLock { $0.request(id) }
    }

    package func rankings() async throws -> Rankings {
        model.withLock { $0.rankings }
    }

    /// A copy of the model, for tests and comparisons.
    package var snapshot: AggregateModel { model.withLock { $0 } }
}

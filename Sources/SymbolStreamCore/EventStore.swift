import Synchronization

/// Where events go and dashboards come from. The HTTP layer sees only this
/// protocol: Redis in production, `InMemoryEventStore` in route tests.
public protocol EventStore: Sendable {
    func recordInitial(_ event: InitialEvent) async throws -> InitialOutcome
    func recordFollowup(_ event: FollowupEvent) async throws -> FollowupOutcome
    /// Several events at once, outcomes in the same order (one round trip where
    /// the store can).
    func ingest(_ events: [IngestEvent]) async throws -> [IngestOutcome]
    func summary(of symbol: Symbol) async throws -> SymbolSummary
    /// Exactly 26 summaries, `a` to `z`, of initials received in `range`.
    func summaries(in range: TimeRange) async throws -> [SymbolSummary]
    func request(_ id: RequestID) async throws -> RequestRecord?
    /// The statistics of each rollup bucket of `span`, in order (a time series).
    func series(_ span: BucketSpan) async throws -> [SymbolStats]
}

extension EventStore {
    public func ingest(_ events: [IngestEvent]) async throws -> [IngestOutcome] {
        var outcomes = [IngestOutcome]()
        outcomes.reserveCapacity(events.count)
        for event in events {
            switch event {
            case .initial(let initial): outcomes.append(.initial(try await recordInitial(initial)))
            case .followup(let followup): outcomes.append(.followup(try await recordFollowup(followup)))
            }
        }
        return outcomes
    }
}

/// A dependency the request needs is down; the route answers 503 at once and
/// the store recovers by itself when the dependency returns.
public struct StoreUnavailableError: Error, Sendable, Hashable, CustomStringConvertible {
    public var dependency: String
    public var reason: String

    public init(dependency: String, reason: String) {
        self.dependency = dependency
        self.reason = reason
    }

    public var description: String { "\(dependency) unavailable: \(reason)" }
}

/// `AggregateModel` behind a lock: a complete store without servers.
public final class InMemoryEventStore: EventStore {
    private let model = Mutex(AggregateModel())

    public init() {}

    public func recordInitial(_ event: InitialEvent) async throws -> InitialOutcome {
        model.withLock { $0.apply(event) }
    }

    public func recordFollowup(_ event: FollowupEvent) async throws -> FollowupOutcome {
        model.withLock { $0.apply(event) }
    }

    public func ingest(_ events: [IngestEvent]) async throws -> [IngestOutcome] {
        model.withLock { model in events.map { model.apply($0) } }
    }

    public func summary(of symbol: Symbol) async throws -> SymbolSummary {
        model.withLock { $0.summary(of: symbol) }
    }

    public func summaries(in range: TimeRange) async throws -> [SymbolSummary] {
        model.withLock { $0.summaries(in: range) }
    }

    public func request(_ id: RequestID) async throws -> RequestRecord? {
        model.withLock { $0.request(id) }
    }

    /// A copy of the model, for tests and comparisons.
    public var snapshot: AggregateModel { model.withLock { $0 } }
}

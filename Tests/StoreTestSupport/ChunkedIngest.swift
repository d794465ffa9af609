import RedisStore
import SymbolStreamCore

extension RedisEventStore {
    /// Ingests `events` in calls of `size` events each, in order, as
    /// concurrent requests would be batched: several log entries, and
    /// adoptions that cross them.
    /// - Returns: every event's outcome, in order.
    @discardableResult
    package func ingest(_ events: [IngestEvent], inBatchesOf size: Int) async throws -> [IngestOutcome] {
        var outcomes = [IngestOutcome]()
        outcomes.reserveCapacity(events.count)
        for start in stride(from: 0, to: events.count, by: size) {
            outcomes += try await ingest(Array(events[start..<min(start + size, events.count)])).map { try $0.get() }
        }
        return outcomes
    }
}

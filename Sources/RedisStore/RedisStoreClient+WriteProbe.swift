import RedisClient
import SymbolStreamCore

extension RedisStoreClient {
    /// Whether every shard's server would take an ingest call now: one call
    /// of `ss_probe` per shard, all in one round trip per server. The
    /// function writes nothing but carries an ingest call's flags (write,
    /// deny-OOM), so Redis refuses it, before running it, exactly when it
    /// would refuse `ss_ingest` there: `MISCONF` (a failed AOF write or
    /// snapshot), `OOM` (`maxmemory` with `noeviction`), `READONLY`,
    /// `NOREPLICAS`. Cheaper than reading and parsing `INFO`, and it cannot
    /// drift from Redis's own rules.
    /// - Returns: nil when every server takes writes; otherwise the first
    ///   refusal, as Redis worded it.
    /// - Throws: `StoreUnavailableError` when a server cannot be reached.
    package func writeRefusal() async throws -> String? {
        let replies = try await pipelinesOrThrow(layout.shards.map { ($0, [functionCall(.probe, shard: $0)]) })
        for reply in replies.map({ $0.first ?? .null }) {
            guard case .error(let message) = reply else { continue }
            guard Self.isTransient(message) else { throw Self.unexpected(reply) }
            return message
        }
        return nil
    }
}

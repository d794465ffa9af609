import RedisClient
import SymbolStreamCore

/// Names of the keys the Swift side reads and writes directly. They mirror
/// what the function library builds from the same prefix (see the table in
/// `RedisFunctions`); the store tests, which compare every answer with the
/// reference model, keep the two in agreement.
public struct RedisLayout: Sendable, Hashable {
    /// Every key starts with this, so one Redis can hold several deployments
    /// (or test runs) side by side.
    public var prefix: String

    public init(prefix: String = "ss:") {
        self.prefix = prefix
    }

    /// The durable event log the archiver consumes.
    public var stream: String { prefix + "log" }
    /// Entries the archiver could not decode, kept for inspection instead of lost.
    public var deadLetters: String { prefix + "deadletter" }
    public static let archiverGroup = "archiver"

    /// All-time statistics, one field per symbol.
    public var totals: String { prefix + "totals" }
    public func bucket(_ bucket: RollupBucket) -> String { prefix + "r:\(bucket)" }
    public func fineLog(second: Int64) -> String { prefix + "e:\(second)" }
    public var stats: String { prefix + "stats" }

    /// The uuid map's hash (first 2 bytes of the uuid) and field (the other 14).
    public func uuidSlot(_ id: RequestID) -> (key: RedisArgument, field: RedisArgument) {
        let bytes = id.bytes
        return (RedisArgument(bytes: Array((prefix + "u:").utf8) + bytes[0..<2]), RedisArgument(bytes: Array(bytes[2...])))
    }
}

/// Names of the keys the Swift side touches directly. The function library
/// derives the same names from the prefix it is given (see `RedisFunctions`).
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
}

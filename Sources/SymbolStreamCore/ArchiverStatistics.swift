/// Counters of the archive path since this process started (for `/health`
/// and `/metrics`).
public struct ArchiverStatistics: Sendable, Hashable {
    public var batches: Int64 = 0
    public var events: Int64 = 0
    public var failures: Int64 = 0
    /// Failed batch writes tried again (a failure during shutdown is not).
    public var retries: Int64 = 0
    /// Times reading the Redis log failed and the archiver reconnected.
    public var interruptions: Int64 = 0
    public var deadLetters: Int64 = 0
    public var lastError: String?
    public var lastBatchAt: Timestamp?

    public init() {}
}

/// Counters of the archive path since this process started (for `/health`
/// and `/metrics`).
package struct ArchiverStatistics: Sendable, Hashable {
    package var batches: Int64 = 0
    package var events: Int64 = 0
    package var failures: Int64 = 0
    /// Failed batch writes tried again (a failure during shutdown is not).
    package var retries: Int64 = 0
    /// Times reading the Redis log failed and the archiver reconnected.
    package var interruptions: Int64 = 0
    package var deadLetters: Int64 = 0
    package var lastError: String?
    package var lastBatchAt: Timestamp?

    package init() {}
}

/// The state of the event log, the durable path from ingest to the archive,
/// as the store that keeps it sees it.
package struct EventLogStatus: Sendable, Hashable {
    /// Log entries (ingest batches) not yet archived.
    package var backlog: Int64
    /// Events in those entries: what is still to archive.
    package var backlogEvents: Int64
    /// Receive time of the oldest event not yet archived.
    package var oldestUnarchived: Timestamp?
    /// Events archived since this Redis was set up.
    package var archived: Int64
    /// Requests whose followups wait for their initial.
    package var waitingRequests: Int64

    package init(backlog: Int64, oldestUnarchived: Timestamp?, archived: Int64, waitingRequests: Int64, backlogEvents: Int64 = 0) {
        self.backlog = backlog
        self.backlogEvents = backlogEvents
        self.oldestUnarchived = oldestUnarchived
        self.archived = archived
        self.waitingRequests = waitingRequests
    }

    /// How far the archive is behind `now` (zero when nothing waits).
    package func archiveLag(now: Timestamp) -> Double {
        guard let oldestUnarchived else { return 0 }
        return max(0, Double(now.microseconds - oldestUnarchived.microseconds) / 1_000_000)
    }
}

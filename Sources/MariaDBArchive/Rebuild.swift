import Logging
import RedisStore
import SymbolStreamCore

/// Recomputes every Redis aggregate from the raw history in MariaDB: archive
/// what is still in the log, delete the aggregates, then replay every archived
/// event in receive order through the same Redis functions that ingest uses
/// (minus logging), so the result is what live traffic would have built.
///
/// Run it with the service stopped: events ingested during a rebuild would be
/// counted and then deleted.
public struct Rebuild: Sendable {
    public let store: RedisEventStore
    public let archiver: Archiver
    public let reader: ArchiveReader
    public let logger: Logger
    /// Events per pipelined round trip to Redis.
    public var chunkSize = 2000

    public init(store: RedisEventStore, archiver: Archiver, reader: ArchiveReader, logger: Logger) {
        self.store = store
        self.archiver = archiver
        self.reader = reader
        self.logger = logger
    }

    public struct Progress: Sendable, Hashable {
        public var replayed: Int64
        public var total: Int64
    }

    /// - Returns: the number of events replayed.
    @discardableResult
    public func run(progress: @Sendable (Progress) -> Void = { _ in }) async throws -> Int64 {
        try await archiver.drain()
        let backlog = try await store.pipelineStatus().backlog
        guard backlog == 0 else { throw ArchiveError.backlogNotDrained(backlog) }

        let deleted = try await store.resetAggregates()
        logger.info("deleted aggregate keys", metadata: ["keys": "\(deleted)"])
        let total = try await reader.count()
        var replayed: Int64 = 0
        progress(Progress(replayed: 0, total: total))
        var cursor: ArchiveReader.Cursor?
        while true {
            let page = try await reader.page(after: cursor)
            if page.rows.isEmpty { break }
            cursor = page.next
            var start = 0
            while start < page.rows.count {
                let chunk = page.rows[start..<min(start + chunkSize, page.rows.count)]
                _ = try await store.replay(chunk.map(\.event))
                start += chunk.count
            }
            replayed += Int64(page.rows.count)
            progress(Progress(replayed: replayed, total: max(total, replayed)))
        }
        return replayed
    }
}

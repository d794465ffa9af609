import MariaDBClient
import RedisStore
import SymbolStreamCore

/// The raw history read once, in receive order, into the reference model,
/// sharded as the store shards events (`ShardedModel`): what every Redis
/// aggregate must hold. Shared by `rebuild` (which writes it) and `verify`
/// (which compares with it).
package enum HistoryModel {
    static let scan = """
        SELECT TIMESTAMPDIFF(MICROSECOND, '1970-01-01', received_at), CAST(uuid AS BINARY(16)), kind + 0, symbol, guess
        FROM events ORDER BY received_at, uuid, kind
        """

    /// Reads every row of `events` into a model of `layout`'s shards. `extra`
    /// events (the logs' un-archived backlog, for `verify`) are merged in by
    /// receive time; one that is also a row (committed but not yet
    /// acknowledged) counts once.
    /// - Returns: the model, the rows read (in all and by shard), and how many
    ///   `extra` events were not rows.
    package static func read(
        on connection: MariaDBConnection, layout: RedisLayout, merging extra: [IngestEvent] = [],
        progress: (_ done: Int64, _ total: Int64) -> Void
    ) throws -> (model: ShardedModel, rows: Int64, rowsByShard: [Int64], extraApplied: Int64) {
        // InnoDB's estimate: an exact COUNT(*) would read an index of the
        // whole table first (4 s at 10M rows). For progress and sizing only.
        let total =
            try connection.query(
                "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'events'"
            ).first?[0].int ?? 0
        progress(0, total)
        var model = ShardedModel(layout: layout, expectedRequests: Int(total) + extra.count)
        var rowsByShard = [Int64](repeating: 0, count: layout.shardCount)
        let pending = extra.sorted { $0.receivedAt < $1.receivedAt }
        var identities = Set(pending.map(Identity.init))
        var next = 0
        var read: Int64 = 0
        var applied: Int64 = 0
        func applyExtra(_ event: IngestEvent) {
            guard identities.remove(Identity(event)) != nil else { return }
            _ = model.apply(event)
            applied += 1
        }
        // Rows read in place (no allocation per row): this loop runs millions
        // of times. The time comes as integer microseconds, the uuid as its
        // 16 bytes.
        try connection.forEachRawRow(scan) { row in
            let event = try Self.event(row)
            while next < pending.count, pending[next].receivedAt < event.receivedAt {
                applyExtra(pending[next])
                next += 1
            }
            if !identities.isEmpty { identities.remove(Identity(event)) }
            model.apply(event)
            rowsByShard[layout.shard(of: event.id).index] += 1
            read += 1
            if read % 200_000 == 0 { progress(read, max(total, read)) }
        }
        for event in pending[next...] { applyExtra(event) }
        progress(read, read)
        return (model, read, rowsByShard, applied)
    }

    /// An event's identity in the archive: its primary key.
    struct Identity: Hashable {
        var time: Int64
        var id: RequestUUID
        var isInitial: Bool

        init(_ event: IngestEvent) {
            time = event.receivedAt.microseconds
            id = event.id
            if case .initial = event { isInitial = true } else { isInitial = false }
        }
    }

    static func event(_ row: MariaDBRawRow) throws -> IngestEvent {
        guard let microseconds = row.int(0), let uuid = row.bytes(1), uuid.count == 16, let kind = row.int(2) else {
            throw ArchiveError.malformedRow("a row of events")
        }
        // The UUID type's binary form is its 16 bytes in textual order.
        let id = RequestUUID(
            high: UInt64(bigEndian: uuid.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
            low: UInt64(bigEndian: uuid.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        let time = Timestamp(microseconds: microseconds)
        if kind == 2 { return .followup(FollowupEvent(id: id, receivedAt: time)) }
        guard kind == 1, let letter = row.bytes(3), letter.count == 1, let symbol = Symbol(index: Int(letter[0]) - 97),
            let guess = row.int(4)
        else { throw ArchiveError.malformedRow("an initial of \(id)") }
        return .initial(InitialEvent(id: id, symbol: symbol, guess: guess == 1, receivedAt: time))
    }
}

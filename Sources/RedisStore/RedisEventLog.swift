import RedisClient
import SymbolStreamCore

/// The durable event log: a Redis stream per shard of the shard's ingest
/// calls, read by archivers through each stream's `archiver` consumer group,
/// so an entry stays pending until it is acknowledged after MariaDB committed
/// it (at-least-once delivery; the archive's idempotent insert makes it
/// exactly-once in effect). Any number of archivers share the shards.
package struct RedisEventLog: Sendable {
    package let redis: RedisStoreClient

    package init(redis: RedisStoreClient) {
        self.redis = redis
    }

    package var layout: RedisLayout { redis.layout }

    package enum Entry: Sendable, Hashable {
        /// The events of one ingest batch, in order.
        case events(streamID: String, [LoggedEvent])
        /// An entry that is not a well-formed event (never written by the
        /// function library); kept aside rather than blocking the archive.
        case malformed(streamID: String, fields: [String: [UInt8]])
        /// A pending entry already trimmed from the stream (it was archived).
        case gone(streamID: String)

        package var streamID: String {
            switch self {
            case .events(let id, _), .malformed(let id, _), .gone(let id): id
            }
        }
    }

    /// Reads `shard`'s log from a connection of its own: a blocking read
    /// would stall every command pipelined behind it on a shared one.
    package func withReader<T: Sendable>(shard: RedisLayout.Shard, _ body: (Reader) async throws -> T) async throws -> T {
        try await redis.withDedicatedConnection(shard: shard) { connection in
            try await body(Reader(connection: connection, log: self, shard: shard))
        }
    }

    /// A consumer's reads of one shard's log, on a dedicated connection.
    package struct Reader: Sendable {
        let connection: RedisConnection
        let log: RedisEventLog
        package let shard: RedisLayout.Shard

        /// Reads up to `count` entries for `consumer`. With `pending`, its own
        /// delivered-but-unacknowledged entries (after a crash); otherwise new
        /// entries, waiting up to `block` for some to arrive.
        package func read(consumer: String, count: Int, pending: Bool, block: Duration?) async throws -> [Entry] {
            var arguments: [RedisArgument] = [
                "XREADGROUP", "GROUP", RedisArgument(RedisLayout.archiverGroup), RedisArgument(consumer), "COUNT", RedisArgument(count),
            ]
            var timeout: TimeAmount?
            if let block, !pending {
                let milliseconds = Int(block.components.seconds * 1000 + block.components.attoseconds / 1_000_000_000_000_000)
                arguments += ["BLOCK", RedisArgument(milliseconds)]
                timeout = .milliseconds(Int64(milliseconds) + 2000)
            }
            arguments += ["STREAMS", RedisArgument(shard.stream), pending ? "0" : ">"]
            let command = RedisCommand(arguments: arguments, timeout: timeout)
            let reply: RESPValue
            do {
                reply = try await connection.send(command)
            } catch RedisClientError.server(let message) where message.hasPrefix("NOGROUP") {
                // No group yet (a shard's first read), or the stream vanished
                // (FLUSHALL): create it from the stream's start, so that
                // entries logged before it are read too, and read again.
                _ = try await connection.send(log.redis.functionCall(.setup, shard: shard))
                reply = try await connection.send(command)
            }
            return try await confirmed(RedisEventLog.entries(reply))
        }

        /// Takes over entries another consumer left pending for longer than
        /// `minimumIdle` (a crashed instance), so they are archived too.
        package func claimAbandoned(consumer: String, minimumIdle: Duration, count: Int) async throws -> [Entry] {
            let idle = Int(minimumIdle.components.seconds * 1000 + minimumIdle.components.attoseconds / 1_000_000_000_000_000)
            let reply = try await connection.send(
                RedisCommand(
                    "XAUTOCLAIM", RedisArgument(shard.stream), RedisArgument(RedisLayout.archiverGroup), RedisArgument(consumer),
                    RedisArgument(idle), "0", "COUNT", RedisArgument(count)))
            guard let parts = reply.array, parts.count >= 2, let claimed = parts[1].array else {
                throw RedisStoreClient.unexpected(reply)
            }
            var entries = try claimed.map(RedisEventLog.entry)
            if parts.count >= 3, let deleted = parts[2].array {
                entries += deleted.compactMap { $0.string.map { Entry.gone(streamID: $0) } }
            }
            return try await confirmed(entries)
        }

        /// Entries read are archived only once Redis confirms that it wrote
        /// the read to its append-only file (`WriteConfirmation`): with a
        /// full disk under `everysec`, Redis hands out entries it holds in
        /// memory only; archived, and then lost from Redis by a crash, a
        /// client's retry of such an initial (it got a `503`) would be
        /// archived a second time. Unconfirmed, they stay pending and are
        /// read again once Redis writes again (or are gone with its memory).
        private func confirmed(_ entries: [Entry]) async throws -> [Entry] {
            guard !entries.isEmpty, log.redis.confirmsWrites else { return entries }
            do {
                _ = try await connection.send(WriteConfirmation.command)
            } catch RedisClientError.server(let message) {
                throw WriteConfirmation.refusal(.success([.error(message)]))!
            }
            return entries
        }
    }

    /// Acknowledges archived entries of `shard`'s log (holding `events`
    /// events in all) and trims them from the stream. Returns the number of
    /// entries acknowledged.
    @discardableResult
    package func acknowledge(_ streamIDs: [String], events: Int, shard: RedisLayout.Shard) async throws -> Int {
        guard !streamIDs.isEmpty else { return 0 }
        let reply = try await redis.call(.acknowledge, shard: shard, [RedisArgument(events)] + streamIDs.map { RedisArgument($0) })
        return Int(reply.int ?? 0)
    }

    /// Keeps an entry of `shard`'s log that the archive cannot take in the
    /// shard's dead-letter stream.
    package func deadLetter(streamID: String, fields: [String: [UInt8]], shard: RedisLayout.Shard) async throws {
        var arguments: [RedisArgument] = ["XADD", RedisArgument(shard.deadLetters), "*", "source-id", RedisArgument(streamID)]
        for (name, value) in fields.sorted(by: { $0.key < $1.key }) {
            arguments += [RedisArgument(name), RedisArgument(bytes: value)]
        }
        _ = try await redis.send(RedisCommand(arguments: arguments), shard: shard)
    }

    /// Backlog (entries and events), lag, the archived count and requests
    /// waiting for their initial, over every shard (one read-only call per
    /// shard, one round trip per server).
    package func status() async throws -> EventLogStatus {
        let replies = try await redis.pipelinesOrThrow(layout.shards.map { ($0, [redis.functionCall(.status, shard: $0)]) })
        var total = EventLogStatus(backlog: 0, oldestUnarchived: nil, archived: 0, waitingRequests: 0)
        for reply in replies.map({ $0.first ?? .null }) {
            if let error = RedisStoreClient.error(in: reply) { throw error }
            guard let parts = reply.array, parts.count == 5, let backlog = parts[0].int, let archived = parts[2].int,
                let waiting = parts[3].int, let backlogEvents = parts[4].int
            else { throw RedisStoreClient.unexpected(reply) }
            total.backlog += backlog
            total.backlogEvents += backlogEvents
            total.archived += archived
            total.waitingRequests += waiting
            if let oldest = parts[1].int.map(Timestamp.init(microseconds:)) {
                total.oldestUnarchived = total.oldestUnarchived.map { min($0, oldest) } ?? oldest
            }
        }
        return total
    }

    /// Every entry still in the logs (logged, not yet archived and trimmed),
    /// shard by shard in log order, read `page` entries at a time with
    /// `XRANGE`. Reading does not deliver them to the consumer group: the
    /// archivers are not disturbed.
    package func backlog(page: Int = 500) async throws -> [Entry] {
        var entries = [Entry]()
        for shard in layout.shards { entries += try await backlog(of: shard, page: page) }
        return entries
    }

    /// The entries still in one shard's log (`shard` may be the legacy layout's).
    package func backlog(of shard: RedisLayout.Shard, page: Int = 500) async throws -> [Entry] {
        var entries = [Entry]()
        var start = "-"
        while true {
            let reply = try await redis.send(
                RedisCommand("XRANGE", RedisArgument(shard.stream), RedisArgument(start), "+", "COUNT", RedisArgument(page)), shard: shard)
            guard let items = reply.array else { throw RedisStoreClient.unexpected(reply) }
            let batch = try items.map(Self.entry)
            entries += batch
            guard batch.count == page, let last = batch.last else { return entries }
            start = "(" + last.streamID
        }
    }

    static func entries(_ reply: RESPValue) throws -> [Entry] {
        if reply.isNull { return [] }  // BLOCK timed out
        guard let streams = reply.array else { throw RedisStoreClient.unexpected(reply) }
        var result = [Entry]()
        for stream in streams {
            guard let parts = stream.array, parts.count == 2, let items = parts[1].array else {
                throw RedisStoreClient.unexpected(reply)
            }
            for item in items { result.append(try entry(item)) }
        }
        return result
    }

    static func entry(_ item: RESPValue) throws -> Entry {
        guard let pair = item.array, pair.count == 2, let id = pair[0].string else { throw RedisStoreClient.unexpected(item) }
        guard let list = pair[1].array else { return .gone(streamID: id) }
        var fields: [String: [UInt8]] = [:]
        var index = 0
        while index + 1 < list.count {
            if let name = list[index].string { fields[name] = list[index + 1].bytes ?? [] }
            index += 2
        }
        if let packed = fields["e"], let events = LogEntryFormat.decode(streamID: id, events: packed, adoptions: fields["a"]),
            fields["n"].map({ String(decoding: $0, as: UTF8.self) }) == String(events.count)
        {
            return .events(streamID: id, events)
        }
        return .malformed(streamID: id, fields: fields)
    }
}

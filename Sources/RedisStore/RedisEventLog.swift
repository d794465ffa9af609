import RedisClient
import SymbolStreamCore

/// The durable event log: a Redis stream of ingest batches, read by the
/// archiver through the `archiver` consumer group, so an entry stays pending
/// until it is acknowledged after MariaDB committed it (at-least-once
/// delivery; the archive's idempotent insert makes it exactly-once in effect).
public struct RedisEventLog: Sendable {
    public let redis: RedisStoreClient

    public init(redis: RedisStoreClient) {
        self.redis = redis
    }

    public var layout: RedisLayout { redis.layout }

    public enum Entry: Sendable, Hashable {
        /// The events of one ingest batch, in order.
        case events(streamID: String, [LoggedEvent])
        /// An entry that is not a well-formed event (never written by the
        /// function library); kept aside rather than blocking the archive.
        case malformed(streamID: String, fields: [String: [UInt8]])
        /// A pending entry already trimmed from the stream (it was archived).
        case gone(streamID: String)

        public var streamID: String {
            switch self {
            case .events(let id, _), .malformed(let id, _), .gone(let id): id
            }
        }
    }

    /// Reads from a connection of its own: a blocking read would stall every
    /// command pipelined behind it on a shared one.
    public func withReader<T: Sendable>(_ body: (Reader) async throws -> T) async throws -> T {
        try await redis.withDedicatedConnection { connection in try await body(Reader(connection: connection, log: self)) }
    }

    /// A consumer's reads of the log, on a dedicated connection.
    public struct Reader: Sendable {
        let connection: RedisConnection
        let log: RedisEventLog

        /// Reads up to `count` entries for `consumer`. With `pending`, its own
        /// delivered-but-unacknowledged entries (after a crash); otherwise new
        /// entries, waiting up to `block` for some to arrive.
        public func read(consumer: String, count: Int, pending: Bool, block: Duration?) async throws -> [Entry] {
            var arguments: [RedisArgument] = [
                "XREADGROUP", "GROUP", RedisArgument(RedisLayout.archiverGroup), RedisArgument(consumer), "COUNT", RedisArgument(count),
            ]
            var timeout: TimeAmount?
            if let block, !pending {
                let milliseconds = Int(block.components.seconds * 1000 + block.components.attoseconds / 1_000_000_000_000_000)
                arguments += ["BLOCK", RedisArgument(milliseconds)]
                timeout = .milliseconds(Int64(milliseconds) + 2000)
            }
            arguments += ["STREAMS", RedisArgument(log.layout.stream), pending ? "0" : ">"]
            let reply: RESPValue
            do {
                reply = try await connection.send(RedisCommand(arguments: arguments, timeout: timeout))
            } catch RedisClientError.server(let message) where message.hasPrefix("NOGROUP") {
                // The stream or group vanished (e.g. FLUSHALL): recreate it from the start.
                _ = try await connection.send(log.redis.functionCall(.setup))
                return []
            }
            return try RedisEventLog.entries(reply)
        }

        /// Takes over entries another consumer left pending for longer than
        /// `minimumIdle` (a crashed instance), so they are archived too.
        public func claimAbandoned(consumer: String, minimumIdle: Duration, count: Int) async throws -> [Entry] {
            let idle = Int(minimumIdle.components.seconds * 1000)
            let reply = try await connection.send(
                RedisCommand(
                    "XAUTOCLAIM", RedisArgument(log.layout.stream), RedisArgument(RedisLayout.archiverGroup), RedisArgument(consumer),
                    RedisArgument(idle), "0", "COUNT", RedisArgument(count)))
            guard let parts = reply.array, parts.count >= 2, let claimed = parts[1].array else {
                throw RedisStoreClient.unexpected(reply)
            }
            var entries = try claimed.map(RedisEventLog.entry)
            if parts.count >= 3, let deleted = parts[2].array {
                entries += deleted.compactMap { $0.string.map { Entry.gone(streamID: $0) } }
            }
            return entries
        }
    }

    /// Acknowledges archived entries (holding `events` events in all) and
    /// trims them from the stream. Returns the number of entries acknowledged.
    @discardableResult
    public func acknowledge(_ streamIDs: [String], events: Int) async throws -> Int {
        guard !streamIDs.isEmpty else { return 0 }
        let reply = try await redis.call(.acknowledge, [RedisArgument(events)] + streamIDs.map { RedisArgument($0) })
        return Int(reply.int ?? 0)
    }

    /// Keeps an entry the archive cannot take in the dead-letter stream.
    public func deadLetter(streamID: String, fields: [String: [UInt8]]) async throws {
        var arguments: [RedisArgument] = ["XADD", RedisArgument(layout.deadLetters), "*", "source-id", RedisArgument(streamID)]
        for (name, value) in fields.sorted(by: { $0.key < $1.key }) {
            arguments += [RedisArgument(name), RedisArgument(bytes: value)]
        }
        _ = try await redis.send(RedisCommand(arguments: arguments))
    }

    /// Backlog, lag, the archived count and requests waiting for their initial.
    public func status() async throws -> EventLogStatus {
        let reply = try await redis.call(.status)
        guard let parts = reply.array, parts.count == 4, let backlog = parts[0].int, let archived = parts[2].int,
            let waiting = parts[3].int
        else { throw RedisStoreClient.unexpected(reply) }
        return EventLogStatus(
            backlog: backlog, oldestUnarchived: parts[1].int.map(Timestamp.init(microseconds:)), archived: archived,
            waitingRequests: waiting)
    }

    /// Every entry still in the log (logged, not yet archived and trimmed), in
    /// log order, read `page` entries at a time with `XRANGE`. Reading does not
    /// deliver them to the consumer group: the archiver is not disturbed.
    public func backlog(page: Int = 500) async throws -> [Entry] {
        var entries = [Entry]()
        var start = "-"
        while true {
            let reply = try await redis.send(
                RedisCommand("XRANGE", RedisArgument(layout.stream), RedisArgument(start), "+", "COUNT", RedisArgument(page)))
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

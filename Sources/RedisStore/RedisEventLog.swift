import RedisClient
import SymbolStreamCore

/// The archiver's view of the durable event log: a Redis stream read through
/// the `archiver` consumer group, so an entry stays pending until it is
/// acknowledged after MariaDB committed it (at-least-once delivery).
public struct RedisEventLog: Sendable {
    public let client: RedisClient
    public let layout: RedisLayout

    public init(client: RedisClient, layout: RedisLayout) {
        self.client = client
        self.layout = layout
    }

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

    /// Reads up to `count` entries for `consumer`. With `pending`, its own
    /// delivered-but-unacknowledged entries (after a crash); otherwise new
    /// entries, waiting up to `block` for some to arrive. Runs on a dedicated
    /// connection because a blocking read would stall a shared pipeline.
    public func read(
        on connection: RedisConnection, consumer: String, count: Int, pending: Bool, block: Duration?
    ) async throws -> [Entry] {
        var arguments: [RedisArgument] = [
            "XREADGROUP", "GROUP", RedisArgument(RedisLayout.archiverGroup), RedisArgument(consumer), "COUNT",
            RedisArgument(count),
        ]
        var timeout: TimeAmount?
        if let block, !pending {
            let milliseconds = Int(block.components.seconds * 1000 + block.components.attoseconds / 1_000_000_000_000_000)
            arguments += ["BLOCK", RedisArgument(milliseconds)]
            timeout = .milliseconds(Int64(milliseconds) + 2000)
        }
        arguments += ["STREAMS", RedisArgument(layout.stream), pending ? "0" : ">"]
        let reply: RESPValue
        do {
            reply = try await connection.send(RedisCommand(arguments: arguments, timeout: timeout))
        } catch RedisClientError.server(let message) where message.hasPrefix("NOGROUP") {
            // The stream or group vanished (e.g. FLUSHALL): recreate it from the start.
            _ = try await connection.send(RedisCommand("FCALL", "ss_setup", "0", RedisArgument(layout.prefix)))
            return []
        }
        return try Self.entries(reply)
    }

    /// Takes over entries another consumer left pending for longer than
    /// `minimumIdle` (a crashed instance), so they are archived too.
    public func claimAbandoned(on connection: RedisConnection, consumer: String, minimumIdle: Duration, count: Int) async throws
        -> [Entry]
    {
        let idle = Int(minimumIdle.components.seconds * 1000)
        let reply = try await connection.send(
            RedisCommand(
                "XAUTOCLAIM", RedisArgument(layout.stream), RedisArgument(RedisLayout.archiverGroup), RedisArgument(consumer),
                RedisArgument(idle), "0", "COUNT", RedisArgument(count)))
        guard let parts = reply.array, parts.count >= 2, let claimed = parts[1].array else {
            throw RedisEventStore.unexpected(reply)
        }
        var entries = try claimed.map(Self.entry)
        if parts.count >= 3, let deleted = parts[2].array {
            entries += deleted.compactMap { $0.string.map { Entry.gone(streamID: $0) } }
        }
        return entries
    }

    /// Acknowledges archived entries (holding `events` events in all) and
    /// trims them from the stream. Returns the number of entries acknowledged.
    @discardableResult
    public func acknowledge(_ streamIDs: [String], events: Int) async throws -> Int {
        guard !streamIDs.isEmpty else { return 0 }
        let arguments: [RedisArgument] =
            ["FCALL", "ss_ack", "0", RedisArgument(layout.prefix), RedisArgument(events)] + streamIDs.map { RedisArgument($0) }
        let reply = try await RedisEventStore(client: client, layout: layout).call(RedisCommand(arguments: arguments))
        return Int(reply.int ?? 0)
    }

    /// Keeps a malformed entry in the dead-letter stream.
    public func deadLetter(streamID: String, fields: [String: [UInt8]]) async throws {
        var arguments: [RedisArgument] = ["XADD", RedisArgument(layout.deadLetters), "*", "source-id", RedisArgument(streamID)]
        for (name, value) in fields.sorted(by: { $0.key < $1.key }) {
            arguments += [RedisArgument(name), RedisArgument(bytes: value)]
        }
        _ = try await RedisEventStore(client: client, layout: layout).call(RedisCommand(arguments: arguments))
    }

    static func entries(_ reply: RESPValue) throws -> [Entry] {
        if reply.isNull { return [] }  // BLOCK timed out
        guard let streams = reply.array else { throw RedisEventStore.unexpected(reply) }
        var result = [Entry]()
        for stream in streams {
            guard let parts = stream.array, parts.count == 2, let items = parts[1].array else {
                throw RedisEventStore.unexpected(reply)
            }
            for item in items { result.append(try entry(item)) }
        }
        return result
    }

    static func entry(_ item: RESPValue) throws -> Entry {
        guard let pair = item.array, pair.count == 2, let id = pair[0].string else { throw RedisEventStore.unexpected(item) }
        guard let list = pair[1].array else { return .gone(streamID: id) }
        var fields: [String: [UInt8]] = [:]
        var index = 0
        while index + 1 < list.count {
            if let name = list[index].string { fields[name] = list[index + 1].bytes ?? [] }
            index += 2
        }
        if let packed = fields["e"], let events = LoggedEvent.decode(streamID: id, packed: packed, adoptions: fields["a"]),
            fields["n"].map({ String(decoding: $0, as: UTF8.self) }) == String(events.count)
        {
            return .events(streamID: id, events)
        }
        return .malformed(streamID: id, fields: fields)
    }
}

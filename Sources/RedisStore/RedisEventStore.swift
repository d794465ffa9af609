import Logging
import RedisClient
import SymbolStreamCore

/// The production `EventStore`: every ingest is one `FCALL` (one round trip,
/// atomic); every dashboard read a bounded number of hash reads.
public final class RedisEventStore: EventStore {
    public let client: RedisClient
    public let layout: RedisLayout
    private let prefix: RedisArgument

    public init(client: RedisClient, layout: RedisLayout) {
        self.client = client
        self.layout = layout
        self.prefix = RedisArgument(layout.prefix)
    }

    /// Run on every new connection (`RedisClient(onConnect:)`): installs the
    /// function library and the archiver's consumer group, so a restarted or
    /// flushed Redis is ready before it serves a request.
    public static func prepare(_ connection: RedisConnection, layout: RedisLayout) async throws {
        _ = try await connection.send(RedisCommand("FUNCTION", "LOAD", "REPLACE", RedisArgument(RedisFunctions.library)))
        _ = try await connection.send(RedisCommand("FCALL", "ss_setup", "0", RedisArgument(layout.prefix)))
    }

    // MARK: Ingest

    public func recordInitial(_ event: InitialEvent) async throws -> InitialOutcome {
        try Self.initialOutcome(try await call(initialCommand(event, replay: false)), sent: event)
    }

    public func recordFollowup(_ event: FollowupEvent) async throws -> FollowupOutcome {
        try Self.followupOutcome(try await call(followupCommand(event, replay: false)))
    }

    /// One pipeline for the whole batch: one write, replies in order.
    public func ingest(_ events: [IngestEvent]) async throws -> [IngestOutcome] {
        try await ingest(events, replay: false)
    }

    /// Re-applies archived events without logging them again (`rebuild`).
    public func replay(_ events: [IngestEvent]) async throws -> [IngestOutcome] {
        try await ingest(events, replay: true)
    }

    private func ingest(_ events: [IngestEvent], replay: Bool) async throws -> [IngestOutcome] {
        let commands = events.map { event in
            switch event {
            case .initial(let initial): initialCommand(initial, replay: replay)
            case .followup(let followup): followupCommand(followup, replay: replay)
            }
        }
        let replies = try await pipeline(commands)
        return try zip(events, replies).map { event, reply in
            if case .error(let message) = reply { throw Self.translate(.server(message)) }
            switch event {
            case .initial(let initial): return .initial(try Self.initialOutcome(reply, sent: initial))
            case .followup: return .followup(try Self.followupOutcome(reply))
            }
        }
    }

    private func initialCommand(_ event: InitialEvent, replay: Bool) -> RedisCommand {
        RedisCommand(
            "FCALL", "ss_initial", "0", prefix, RedisArgument(bytes: event.id.bytes), RedisArgument(event.symbol.letter),
            event.guess ? "1" : "0", RedisArgument(Int(event.receivedAt.second)), RedisArgument(Int(event.receivedAt.offset)),
            replay ? "1" : "0")
    }

    private func followupCommand(_ event: FollowupEvent, replay: Bool) -> RedisCommand {
        RedisCommand(
            "FCALL", "ss_followup", "0", prefix, RedisArgument(bytes: event.id.bytes),
            RedisArgument(Int(event.receivedAt.second)), RedisArgument(Int(event.receivedAt.offset)), replay ? "1" : "0")
    }

    static func initialOutcome(_ reply: RESPValue, sent event: InitialEvent) throws -> InitialOutcome {
        guard let parts = reply.array, parts.count == 2, let tag = parts[0].string else { throw unexpected(reply) }
        switch tag {
        case "new":
            return .accepted(guess: event.guess)
        case "retry":
            guard let guess = parts[1].int else { throw unexpected(reply) }
            return .retry(guess: guess == 1)
        case "conflict":
            guard let symbol = parts[1].string.flatMap({ Symbol(parsing: $0) }) else { throw unexpected(reply) }
            return .conflict(existing: symbol)
        default:
            throw unexpected(reply)
        }
    }

    static func followupOutcome(_ reply: RESPValue) throws -> FollowupOutcome {
        guard let parts = reply.array, let tag = parts.first?.string else { throw unexpected(reply) }
        switch tag {
        case "attributed":
            guard parts.count == 2, let symbol = parts[1].string.flatMap({ Symbol(parsing: $0) }) else { throw unexpected(reply) }
            return .attributed(symbol)
        case "pending":
            return .pending
        default:
            throw unexpected(reply)
        }
    }

    // MARK: Dashboards

    public func summary(of symbol: Symbol) async throws -> SymbolSummary {
        let reply = try await call(RedisCommand("FCALL_RO", "ss_symbol", "0", prefix, RedisArgument(symbol.letter)))
        return try Self.summary(reply, symbol: symbol)
    }

    /// All 26 all-time summaries in one round trip.
    public func totals() async throws -> [SymbolSummary] {
        let reply = try await call(RedisCommand("FCALL_RO", "ss_totals", "0", prefix))
        guard let rows = reply.array, rows.count == 26 else { throw Self.unexpected(reply) }
        return try zip(Symbol.all, rows).map { try Self.summary($1, symbol: $0) }
    }

    public func summaries(in range: TimeRange) async throws -> [SymbolSummary] {
        let empty = Symbol.all.map { SymbolSummary(symbol: $0) }
        guard !range.isEmpty else { return empty }
        let totals = try await totals()
        let earliest = totals.compactMap(\.earliest).min()
        let latest = totals.compactMap(\.latest).max()
        guard let earliest, let latest else { return empty }
        let decomposition = RangeDecomposition(range, dataSpan: earliest...latest)
        guard !decomposition.buckets.isEmpty || !decomposition.edges.isEmpty else { return empty }

        var arguments: [RedisArgument] = ["FCALL_RO", "ss_range", "0", prefix, RedisArgument(decomposition.buckets.count)]
        arguments += decomposition.buckets.map { RedisArgument($0.description) }
        arguments += decomposition.edges.map { RedisArgument(Int($0.second)) }
        let reply = try await call(RedisCommand(arguments: arguments))

        guard let parts = reply.array, parts.count == 2, let rows = parts[0].array, rows.count == 26,
            let logs = parts[1].array, logs.count == decomposition.edges.count
        else { throw Self.unexpected(reply) }
        var accumulator = RangeAccumulator()
        for (symbol, row) in zip(Symbol.all, rows) {
            guard let stats = row.array, stats.count == 4, let count = stats[0].int, let followups = stats[1].int else {
                throw Self.unexpected(reply)
            }
            accumulator.merge(
                BucketStats(
                    count: count, followups: followups, earliest: stats[2].int.map(Timestamp.init(microseconds:)),
                    latest: stats[3].int.map(Timestamp.init(microseconds:))),
                for: symbol)
        }
        for (edge, log) in zip(decomposition.edges, logs) {
            guard let entries = FineLogEntry.decode(log.bytes ?? [], second: edge.second) else { throw Self.unexpected(log) }
            accumulator.merge(fineLog: entries, offsets: edge.offsets)
        }
        return accumulator.summaries
    }

    public func request(_ id: RequestID) async throws -> RequestRecord? {
        let reply = try await call(RedisCommand("FCALL_RO", "ss_request", "0", prefix, RedisArgument(bytes: id.bytes)))
        if reply.isNull { return nil }
        guard let parts = reply.array, parts.count == 2, let tag = parts[0].string, let bytes = parts[1].bytes else {
            throw Self.unexpected(reply)
        }
        switch tag {
        case "r":
            guard let record = RecordCodec.record(bytes, id: id) else { throw Self.unexpected(reply) }
            return record
        case "o":
            guard let times = RecordCodec.times(bytes[...]) else { throw Self.unexpected(reply) }
            return RequestRecord(id: id, symbol: nil, guess: nil, receivedAt: nil, followups: times)
        default:
            throw Self.unexpected(reply)
        }
    }

    public func pipelineStatus() async throws -> PipelineStatus {
        let reply = try await call(RedisCommand("FCALL_RO", "ss_status", "0", prefix))
        guard let parts = reply.array, parts.count == 4, let backlog = parts[0].int, let archived = parts[2].int,
            let waiting = parts[3].int
        else { throw Self.unexpected(reply) }
        return PipelineStatus(
            backlog: backlog, oldestUnarchived: parts[1].int.map(Timestamp.init(microseconds:)), archived: archived,
            waitingRequests: waiting)
    }

    static func summary(_ reply: RESPValue, symbol: Symbol) throws -> SymbolSummary {
        guard let fields = reply.array, fields.count == 4 else { throw unexpected(reply) }
        return SymbolSummary(
            symbol: symbol, count: fields[0].int ?? 0, earliest: fields[1].int.map(Timestamp.init(microseconds:)),
            latest: fields[2].int.map(Timestamp.init(microseconds:)), followups: fields[3].int ?? 0)
    }

    // MARK: Calls and errors

    /// Sends one command; reloads the library once if Redis lost it (e.g. after
    /// `FUNCTION FLUSH`), since the call then did not run and is safe to repeat.
    func call(_ command: RedisCommand) async throws -> RESPValue {
        do {
            return try await client.send(command)
        } catch RedisClientError.server(let message) where Self.isMissingLibrary(message) {
            try await reload()
            do {
                return try await client.send(command)
            } catch let error as RedisClientError {
                throw Self.translate(error)
            }
        } catch let error as RedisClientError {
            throw Self.translate(error)
        }
    }

    func pipeline(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        do {
            var replies = try await client.pipeline(commands)
            let missing = replies.indices.filter { index in
                if case .error(let message) = replies[index] { Self.isMissingLibrary(message) } else { false }
            }
            guard !missing.isEmpty else { return replies }
            // Only those commands did not run; the others did and must not run twice.
            try await reload()
            let retried = try await client.pipeline(missing.map { commands[$0] })
            for (index, reply) in zip(missing, retried) { replies[index] = reply }
            return replies
        } catch let error as RedisClientError {
            throw Self.translate(error)
        }
    }

    private func reload() async throws {
        do {
            _ = try await client.send(RedisCommand("FUNCTION", "LOAD", "REPLACE", RedisArgument(RedisFunctions.library)))
            _ = try await client.send(RedisCommand("FCALL", "ss_setup", "0", prefix))
        } catch let error as RedisClientError {
            throw Self.translate(error)
        }
    }

    static func isMissingLibrary(_ message: String) -> Bool {
        message.contains("Function not found") || message.contains("Library not found")
    }

    /// Connection trouble, and the error replies of a Redis that cannot take
    /// writes right now, mean "unavailable" (503, retry later); anything else
    /// is a bug worth a 500 and a log line.
    static func translate(_ error: RedisClientError) -> any Error {
        switch error {
        case .unavailable(let reason): return StoreUnavailableError(dependency: "redis", reason: reason)
        case .timeout: return StoreUnavailableError(dependency: "redis", reason: "no reply in time")
        case .connectionClosed: return StoreUnavailableError(dependency: "redis", reason: "connection lost")
        case .server(let message):
            let transient = ["LOADING", "BUSY", "OOM", "MISCONF", "READONLY", "MASTERDOWN", "NOREPLICAS", "TRYAGAIN", "CLUSTERDOWN"]
            if transient.contains(where: { message.hasPrefix($0) }) {
                return StoreUnavailableError(dependency: "redis", reason: message)
            }
            return RedisStoreError.unexpectedReply(message)
        case .protocolError(let message): return RedisStoreError.unexpectedReply(message)
        }
    }

    static func unexpected(_ reply: RESPValue) -> RedisStoreError {
        .unexpectedReply(String(describing: reply).prefix(200).description)
    }
}

public enum RedisStoreError: Error, Sendable, Hashable {
    /// Redis answered something the function library never returns.
    case unexpectedReply(String)
}

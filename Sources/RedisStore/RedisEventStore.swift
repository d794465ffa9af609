import Logging
import RedisClient
import SymbolStreamCore

/// The production `EventStore`: ingests go to Redis in batches, one
/// `ss_ingest` function call each (one round trip, atomic); every dashboard
/// read is a bounded number of hash reads.
public final class RedisEventStore: EventStore {
    public let client: RedisClient
    public let layout: RedisLayout
    private let prefix: RedisArgument
    private let batcher: RequestBatcher<IngestEvent, IngestOutcome>
    private let summaries: RequestBatcher<Symbol, SymbolSummary>
    /// Events per `ss_ingest` call at most.
    public static let maximumBatch = 256

    public init(client: RedisClient, layout: RedisLayout) {
        self.client = client
        self.layout = layout
        let prefix = RedisArgument(layout.prefix)
        self.prefix = prefix
        // A queue per event loop (see `RequestBatcher`); two calls in flight
        // per connection keep every connection busy while the next batch fills.
        let lanes = client.laneCount
        let currentLane: @Sendable () -> Int = { [client] in client.currentLane }
        let connectionsPerLane = max(1, client.configuration.connectionCount / lanes)
        self.batcher = RequestBatcher(
            lanes: lanes, currentLane: currentLane, maximumSenders: 2 * connectionsPerLane,
            maximumBatch: Self.maximumBatch
        ) {
            [client] events in
            try await Self.ingest(events, replay: false, prefix: prefix, client: client)
        }
        // Concurrent symbol dashboards share one HMGET of the symbols they ask for.
        let totals = RedisArgument(layout.totals)
        self.summaries = RequestBatcher(
            lanes: lanes, currentLane: currentLane, maximumSenders: connectionsPerLane, maximumBatch: 1024
        ) {
            [client] symbols in
            try await Self.summaries(of: symbols, totals: totals, client: client, prefix: prefix)
        }
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
        guard case .initial(let outcome) = try await batcher.submit(.initial(event)) else { throw Self.unexpected(.null) }
        return outcome
    }

    public func recordFollowup(_ event: FollowupEvent) async throws -> FollowupOutcome {
        guard case .followup(let outcome) = try await batcher.submit(.followup(event)) else { throw Self.unexpected(.null) }
        return outcome
    }

    /// The events of one batch in as few calls as possible (one up to
    /// `maximumBatch` events), outcomes in order.
    public func ingest(_ events: [IngestEvent]) async throws -> [IngestOutcome] {
        try await Self.ingest(events, replay: false, prefix: prefix, client: client)
    }

    /// Re-applies archived events without logging them again (`rebuild`).
    public func replay(_ events: [IngestEvent]) async throws -> [IngestOutcome] {
        try await Self.ingest(events, replay: true, prefix: prefix, client: client)
    }

    private static func ingest(_ events: [IngestEvent], replay: Bool, prefix: RedisArgument, client: RedisClient) async throws
        -> [IngestOutcome]
    {
        var outcomes = [IngestOutcome]()
        outcomes.reserveCapacity(events.count)
        var start = 0
        // Chunks go one after another, never pipelined: if Redis lost the library
        // between two of them, a retried chunk must not overtake a later one
        // (an initial and its retry could swap winners).
        while start < events.count {
            let chunk = events[start..<min(start + maximumBatch, events.count)]
            let reply = try await call(ingestCommand(chunk, replay: replay, prefix: prefix), client: client, prefix: prefix)
            outcomes += try decodeOutcomes(reply, for: chunk)
            start += chunk.count
        }
        return outcomes
    }

    /// Bytes per event in `ss_ingest`'s packed argument (see `RedisFunctions`).
    static let packedEventSize = 27

    static func ingestCommand(_ events: ArraySlice<IngestEvent>, replay: Bool, prefix: RedisArgument) -> RedisCommand {
        var packed = [UInt8]()
        packed.reserveCapacity(packedEventSize * events.count)
        for event in events {
            switch event {
            case .initial(let initial):
                packed.append(UInt8(ascii: "i"))
                initial.id.append(to: &packed)
                packed.append(UInt8(ascii: "a") + UInt8(initial.symbol.index))
                packed.append(initial.guess ? UInt8(ascii: "1") : UInt8(ascii: "0"))
                appendTime(initial.receivedAt, to: &packed)
            case .followup(let followup):
                packed.append(UInt8(ascii: "f"))
                followup.id.append(to: &packed)
                packed.append(UInt8(ascii: "-"))
                packed.append(UInt8(ascii: "-"))
                appendTime(followup.receivedAt, to: &packed)
            }
        }
        return RedisCommand("FCALL", "ss_ingest", "0", prefix, replay ? "1" : "0", RedisArgument(bytes: packed))
    }

    /// `>I5 I3`: the second (5 bytes, big-endian) and the microsecond offset (3 bytes).
    private static func appendTime(_ time: Timestamp, to bytes: inout [UInt8]) {
        let second = UInt64(bitPattern: time.second)
        for shift in stride(from: 32, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: second >> UInt64(shift))) }
        let offset = UInt32(time.offset)
        for shift in stride(from: 16, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: offset >> UInt32(shift))) }
    }

    /// `ss_ingest` answers 2 bytes per event: outcome code, then its value.
    static func decodeOutcomes(_ reply: RESPValue, for events: ArraySlice<IngestEvent>) throws -> [IngestOutcome] {
        guard case .bulkString(let bytes) = reply, bytes.count == 2 * events.count else { throw unexpected(reply) }
        var outcomes = [IngestOutcome]()
        outcomes.reserveCapacity(events.count)
        for (offset, event) in events.enumerated() {
            let code = bytes[2 * offset]
            let value = Int(bytes[2 * offset + 1])
            switch (event, code) {
            case (.initial(let initial), 1): outcomes.append(.initial(.accepted(guess: initial.guess)))
            case (.initial, 2): outcomes.append(.initial(.retry(guess: value == 1)))
            case (.initial, 3):
                guard let symbol = Symbol(index: value) else { throw unexpected(reply) }
                outcomes.append(.initial(.conflict(existing: symbol)))
            case (.followup, 4):
                guard let symbol = Symbol(index: value) else { throw unexpected(reply) }
                outcomes.append(.followup(.attributed(symbol)))
            case (.followup, 5): outcomes.append(.followup(.pending))
            default: throw unexpected(reply)
            }
        }
        return outcomes
    }

    // MARK: Dashboards

    /// The symbol's field of the totals hash: one hash read, shared with the
    /// symbol dashboards asked for at the same time (one `HMGET` of the
    /// distinct symbols they want), so its cost does not grow with the data.
    public func summary(of symbol: Symbol) async throws -> SymbolSummary {
        try await summaries.submit(symbol)
    }

    static func summaries(of symbols: [Symbol], totals: RedisArgument, client: RedisClient, prefix: RedisArgument) async throws
        -> [SymbolSummary]
    {
        var wanted = [Symbol]()
        var seen = [Bool](repeating: false, count: Symbol.all.count)
        for symbol in symbols where !seen[symbol.index] {
            seen[symbol.index] = true
            wanted.append(symbol)
        }
        let reply = try await call(
            RedisCommand(arguments: ["HMGET", totals] + wanted.map { RedisArgument($0.letter) }), client: client, prefix: prefix)
        guard let values = reply.array, values.count == wanted.count else { throw unexpected(reply) }
        var byIndex = [SymbolSummary?](repeating: nil, count: Symbol.all.count)
        for (symbol, value) in zip(wanted, values) {
            var summary = SymbolSummary(symbol: symbol)
            if !value.isNull {
                guard let bytes = value.bytes, let stats = RecordCodec.stats(bytes) else { throw unexpected(reply) }
                summary.merge(stats)
            }
            byIndex[symbol.index] = summary
        }
        return symbols.map { byIndex[$0.index]! }
    }

    /// All 26 all-time summaries: one `HGETALL`.
    public func totals() async throws -> [SymbolSummary] {
        var accumulator = RangeAccumulator()
        try Self.merge(try await call(RedisCommand("HGETALL", RedisArgument(layout.totals))), into: &accumulator)
        return accumulator.summaries
    }

    /// The buckets of the range's decomposition and its edge seconds' fine
    /// logs, read in one pipeline and summed here: Redis only serves plain
    /// reads, the arithmetic stays off its single thread.
    public func summaries(in range: TimeRange) async throws -> [SymbolSummary] {
        let empty = Symbol.all.map { SymbolSummary(symbol: $0) }
        guard !range.isEmpty else { return empty }
        let totals = try await totals()
        let earliest = totals.compactMap(\.earliest).min()
        let latest = totals.compactMap(\.latest).max()
        guard let earliest, let latest else { return empty }
        let decomposition = RangeDecomposition(range, dataSpan: earliest...latest)
        guard !decomposition.buckets.isEmpty || !decomposition.edges.isEmpty else { return empty }

        var commands = decomposition.buckets.map { RedisCommand("HGETALL", RedisArgument(layout.bucket($0))) }
        commands += decomposition.edges.map { RedisCommand("GET", RedisArgument(layout.fineLog(second: $0.second))) }
        let replies = try await Self.pipelineOnce(commands, client: client)
        var accumulator = RangeAccumulator()
        for reply in replies.prefix(decomposition.buckets.count) {
            try Self.merge(reply, into: &accumulator)
        }
        for (edge, reply) in zip(decomposition.edges, replies.dropFirst(decomposition.buckets.count)) {
            if case .error = reply { throw Self.unexpected(reply) }
            guard let entries = FineLogEntry.decode(reply.bytes ?? [], second: edge.second) else { throw Self.unexpected(reply) }
            accumulator.merge(fineLog: entries, offsets: edge.offsets)
        }
        return accumulator.summaries
    }

    /// Adds a bucket hash (`HGETALL` reply: symbol → packed statistics).
    static func merge(_ reply: RESPValue, into accumulator: inout RangeAccumulator) throws {
        guard let fields = reply.array, fields.count % 2 == 0 else { throw unexpected(reply) }
        var index = 0
        while index < fields.count {
            guard let name = fields[index].string, let symbol = Symbol(parsing: name), let value = fields[index + 1].bytes,
                let stats = RecordCodec.stats(value)
            else { throw unexpected(reply) }
            accumulator.merge(stats, for: symbol)
            index += 2
        }
    }

    /// One `HGET` of the uuid map.
    public func request(_ id: RequestID) async throws -> RequestRecord? {
        let slot = layout.uuidSlot(id)
        let reply = try await call(RedisCommand("HGET", slot.key, slot.field))
        if reply.isNull { return nil }
        guard let bytes = reply.bytes, let record = RecordCodec.record(bytes, id: id) else { throw Self.unexpected(reply) }
        return record
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

    // MARK: Calls and errors

    /// Sends one command; reloads the library once if Redis lost it (e.g. after
    /// `FUNCTION FLUSH`), since the call then did not run and is safe to repeat.
    func call(_ command: RedisCommand) async throws -> RESPValue {
        try await Self.call(command, client: client, prefix: prefix)
    }

    static func call(_ command: RedisCommand, client: RedisClient, prefix: RedisArgument) async throws -> RESPValue {
        do {
            do {
                return try await client.send(command)
            } catch RedisClientError.server(let message) where isMissingLibrary(message) {
                try await reload(client: client, prefix: prefix)
                return try await client.send(command)
            }
        } catch let error as RedisClientError {
            throw translate(error)
        }
    }

    private static func reload(client: RedisClient, prefix: RedisArgument) async throws {
        _ = try await client.send(RedisCommand("FUNCTION", "LOAD", "REPLACE", RedisArgument(RedisFunctions.library)))
        _ = try await client.send(RedisCommand("FCALL", "ss_setup", "0", prefix))
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

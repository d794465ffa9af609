import RedisClient
import SymbolStreamCore

/// The production `EventStore`: ingests go to Redis in batches, one
/// `ss_ingest` function call each (one round trip, atomic); every dashboard
/// read is a bounded number of hash reads, summed here so that Redis only
/// serves plain reads.
public final class RedisEventStore: EventStore {
    public let redis: RedisStoreClient
    private let batcher: RequestBatcher<IngestEvent, IngestOutcome>
    private let summaries: RequestBatcher<Symbol, SymbolSummary>
    /// Events per `ss_ingest` call at most.
    public static let maximumBatch = 256

    public var layout: RedisLayout { redis.layout }

    public init(redis: RedisStoreClient) {
        self.redis = redis
        let client = redis.client
        // A queue per event loop (see `RequestBatcher`); two calls in flight
        // per connection keep every connection busy while the next batch fills.
        let lanes = client.laneCount
        let currentLane: @Sendable () -> Int = { [client] in client.currentLane }
        let connectionsPerLane = max(1, client.configuration.connectionCount / lanes)
        self.batcher = RequestBatcher(
            lanes: lanes, currentLane: currentLane, maximumSenders: 2 * connectionsPerLane, maximumBatch: Self.maximumBatch
        ) { events in
            try await Self.ingest(events, redis: redis)
        }
        // Concurrent symbol dashboards share one HMGET of the symbols they ask for.
        self.summaries = RequestBatcher(
            lanes: lanes, currentLane: currentLane, maximumSenders: connectionsPerLane, maximumBatch: 1024
        ) { symbols in
            try await Self.summaries(of: symbols, redis: redis)
        }
    }

    // MARK: Ingest

    public func recordInitial(_ event: InitialEvent) async throws -> InitialOutcome {
        guard case .initial(let outcome) = try await batcher.submit(.initial(event)) else { throw RedisStoreClient.unexpected(.null) }
        return outcome
    }

    public func recordFollowup(_ event: FollowupEvent) async throws -> FollowupOutcome {
        guard case .followup(let outcome) = try await batcher.submit(.followup(event)) else { throw RedisStoreClient.unexpected(.null) }
        return outcome
    }

    /// The events of one batch in as few calls as possible (one up to
    /// `maximumBatch` events), outcomes in order.
    public func ingest(_ events: [IngestEvent]) async throws -> [IngestOutcome] {
        try await Self.ingest(events, redis: redis)
    }

    private static func ingest(_ events: [IngestEvent], redis: RedisStoreClient) async throws -> [IngestOutcome] {
        var outcomes = [IngestOutcome]()
        outcomes.reserveCapacity(events.count)
        var start = 0
        // Chunks go one after another, never pipelined: if Redis lost the library
        // between two of them, a retried chunk must not overtake a later one
        // (an initial and its retry could swap winners).
        while start < events.count {
            let chunk = events[start..<min(start + maximumBatch, events.count)]
            let reply = try await redis.call(.ingest, [RedisArgument(bytes: IngestArgument.encode(chunk))])
            guard let bytes = reply.bytes, case .bulkString = reply, let decoded = IngestArgument.decodeOutcomes(bytes, for: chunk) else {
                throw RedisStoreClient.unexpected(reply)
            }
            outcomes += decoded
            start += chunk.count
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

    private static func summaries(of symbols: [Symbol], redis: RedisStoreClient) async throws -> [SymbolSummary] {
        var wanted = [Symbol]()
        var seen = [Bool](repeating: false, count: Symbol.all.count)
        for symbol in symbols where !seen[symbol.index] {
            seen[symbol.index] = true
            wanted.append(symbol)
        }
        let reply = try await redis.send(
            RedisCommand(arguments: ["HMGET", RedisArgument(redis.layout.totals)] + wanted.map { RedisArgument($0.letter) }))
        guard let values = reply.array, values.count == wanted.count else { throw RedisStoreClient.unexpected(reply) }
        var byIndex = [SymbolSummary?](repeating: nil, count: Symbol.all.count)
        for (symbol, value) in zip(wanted, values) {
            var summary = SymbolSummary(symbol: symbol)
            if !value.isNull {
                guard let bytes = value.bytes, let stats = StatsRecord.decode(bytes) else { throw RedisStoreClient.unexpected(reply) }
                summary.merge(stats)
            }
            byIndex[symbol.index] = summary
        }
        return symbols.map { byIndex[$0.index]! }
    }

    /// All 26 all-time summaries: one `HGETALL`.
    public func totals() async throws -> [SymbolSummary] {
        Self.summaries(try Self.symbolStats(try await redis.send(RedisCommand("HGETALL", RedisArgument(layout.totals)))))
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
        let replies = try await redis.pipeline(commands)
        var accumulator = RangeAccumulator()
        for reply in replies.prefix(decomposition.buckets.count) {
            for (symbol, stats) in try Self.symbolStats(reply).present { accumulator.merge(stats, for: symbol) }
        }
        for (edge, reply) in zip(decomposition.edges, replies.dropFirst(decomposition.buckets.count)) {
            if case .error = reply { throw RedisStoreClient.unexpected(reply) }
            guard let entries = FineLogFormat.decode(reply.bytes ?? [], second: edge.second) else { throw RedisStoreClient.unexpected(reply) }
            accumulator.merge(fineLog: entries, offsets: edge.offsets)
        }
        return accumulator.summaries
    }

    /// One pipeline of `HGETALL`, one per bucket of the span: the cost is the
    /// number of buckets, never the number of events.
    public func series(_ span: BucketSpan) async throws -> [SymbolStats] {
        guard span.count > 0 else { return [] }
        let replies = try await redis.pipeline(span.buckets.map { RedisCommand("HGETALL", RedisArgument(layout.bucket($0))) })
        guard replies.count == span.count else { throw RedisStoreClient.unexpected(.null) }
        return try replies.map(Self.symbolStats)
    }

    /// A bucket hash (`HGETALL` reply: symbol → stats record); empty when the
    /// bucket has no events.
    static func symbolStats(_ reply: RESPValue) throws -> SymbolStats {
        guard let fields = reply.array, fields.count % 2 == 0 else { throw RedisStoreClient.unexpected(reply) }
        var stats = SymbolStats()
        var index = 0
        while index < fields.count {
            guard let name = fields[index].string, let symbol = Symbol(parsing: name), let value = fields[index + 1].bytes,
                let decoded = StatsRecord.decode(value)
            else { throw RedisStoreClient.unexpected(reply) }
            stats[symbol.index] = decoded
            index += 2
        }
        return stats
    }

    private static func summaries(_ stats: SymbolStats) -> [SymbolSummary] {
        var accumulator = RangeAccumulator()
        for (symbol, stats) in stats.present { accumulator.merge(stats, for: symbol) }
        return accumulator.summaries
    }

    /// One `HGET` of the uuid map.
    public func request(_ id: RequestID) async throws -> RequestRecord? {
        let slot = layout.uuidSlot(id)
        let reply = try await redis.send(RedisCommand("HGET", slot.key, slot.field))
        if reply.isNull { return nil }
        guard let bytes = reply.bytes, let record = UUIDRecord.decode(bytes, id: id) else { throw RedisStoreClient.unexpected(reply) }
        return record
    }
}

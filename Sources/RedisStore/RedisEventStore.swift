import RedisClient
import SymbolStreamCore

/// The production `EventStore`: events go to Redis in batches, split by
/// shard, one `ss_ingest` function call per shard (atomic, single-slot),
/// every shard's call of a batch sent in one round trip per server; every
/// dashboard read is a bounded number of hash reads per shard, merged here
/// so that Redis only serves plain reads.
package final class RedisEventStore: EventStore {
    package let redis: RedisStoreClient
    private let batcher: RequestBatcher<IngestEvent, IngestResult>
    private let summaries: RequestBatcher<Symbol, SymbolSummary>
    /// Events per `ss_ingest` call at most.
    package static let maximumBatch = 256
    /// Seconds a followup's idempotency key is remembered at least (twice
    /// that at most; see `IdempotencyMemory`). Every front of a deployment
    /// must use the same.
    package let idempotencyWindow: Int64

    package var layout: RedisLayout { redis.layout }

    package init(redis: RedisStoreClient, idempotencyWindow: Int64 = IdempotencyKey.defaultWindowSeconds) {
        precondition(idempotencyWindow >= 1, "the idempotency window is at least a second")
        self.redis = redis
        self.idempotencyWindow = idempotencyWindow
        let topology = redis.redis
        // A queue per event loop (see `RequestBatcher`); two calls in flight
        // per lane keep the connections busy while the next batch fills.
        let lanes = topology.laneCount
        let currentLane: @Sendable () -> Int = { topology.currentLane }
        self.batcher = RequestBatcher(lanes: lanes, currentLane: currentLane, maximumSenders: 2, maximumBatch: Self.maximumBatch) { events in
            try await Self.ingest(events, redis: redis, idempotencyWindow: idempotencyWindow)
        }
        // Concurrent symbol dashboards share one HMGET per shard of the symbols they ask for.
        self.summaries = RequestBatcher(lanes: lanes, currentLane: currentLane, maximumSenders: 1, maximumBatch: 1024) { symbols in
            try await Self.summaries(of: symbols, redis: redis)
        }
    }

    // MARK: Ingest

    package func recordInitial(_ event: InitialEvent) async throws -> InitialOutcome {
        guard case .initial(let outcome) = try await batcher.submit(.initial(event)).get() else { throw RedisStoreClient.unexpected(.null) }
        return outcome
    }

    package func recordFollowup(_ event: FollowupEvent) async throws -> FollowupOutcome {
        guard case .followup(let outcome) = try await batcher.submit(.followup(event)).get() else { throw RedisStoreClient.unexpected(.null) }
        return outcome
    }

    /// The events of one batch: one call per shard (more only beyond
    /// `maximumBatch` events of one shard), a result per event in order.
    package func ingest(_ events: [IngestEvent]) async throws -> [IngestResult] {
        try await Self.ingest(events, redis: redis, idempotencyWindow: idempotencyWindow)
    }

    private static func ingest(_ events: [IngestEvent], redis: RedisStoreClient, idempotencyWindow: Int64) async throws -> [IngestResult] {
        try redis.layoutCheck.requirePassed()
        let layout = redis.layout
        // Each shard's events, in batch order.
        var byShard = [[Int]](repeating: [], count: layout.shardCount)
        for (position, event) in events.enumerated() { byShard[layout.shard(of: event.id).index].append(position) }
        var results = [IngestResult?](repeating: nil, count: events.count)
        // With replicated acknowledgement, each call is followed by a `WAIT`
        // on the same connection: it returns once that many replicas have
        // every write made before it (or the timeout passed).
        let wait: RedisCommand? =
            redis.replicasAck > 0
            ? RedisCommand("WAIT", RedisArgument(redis.replicasAck), RedisArgument(Int(redis.replicaTimeout.components.seconds * 1000 + redis.replicaTimeout.components.attoseconds / 1_000_000_000_000_000)))
            : nil
        var next = [Int](repeating: 0, count: layout.shardCount)
        // Rounds of one call per shard that still has events; a shard's
        // chunks go one round after another, never pipelined: if Redis lost
        // the library between two of them, a retried chunk must not overtake
        // a later one (an initial and its retry could swap winners).
        while true {
            var calls = [(shard: RedisLayout.Shard, positions: ArraySlice<Int>)]()
            for index in byShard.indices where next[index] < byShard[index].count {
                let end = min(next[index] + maximumBatch, byShard[index].count)
                calls.append((layout.shard(index), byShard[index][next[index]..<end]))
                next[index] = end
            }
            if calls.isEmpty { break }
            let replies = await redis.pipelines(
                calls.map { call in
                    let packed = IngestArgument.encode(call.positions.map { events[$0] })
                    var arguments = [RedisArgument(bytes: packed.events)]
                    if !packed.digests.isEmpty { arguments += [RedisArgument(bytes: packed.digests), RedisArgument(idempotencyWindow)] }
                    let ingest = redis.functionCall(.ingest, shard: call.shard, arguments)
                    return (call.shard, wait.map { [ingest, $0] } ?? [ingest])
                })
            for (call, reply) in zip(calls, replies) {
                let outcomes: [IngestResult]
                switch reply {
                case .success(let values):
                    guard let value = values.first else { throw RedisStoreClient.unexpected(.null) }
                    if wait != nil, let acknowledged = values.last?.int, acknowledged < redis.replicasAck, RedisStoreClient.error(in: value) == nil {
                        // Stored on the primary, not (yet) on enough replicas:
                        // not acknowledged. A retried initial gets its stored
                        // answer; see docs/scaling.md for followups.
                        let reason = "stored on the primary but acknowledged by \(acknowledged) of \(redis.replicasAck) replicas in time"
                        outcomes = Array(repeating: .failure(StoreUnavailableError(dependency: "redis", reason: reason)), count: call.positions.count)
                    } else if let error = RedisStoreClient.error(in: value) {
                        guard let unavailable = error as? StoreUnavailableError else { throw error }
                        outcomes = Array(repeating: .failure(unavailable), count: call.positions.count)
                    } else {
                        guard case .bulkString(let bytes) = value,
                            let decoded = IngestArgument.decodeOutcomes(bytes, for: call.positions.map { events[$0] })
                        else { throw RedisStoreClient.unexpected(value) }
                        outcomes = decoded.map { .success($0) }
                    }
                case .failure(let error):
                    guard let unavailable = error as? StoreUnavailableError else { throw error }
                    outcomes = Array(repeating: .failure(unavailable), count: call.positions.count)
                }
                for (position, outcome) in zip(call.positions, outcomes) { results[position] = outcome }
                if case .failure = outcomes.first {
                    // The shard's server is out: its later chunks would fail the same way.
                    for position in byShard[call.shard.index][next[call.shard.index]...] { results[position] = outcomes.first }
                    next[call.shard.index] = byShard[call.shard.index].count
                }
            }
        }
        if redis.confirmsWrites { await confirmWrites(&results, byShard: byShard, redis: redis) }
        return results.map { $0! }
    }

    /// Asks every server that stored events of the batch whether it wrote
    /// them to its append-only file (`WriteConfirmation`): one `PING` per
    /// server (not per shard: a server's one write covers all its shards'
    /// calls), sent after every call was answered, all at once. The events
    /// of a server that does not confirm are not acknowledged (a 503: they
    /// may or may not be kept).
    private static func confirmWrites(_ results: inout [IngestResult?], byShard: [[Int]], redis: RedisStoreClient) async {
        let stored = byShard.indices.filter { index in
            byShard[index].contains { if case .success = results[$0] { true } else { false } }
        }
        // The stored shards grouped by server; a shard of no known server
        // (the map changed meanwhile) is asked on its own.
        var groups = [[Int]]()
        var groupOfServer = [Int: Int]()
        for index in stored {
            guard let server = redis.redis.server(ofSlot: redis.layout.shard(index).slot) else {
                groups.append([index])
                continue
            }
            if let group = groupOfServer[server] {
                groups[group].append(index)
            } else {
                groupOfServer[server] = groups.count
                groups.append([index])
            }
        }
        guard !groups.isEmpty else { return }
        let replies = await redis.pipelines(groups.map { (redis.layout.shard($0[0]), [WriteConfirmation.command]) })
        for (group, reply) in zip(groups, replies) {
            guard let refusal = WriteConfirmation.refusal(reply) else { continue }
            for position in group.flatMap({ byShard[$0] }) {
                if case .success = results[position] { results[position] = .failure(refusal) }
            }
        }
    }

    // MARK: Dashboards

    /// The symbol's field of every shard's totals hash, summed: one hash read
    /// per shard, shared with the symbol dashboards asked for at the same
    /// time (one `HMGET` per shard of the distinct symbols they want), so its
    /// cost does not grow with the data.
    package func summary(of symbol: Symbol) async throws -> SymbolSummary {
        try await summaries.submit(symbol)
    }

    private static func summaries(of symbols: [Symbol], redis: RedisStoreClient) async throws -> [SymbolSummary] {
        var wanted = [Symbol]()
        var seen = [Bool](repeating: false, count: Symbol.all.count)
        for symbol in symbols where !seen[symbol.index] {
            seen[symbol.index] = true
            wanted.append(symbol)
        }
        let fields = wanted.map { RedisArgument($0.letter) }
        let replies = try await redis.pipelinesOrThrow(
            redis.layout.shards.map { shard in (shard, [RedisCommand(arguments: ["HMGET", RedisArgument(shard.totals)] + fields)]) })
        var byIndex = [SymbolSummary?](repeating: nil, count: Symbol.all.count)
        for symbol in wanted { byIndex[symbol.index] = SymbolSummary(symbol: symbol) }
        for reply in replies {
            guard let values = reply.first?.array, values.count == wanted.count else { throw RedisStoreClient.unexpected(reply.first ?? .null) }
            for (symbol, value) in zip(wanted, values) where !value.isNull {
                guard let bytes = value.bytes, let stats = StatsRecord.decode(bytes) else { throw RedisStoreClient.unexpected(value) }
                byIndex[symbol.index]!.merge(stats)
            }
        }
        return symbols.map { byIndex[$0.index]! }
    }

    /// All 26 all-time summaries: one `HGETALL` per shard.
    package func totals() async throws -> [SymbolSummary] {
        let replies = try await redis.pipelinesOrThrow(layout.shards.map { ($0, [RedisCommand("HGETALL", RedisArgument($0.totals))]) })
        var accumulator = RangeAccumulator()
        for reply in replies {
            for (symbol, stats) in try Self.symbolStats(reply.first ?? .null).present { accumulator.merge(stats, for: symbol) }
        }
        return accumulator.summaries
    }

    /// The buckets of the range's decomposition and its edge seconds' fine
    /// logs, read from every shard (one pipeline per server) and summed here:
    /// Redis only serves plain reads, the arithmetic stays off its thread.
    package func summaries(in range: TimeRange) async throws -> [SymbolSummary] {
        let empty = Symbol.all.map { SymbolSummary(symbol: $0) }
        guard !range.isEmpty else { return empty }
        let totals = try await totals()
        let earliest = totals.compactMap(\.earliest).min()
        let latest = totals.compactMap(\.latest).max()
        guard let earliest, let latest else { return empty }
        let decomposition = RangeDecomposition(range, dataSpan: earliest...latest)
        guard !decomposition.buckets.isEmpty || !decomposition.edges.isEmpty else { return empty }

        let replies = try await redis.pipelinesOrThrow(
            layout.shards.map { shard in
                (
                    shard,
                    decomposition.buckets.map { RedisCommand("HGETALL", RedisArgument(shard.bucket($0))) }
                        + decomposition.edges.map { RedisCommand("GET", RedisArgument(shard.fineLog(second: $0.second))) }
                )
            })
        var accumulator = RangeAccumulator()
        for shardReplies in replies {
            for reply in shardReplies.prefix(decomposition.buckets.count) {
                for (symbol, stats) in try Self.symbolStats(reply).present { accumulator.merge(stats, for: symbol) }
            }
            for (edge, reply) in zip(decomposition.edges, shardReplies.dropFirst(decomposition.buckets.count)) {
                if let error = RedisStoreClient.error(in: reply) { throw error }
                guard let entries = FineLogFormat.decode(reply.bytes ?? [], second: edge.second) else { throw RedisStoreClient.unexpected(reply) }
                accumulator.merge(fineLog: entries, offsets: edge.offsets)
            }
        }
        return accumulator.summaries
    }

    /// One `HGETALL` per bucket of the span and shard: the cost is the number
    /// of buckets, never the number of events.
    package func series(_ span: BucketSpan) async throws -> [SymbolStats] {
        guard span.count > 0 else { return [] }
        let replies = try await redis.pipelinesOrThrow(
            layout.shards.map { shard in (shard, span.buckets.map { RedisCommand("HGETALL", RedisArgument(shard.bucket($0))) }) })
        var series = [SymbolStats](repeating: SymbolStats(), count: span.count)
        for shardReplies in replies {
            guard shardReplies.count == span.count else { throw RedisStoreClient.unexpected(.null) }
            for (position, reply) in shardReplies.enumerated() {
                for (symbol, stats) in try Self.symbolStats(reply).present {
                    series[position].modify(symbol.index) { $0.merge(stats) }
                }
            }
        }
        return series
    }

    /// A bucket hash (`HGETALL` reply: symbol → stats record); empty when the
    /// bucket has no events.
    static func symbolStats(_ reply: RESPValue) throws -> SymbolStats {
        if let error = RedisStoreClient.error(in: reply) { throw error }
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

    /// Every shard's three ranking sets (`ZRANGE 0 -1 WITHSCORES`, 26
    /// members at most), merged here: counts add up over the shards, the
    /// latest is the latest of all. Every member is read: a symbol's total
    /// is spread over all shards, so a shard's first n cannot tell the
    /// overall first n. The cost is at most 26 × 3 pairs per shard, whatever
    /// the number of events.
    package func rankings() async throws -> Rankings {
        let sets = RankingSet.allCases
        let replies = try await redis.pipelinesOrThrow(
            layout.shards.map { shard in
                (shard, sets.map { RedisCommand("ZRANGE", RedisArgument(shard.ranking($0)), "0", "-1", "WITHSCORES") })
            })
        var rankings = Rankings()
        for shardReplies in replies {
            guard shardReplies.count == sets.count else { throw RedisStoreClient.unexpected(.null) }
            var members = [[Symbol: Int64]]()
            for reply in shardReplies {
                guard let decoded = Self.rankingMembers(reply) else { throw RedisStoreClient.error(in: reply) ?? RedisStoreClient.unexpected(reply) }
                members.append(decoded)
            }
            rankings.merge(RankingFormat.rankings(initials: members[0], followups: members[1], recent: members[2]))
        }
        return rankings
    }

    /// A `ZRANGE … WITHSCORES` reply as symbol → score; nil if it is not one.
    static func rankingMembers(_ reply: RESPValue) -> [Symbol: Int64]? {
        guard let values = reply.array, values.count % 2 == 0 else { return nil }
        var pairs = [(member: [UInt8], score: [UInt8])]()
        var index = 0
        while index < values.count {
            guard let member = values[index].bytes, let score = values[index + 1].bytes else { return nil }
            pairs.append((member, score))
            index += 2
        }
        return RankingFormat.decodeMembers(pairs)
    }

    /// One `HGET` of the uuid map, on the uuid's shard.
    package func request(_ id: RequestUUID) async throws -> RequestRecord? {
        let shard = layout.shard(of: id)
        let slot = shard.uuidSlot(id)
        let reply = try await redis.send(RedisCommand("HGET", slot.key, slot.field), shard: shard)
        if reply.isNull { return nil }
        guard let bytes = reply.bytes, let record = UUIDRecord.decode(bytes, id: id) else { throw RedisStoreClient.unexpected(reply) }
        return record
    }
}

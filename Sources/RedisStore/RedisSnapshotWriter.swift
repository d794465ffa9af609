import RedisClient
import SymbolStreamCore

extension RedisEventStore {
    /// Writes every aggregate of `model` into an empty keyspace (after
    /// `resetAggregates`), byte for byte what `ss_ingest` would have built
    /// from the same events: totals, rollup buckets, fine logs, the uuid map
    /// and the waiting counter. The number of commands grows with the number
    /// of keys (time buckets, uuid buckets), not with events, which is what
    /// makes `rebuild` fast. Pipelines `chunk` commands at a time.
    public func write(_ model: AggregateModel, chunk: Int = 2000, progress: @Sendable (_ done: Int, _ total: Int) -> Void = { _, _ in })
        async throws
    {
        var commands = [RedisCommand]()

        func hset(_ key: String, _ stats: [(symbol: Symbol, stats: BucketStats)]) -> RedisCommand? {
            var arguments: [RedisArgument] = ["HSET", RedisArgument(key)]
            for (symbol, stats) in stats where !stats.isEmpty {
                arguments += [RedisArgument(symbol.letter), RedisArgument(bytes: RecordCodec.encode(stats: stats))]
            }
            return arguments.count > 2 ? RedisCommand(arguments: arguments) : nil
        }

        if let totals = hset(layout.totals, Symbol.all.map { ($0, model.totals[$0.index]) }) { commands.append(totals) }
        model.forEachRollup { bucket, stats in
            if let command = hset(layout.bucket(bucket), stats.present) { commands.append(command) }
        }
        // Fine logs are plain strings: many per MSET.
        var mset: [RedisArgument] = ["MSET"]
        model.forEachFineLog { second, entries in
            guard !entries.isEmpty else { return }
            mset += [RedisArgument(layout.fineLog(second: second)), RedisArgument(bytes: entries.flatMap(\.bytes))]
            if mset.count > 1000 {
                commands.append(RedisCommand(arguments: mset))
                mset = ["MSET"]
            }
        }
        if mset.count > 1 { commands.append(RedisCommand(arguments: mset)) }
        // The uuid map, one HSET per 2-byte bucket.
        var buckets: [RedisArgument: [RedisArgument]] = [:]
        func add(_ id: RequestID, _ value: [UInt8]) {
            let slot = layout.uuidSlot(id)
            buckets[slot.key, default: []] += [slot.field, RedisArgument(bytes: value)]
        }
        for (id, record) in model.records { add(id, RecordCodec.encode(record: record)) }
        for (id, followups) in model.orphans { add(id, RecordCodec.encode(orphanFollowups: followups)) }
        for (key, pairs) in buckets {
            commands.append(RedisCommand(arguments: ["HSET", key] + pairs))
        }
        if !model.orphans.isEmpty {
            commands.append(RedisCommand("HSET", RedisArgument(layout.stats), "waiting", RedisArgument(model.orphans.count)))
        }

        var done = 0
        progress(0, commands.count)
        while done < commands.count {
            let slice = Array(commands[done..<min(done + chunk, commands.count)])
            let replies = try await Self.pipelineOnce(slice, client: client)
            if let failure = replies.first(where: { if case .error = $0 { true } else { false } }) {
                throw Self.unexpected(failure)
            }
            done += slice.count
            progress(done, commands.count)
        }
    }

    static func pipelineOnce(_ commands: [RedisCommand], client: RedisClient) async throws -> [RESPValue] {
        do {
            return try await client.pipeline(commands)
        } catch let error as RedisClientError {
            throw translate(error)
        }
    }
}

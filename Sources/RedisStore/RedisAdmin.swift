import RedisClient
import SymbolStreamCore

/// Whole-keyspace work on a deployment's Redis, for `rebuild` and `verify`:
/// deleting every aggregate, writing a recomputed snapshot, reading every key
/// back, and the server settings around them. Never on the request path.
package struct RedisAdmin: Sendable {
    package let redis: RedisStoreClient

    package init(redis: RedisStoreClient) {
        self.redis = redis
    }

    package var layout: RedisLayout { redis.layout }

    /// Deletes every aggregate of `shards` (totals, rollups, fine logs, the
    /// uuid map and the count of requests waiting for their initial),
    /// keeping each shard's event log, dead letters and archived count: the
    /// first step of `rebuild`. Works server-side in steps of about ten
    /// thousand keys, so Redis keeps serving and millions of keys need no
    /// round trip each.
    /// - Parameter shards: every shard of the layout by default; `rebuild`
    ///   also passes those of an earlier layout (another shard count, or the
    ///   unsharded one).
    /// - Returns: the number of keys deleted.
    @discardableResult
    package func resetAggregates(of shards: [RedisLayout.Shard]? = nil) async throws -> Int {
        var deleted = 0
        for shard in shards ?? layout.shards {
            let pattern = RedisArgument(shard.scanPattern)
            var cursor = "0"
            repeat {
                let reply = try await redis.call(.reset, shard: shard, [pattern, RedisArgument(cursor)])
                guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let count = parts[1].int else {
                    throw RedisStoreClient.unexpected(reply)
                }
                deleted += Int(count)
                cursor = next
            } while cursor != "0"
            _ = try await redis.send(RedisCommand("HDEL", RedisArgument(shard.stats), "waiting"), shard: shard)
        }
        return deleted
    }

    /// Sets a shard's count of archived events (`rebuild`: after it, every
    /// row of the shard's history is an archived event, whatever the counter
    /// said before, possibly nothing, if Redis was lost).
    package func setArchivedCount(_ events: Int64, shard: RedisLayout.Shard) async throws {
        _ = try await redis.send(RedisCommand("HSET", RedisArgument(shard.stats), "archived", RedisArgument(events)), shard: shard)
    }

    /// Deletes keys that are not aggregates (a drained event log, dead
    /// letters, counters) of shards a deployment no longer uses, and the
    /// layout record, after a rebuild moved it to another layout.
    package func deleteLeftovers(of shards: [RedisLayout.Shard]) async throws {
        for shard in shards {
            for key in [shard.stream, shard.stats] {
                _ = try await redis.send(RedisCommand("UNLINK", RedisArgument(key)), shard: shard)
            }
        }
    }

    /// Records the layout's shard count (after a rebuild into it).
    package func recordLayout() async throws {
        let slot = HashSlot.of(key: layout.meta)
        _ = try await redis.send(RedisCommand("HSET", RedisArgument(layout.meta), "shards", RedisArgument(layout.shardCount)), slot: slot)
    }

    /// The shard count Redis records, if any.
    package func recordedShardCount() async throws -> Int? {
        let reply = try await redis.send(RedisCommand("HGET", RedisArgument(layout.meta), "shards"), slot: HashSlot.of(key: layout.meta))
        return reply.int.map { Int($0) }
    }

    /// Whether Redis holds keys of the unsharded layout of earlier versions.
    package func holdsLegacyLayout() async throws -> Bool {
        for key in [layout.legacy.stream, layout.legacy.totals, layout.legacy.stats] {
            if try await redis.send(RedisCommand("EXISTS", RedisArgument(key)), slot: HashSlot.of(key: key)).int == 1 { return true }
        }
        return false
    }

    /// Runs `body` with Redis's automatic AOF rewrites paused on every server
    /// that holds a shard, then restores the setting. For rewriting the whole
    /// keyspace (`rebuild`): Redis would otherwise start a rewrite while the
    /// aggregates are deleted, and then one each time the file doubles from
    /// that small base, each forking and copying the dataset on a machine
    /// busy with the rebuild. The AOF itself stays on, every write is logged
    /// and synced as configured; a rewrite that is due starts once the
    /// setting is back.
    ///
    /// Best effort: where `CONFIG` is not allowed, `body` runs all the same
    /// (`paused` false). The setting is server-wide and is lost if this
    /// process dies before restoring it; Redis's configuration file has it.
    package func withAutomaticAOFRewritesPaused<T: Sendable>(_ body: (_ paused: Bool) async throws -> T) async throws -> T {
        let name: RedisArgument = "auto-aof-rewrite-percentage"
        // Shards on one server find it paused after the first: "0" is skipped.
        var paused = [(slot: UInt16, previous: [UInt8])]()
        for shard in layout.shards {
            guard let previous = try? await redis.redis.send(RedisCommand("CONFIG", "GET", name), slot: shard.slot).array?.last?.bytes,
                previous != Array("0".utf8),
                (try? await redis.redis.send(RedisCommand("CONFIG", "SET", name, "0"), slot: shard.slot)) != nil
            else { continue }
            paused.append((shard.slot, previous))
        }
        func restore() async {
            for (slot, previous) in paused.reversed() {
                _ = try? await redis.redis.send(RedisCommand("CONFIG", "SET", name, RedisArgument(bytes: previous)), slot: slot)
            }
        }
        do {
            let result = try await body(!paused.isEmpty)
            await restore()
            return result
        } catch {
            await restore()
            throw error
        }
    }

    /// Writes a snapshot (see `RedisSnapshot`) into an empty keyspace (after
    /// `resetAggregates`): byte for byte what `ss_ingest` would have built
    /// from the same events.
    ///
    /// Chunks of commands go out on a connection of their own, `window` of
    /// them in flight at once: Redis works through one while the next is
    /// encoded, and never waits for a round trip. The uuid map is grouped
    /// (`RedisSnapshot.groupUUIDMap()`) by a child task that starts first and
    /// runs while the rest is encoded and written.
    ///
    /// - Parameters:
    ///   - beforeFirstCommand: runs once that grouping has started, before
    ///     any command is sent: `Rebuild` waits there for the old aggregates
    ///     to be deleted, which the grouping then overlaps.
    ///   - progress: keys written so far, and in all.
    package func write(
        _ snapshot: RedisSnapshot, window: Int = 4, beforeFirstCommand: () async throws -> Void = {},
        progress: @escaping @Sendable (_ done: Int, _ total: Int) -> Void = { _, _ in }
    ) async throws {
        var encoder = snapshot
        let total = encoder.keyCount
        progress(0, total)
        /// What a child task of the writer finished.
        enum Finished: Sendable {
            case chunk(keys: Int)
            case uuidMap(RedisSnapshot.UUIDMap)
        }
        try await redis.withDedicatedConnection(shard: snapshot.shard) { connection in
            try await withThrowingTaskGroup(of: Finished.self) { group in
                group.addTask { .uuidMap(await snapshot.groupUUIDMap()) }
                try await beforeFirstCommand()
                var inFlight = 0
                var done = 0
                func collect(_ finished: Finished) {
                    switch finished {
                    case .chunk(let keys):
                        inFlight -= 1
                        done += keys
                        progress(done, total)
                    case .uuidMap(let map):
                        encoder.provideUUIDMap(map)
                    }
                }
                while true {
                    guard let (commands, keys) = encoder.next() else {
                        guard encoder.needsUUIDMap else { break }
                        // Everything before the uuid map is on its way: wait for the grouping.
                        while encoder.needsUUIDMap {
                            guard let finished = try await group.next() else { preconditionFailure("uuid map never grouped") }
                            collect(finished)
                        }
                        continue
                    }
                    while inFlight >= window, let finished = try await group.next() { collect(finished) }
                    group.addTask {
                        // A chunk may take long on a busy server: it is bounded by size, not count.
                        let replies = try await connection.pipeline(commands, timeout: .seconds(120))
                        if let failure = replies.first(where: { if case .error = $0 { true } else { false } }) {
                            throw RedisStoreClient.unexpected(failure)
                        }
                        return .chunk(keys: keys)
                    }
                    inFlight += 1
                }
                for try await finished in group { collect(finished) }
            }
        }
    }
}

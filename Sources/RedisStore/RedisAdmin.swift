import RedisClient

/// Whole-keyspace work on a deployment's Redis, for `rebuild` and `verify`:
/// deleting every aggregate, writing a recomputed snapshot, reading every key
/// back, and the server settings around them. Never on the request path.
public struct RedisAdmin: Sendable {
    public let redis: RedisStoreClient

    public init(redis: RedisStoreClient) {
        self.redis = redis
    }

    public var layout: RedisLayout { redis.layout }

    /// Deletes every aggregate (totals, rollups, fine logs, the uuid map and the
    /// count of requests waiting for their initial), keeping the event log,
    /// dead letters and the archived count: the first step of `rebuild`. Works
    /// server-side in steps of about ten thousand keys, so Redis keeps serving
    /// and millions of keys need no round trip each.
    /// - Returns: the number of keys deleted.
    @discardableResult
    public func resetAggregates() async throws -> Int {
        let pattern = RedisArgument(layout.scanPattern)
        var cursor = "0"
        var deleted = 0
        repeat {
            let reply = try await redis.call(.reset, [pattern, RedisArgument(cursor)])
            guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let count = parts[1].int else {
                throw RedisStoreClient.unexpected(reply)
            }
            deleted += Int(count)
            cursor = next
        } while cursor != "0"
        _ = try await redis.send(RedisCommand("HDEL", RedisArgument(layout.stats), "waiting"))
        return deleted
    }

    /// Sets the count of archived events (`rebuild`: after it, every row of
    /// the history is an archived event, whatever the counter said before,
    /// possibly nothing, if Redis was lost).
    public func setArchivedCount(_ events: Int64) async throws {
        _ = try await redis.send(RedisCommand("HSET", RedisArgument(layout.stats), "archived", RedisArgument(events)))
    }

    /// Runs `body` with Redis's automatic AOF rewrites paused, then restores
    /// the setting. For rewriting the whole keyspace (`rebuild`): Redis would
    /// otherwise start a rewrite while the aggregates are deleted, and then
    /// one each time the file doubles from that small base, each forking and
    /// copying the dataset on a machine busy with the rebuild. The AOF itself
    /// stays on, every write is logged and synced as configured; a rewrite
    /// that is due starts once the setting is back.
    ///
    /// Best effort: where `CONFIG` is not allowed, `body` runs all the same
    /// (`paused` false). The setting is server-wide and is lost if this
    /// process dies before restoring it; Redis's configuration file has it.
    public func withAutomaticAOFRewritesPaused<T: Sendable>(_ body: (_ paused: Bool) async throws -> T) async throws -> T {
        let client = redis.client
        let name: RedisArgument = "auto-aof-rewrite-percentage"
        let previous = try? await client.send(RedisCommand("CONFIG", "GET", name)).array?.last?.bytes
        guard let previous, previous != Array("0".utf8),
            (try? await client.send(RedisCommand("CONFIG", "SET", name, "0"))) != nil
        else {
            return try await body(false)
        }
        do {
            let result = try await body(true)
            _ = try await client.send(RedisCommand("CONFIG", "SET", name, RedisArgument(bytes: previous)))
            return result
        } catch {
            _ = try? await client.send(RedisCommand("CONFIG", "SET", name, RedisArgument(bytes: previous)))
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
    public func write(
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
        try await redis.withDedicatedConnection { connection in
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

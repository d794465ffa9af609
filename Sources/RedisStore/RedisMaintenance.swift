import RedisClient

extension RedisEventStore {
    /// Deletes every aggregate (totals, rollups, fine logs, the uuid map and the
    /// count of requests waiting for their initial), keeping the event log,
    /// dead letters and the archived count: the first step of `rebuild`. Works
    /// server-side in steps of about ten thousand keys, so Redis keeps serving
    /// and millions of keys need no round trip each.
    /// - Returns: the number of keys deleted.
    @discardableResult
    public func resetAggregates() async throws -> Int {
        let pattern = RedisArgument(Self.globEscaped(layout.prefix) + "*")
        var cursor = "0"
        var deleted = 0
        repeat {
            let reply = try await call(RedisCommand("FCALL", "ss_reset", "0", RedisArgument(layout.prefix), pattern, RedisArgument(cursor)))
            guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let count = parts[1].int else {
                throw Self.unexpected(reply)
            }
            deleted += Int(count)
            cursor = next
        } while cursor != "0"
        _ = try await call(RedisCommand("HDEL", RedisArgument(layout.stats), "waiting"))
        return deleted
    }

    static func globEscaped(_ text: String) -> String {
        var result = ""
        for character in text {
            if "*?[]\\".contains(character) { result.append("\\") }
            result.append(character)
        }
        return result
    }

    /// Sets the count of archived events (`rebuild`: after it, every row of
    /// the history is an archived event, whatever the counter said before,
    /// possibly nothing, if Redis was lost).
    public func setArchivedCount(_ events: Int64) async throws {
        _ = try await call(RedisCommand("HSET", RedisArgument(layout.stats), "archived", RedisArgument(events)))
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
}

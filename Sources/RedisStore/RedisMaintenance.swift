import RedisClient

extension RedisEventStore {
    /// Deletes every aggregate (totals, rollups, fine logs, the uuid map and the
    /// count of requests waiting for their initial), keeping the event log,
    /// dead letters and the archived count: the first step of `rebuild`. Works
    /// server-side in steps of a few thousand keys, so Redis keeps serving and
    /// millions of keys need no round trip each.
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
        _ = try await call(RedisCommand("HDEL", RedisArgument(layout.prefix + "stats"), "waiting"))
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
}

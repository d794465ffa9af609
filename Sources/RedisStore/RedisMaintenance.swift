import RedisClient

extension RedisEventStore {
    /// Deletes every aggregate (totals, rollups, fine logs, the uuid map and the
    /// count of requests waiting for their initial), keeping the event log,
    /// dead letters and the archived count:
    /// the first step of `rebuild`. Scans in small steps so Redis keeps serving.
    /// - Returns: the number of keys deleted.
    @discardableResult
    public func resetAggregates() async throws -> Int {
        let keep: Set<[UInt8]> = [Array(layout.stream.utf8), Array(layout.deadLetters.utf8), Array((layout.prefix + "stats").utf8)]
        let pattern = RedisArgument(Self.globEscaped(layout.prefix) + "*")
        var cursor = "0"
        var deleted = 0
        repeat {
            let reply = try await call(RedisCommand("SCAN", RedisArgument(cursor), "MATCH", pattern, "COUNT", 1000))
            guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let keys = parts[1].array else {
                throw Self.unexpected(reply)
            }
            let doomed = keys.compactMap(\.bytes).filter { !keep.contains($0) }
            if !doomed.isEmpty {
                _ = try await call(RedisCommand(arguments: ["UNLINK"] + doomed.map { RedisArgument(bytes: $0) }))
                deleted += doomed.count
            }
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
}

import RedisClient
import SymbolStreamCore

extension RedisEventStore {
    /// Writes every aggregate of `model` into an empty keyspace (after
    /// `resetAggregates`), byte for byte what `ss_ingest` would have built
    /// from the same events (see `RedisSnapshot`).
    ///
    /// Chunks of about `chunkBytes` of commands go out on a connection of
    /// their own, `window` of them in flight at once: Redis works through one
    /// while the next is encoded, and never waits for a round trip.
    ///
    /// - Parameter progress: keys written so far, and in all.
    public func write(
        _ model: AggregateModel, chunkBytes: Int = 1 << 20, window: Int = 4,
        progress: @escaping @Sendable (_ done: Int, _ total: Int) -> Void = { _, _ in }
    ) async throws {
        try await write(RedisSnapshot(model: model, layout: layout, chunkBytes: chunkBytes), window: window, progress: progress)
    }

    /// Writes a snapshot encoded ahead (see `write(_:chunkBytes:window:progress:)`).
    public func write(
        _ snapshot: RedisSnapshot, window: Int = 4, progress: @escaping @Sendable (_ done: Int, _ total: Int) -> Void = { _, _ in }
    ) async throws {
        var encoder = snapshot
        let total = encoder.keyCount
        progress(0, total)
        do {
            try await client.withDedicatedConnection { connection in
                try await withThrowingTaskGroup(of: Int.self) { group in
                    var inFlight = 0
                    var done = 0
                    while let (commands, keys) = await encoder.next() {
                        if inFlight >= window, let written = try await group.next() {
                            inFlight -= 1
                            done += written
                            progress(done, total)
                        }
                        group.addTask {
                            // A chunk may take long on a busy server: it is bounded by size, not count.
                            let replies = try await connection.pipeline(commands, timeout: .seconds(120))
                            if let failure = replies.first(where: { if case .error = $0 { true } else { false } }) {
                                throw Self.unexpected(failure)
                            }
                            return keys
                        }
                        inFlight += 1
                    }
                    for try await written in group {
                        done += written
                        progress(done, total)
                    }
                }
            }
        } catch let error as RedisClientError {
            throw Self.translate(error)
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

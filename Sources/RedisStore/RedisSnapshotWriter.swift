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
    ///
    /// The uuid map is grouped (`RedisSnapshot.groupUUIDMap()`) by a child
    /// task that starts first and runs while the rest is encoded and written.
    ///
    /// - Parameter beforeFirstCommand: runs once that grouping has started,
    ///   before any command is sent: `Rebuild` waits there for the old
    ///   aggregates to be deleted, which the grouping then overlaps.
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
        do {
            try await client.withDedicatedConnection { connection in
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
                                throw Self.unexpected(failure)
                            }
                            return .chunk(keys: keys)
                        }
                        inFlight += 1
                    }
                    for try await finished in group { collect(finished) }
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

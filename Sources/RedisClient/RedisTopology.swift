public import ServiceLifecycle

/// A Redis deployment as its users see it: every command goes to the server
/// that holds the keys it touches. The caller names the slot of those keys
/// (`HashSlot`; keys that share a hash tag share one) and need not know
/// whether one server (`RedisClient`) or a Redis Cluster
/// (`RedisClusterClient`) answers: one code path for both.
package protocol RedisTopology: Service, Sendable {
    /// One command, to the server that owns `slot`.
    func send(_ command: RedisCommand, slot: UInt16) async throws -> RESPValue

    /// Requests of commands, each for keys of one slot: sent as one pipeline
    /// per server, all servers at once. A result per request, in order; a
    /// server that is down fails only its own requests. Error replies come
    /// in place, as with ``RedisConnection/pipeline(_:)-([RedisCommand])``.
    func pipelines(_ requests: [SlotCommands]) async -> [Result<[RESPValue], RedisClientError>]

    /// Runs `body` with a connection of its own to the server that owns
    /// `slot` (blocking reads, bulk writes), closed afterwards.
    func withDedicatedConnection<T: Sendable>(slot: UInt16, _ body: (RedisConnection) async throws -> T) async throws -> T

    /// Which server owns `slot` right now: equal for slots one server holds
    /// (so a caller can send one command per server rather than per slot),
    /// nil if no server is known to.
    func server(ofSlot slot: UInt16) -> Int?

    /// Independent queues for callers that batch per event loop (see `RedisClient.currentLane`).
    var laneCount: Int { get }
    var currentLane: Int { get }

    /// Whether every slot has a live connection to its server right now.
    var isAvailable: Bool { get }

    /// Waits until every slot has a live connection (for command-line tools;
    /// servers answer 503 instead of waiting).
    func waitUntilAvailable(timeout: Duration) async throws
}

/// Commands that touch keys of one slot (or no key at all).
package struct SlotCommands: Sendable {
    package var slot: UInt16
    package var commands: [RedisCommand]

    package init(slot: UInt16, commands: [RedisCommand]) {
        self.slot = slot
        self.commands = commands
    }
}

/// One server holds every slot: each request goes out on the pool's
/// connections, all in one pipeline.
extension RedisClient: RedisTopology {
    package func send(_ command: RedisCommand, slot: UInt16) async throws -> RESPValue {
        try await self.send(command)
    }

    package func pipelines(_ requests: [SlotCommands]) async -> [Result<[RESPValue], RedisClientError>] {
        guard requests.count > 1 else {
            return await requests.asyncMap { request in
                do { return .success(try await self.pipeline(request.commands)) } catch { return .failure(Self.clientError(error)) }
            }
        }
        do {
            let replies = try await self.pipeline(requests.flatMap(\.commands))
            var results = [Result<[RESPValue], RedisClientError>]()
            results.reserveCapacity(requests.count)
            var start = 0
            for request in requests {
                results.append(.success(Array(replies[start..<start + request.commands.count])))
                start += request.commands.count
            }
            return results
        } catch {
            return Array(repeating: .failure(Self.clientError(error)), count: requests.count)
        }
    }

    package func withDedicatedConnection<T: Sendable>(slot: UInt16, _ body: (RedisConnection) async throws -> T) async throws -> T {
        try await self.withDedicatedConnection(body)
    }

    package func server(ofSlot slot: UInt16) -> Int? { 0 }

    static func clientError(_ error: any Error) -> RedisClientError {
        (error as? RedisClientError) ?? .connectionClosed
    }
}

extension Array {
    /// `map` with an async transform, one element after another.
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result = [T]()
        result.reserveCapacity(count)
        for element in self { result.append(try await transform(element)) }
        return result
    }
}

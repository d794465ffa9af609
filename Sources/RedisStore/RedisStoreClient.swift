import Logging
import RedisClient
import Synchronization
import SymbolStreamCore

/// How every part of the store talks to Redis: sends each command to the
/// server that holds its shard (one server, or the node of a Redis Cluster
/// that owns the shard's slot: `RedisTopology`), calls the function library
/// (loading it again once if Redis lost it, e.g. after `FUNCTION FLUSH`: the
/// call then did not run and is safe to repeat), and turns client errors into
/// the store's: "unavailable" (answer 503, retry later) or a bug.
///
/// The event store, the event log, the archiver's reads and the admin
/// commands (rebuild, verify) all go through one of these.
package struct RedisStoreClient: Sendable {
    package let redis: any RedisTopology
    package let layout: RedisLayout

    /// Replicas that must have an ingest call before its events are
    /// acknowledged (Redis `WAIT`; 0: the primary's reply is enough).
    package let replicasAck: Int
    /// How long `WAIT` waits for them.
    package let replicaTimeout: Duration
    /// Whether an ingest call's events wait for Redis to confirm it wrote
    /// the call to its append-only file (`WriteConfirmation`).
    package let confirmsWrites: Bool

    /// Whether Redis is known to hold this layout; writes wait for it when
    /// `requireLayoutCheck` (see `checkLayout`).
    package let layoutCheck: LayoutCheck

    package init(
        redis: any RedisTopology, layout: RedisLayout, replicasAck: Int = 0, replicaTimeout: Duration = .milliseconds(500),
        requireLayoutCheck: Bool = false, confirmsWrites: Bool = true
    ) {
        self.redis = redis
        self.layout = layout
        self.replicasAck = replicasAck
        self.replicaTimeout = replicaTimeout
        self.confirmsWrites = confirmsWrites
        self.layoutCheck = LayoutCheck(passed: !requireLayoutCheck)
    }

    /// The connections to one Redis server (`configuration`'s host and port)
    /// or, with `clusterSeeds`, to a Redis Cluster found through them; every
    /// new connection gets the function library (`prepare`).
    package static func topology(configuration: RedisConfiguration, clusterSeeds: [String] = [], logger: Logger) -> any RedisTopology {
        let seeds = clusterSeeds.compactMap { RedisNodeAddress($0) }
        guard !seeds.isEmpty else { return RedisClient(configuration: configuration, logger: logger, onConnect: prepare) }
        return RedisClusterClient(
            configuration: RedisClusterConfiguration(seeds: seeds, node: configuration), logger: logger, onConnect: prepare)
    }

    /// Run on every new connection (`RedisClient(onConnect:)`, on every node
    /// of a cluster): installs the function library, so a restarted, flushed
    /// or newly promoted server is ready before it serves a request.
    @Sendable package static func prepare(_ connection: RedisConnection) async throws {
        _ = try await connection.send(loadLibrary)
    }

    private static let loadLibrary = RedisCommand("FUNCTION", "LOAD", "REPLACE", RedisArgument(FunctionLibrary.source))

    // MARK: Commands

    /// A call of one of the library's functions on `shard`: the shard's log
    /// is its declared key (so a cluster routes and checks it), its prefix
    /// the first argument.
    func functionCall(_ function: FunctionLibrary.Function, shard: RedisLayout.Shard, _ arguments: [RedisArgument] = []) -> RedisCommand {
        RedisCommand(
            arguments: [function.isReadOnly ? "FCALL_RO" : "FCALL", RedisArgument(function.rawValue), "1", RedisArgument(shard.stream), RedisArgument(shard.prefix)]
                + arguments)
    }

    /// Calls one of the library's functions on `shard`.
    func call(_ function: FunctionLibrary.Function, shard: RedisLayout.Shard, _ arguments: [RedisArgument] = []) async throws -> RESPValue {
        try await send(functionCall(function, shard: shard, arguments), slot: shard.slot)
    }

    func send(_ command: RedisCommand, shard: RedisLayout.Shard) async throws -> RESPValue {
        try await send(command, slot: shard.slot)
    }

    /// Sends one command to the server of `slot`; see the type's comment for errors.
    func send(_ command: RedisCommand, slot: UInt16) async throws -> RESPValue {
        do {
            do {
                return try await redis.send(command, slot: slot)
            } catch RedisClientError.server(let message) where Self.isMissingLibrary(message) {
                _ = try await redis.send(Self.loadLibrary, slot: slot)
                return try await redis.send(command, slot: slot)
            }
        } catch let error as RedisClientError {
            throw Self.translate(error)
        }
    }

    /// Commands per shard, one pipeline per server, every server at once; a
    /// result per request, in order (a server down fails only its shards).
    /// A function call that found the library missing is sent again once
    /// the library is back.
    func pipelines(_ requests: [(shard: RedisLayout.Shard, commands: [RedisCommand])]) async -> [Result<[RESPValue], any Error>] {
        let slotted = requests.map { SlotCommands(slot: $0.shard.slot, commands: $0.commands) }
        var results = await redis.pipelines(slotted).map(Self.translate)
        let missing = results.indices.filter { index in
            if case .success(let replies) = results[index] { return replies.contains(where: Self.isMissingLibrary) }
            return false
        }
        guard !missing.isEmpty else { return results }
        let retried = await redis.pipelines(missing.map { SlotCommands(slot: slotted[$0].slot, commands: [Self.loadLibrary] + slotted[$0].commands) })
        for (index, result) in zip(missing, retried) {
            results[index] = Self.translate(result.map { Array($0.dropFirst()) })
        }
        return results
    }

    /// The same, for reads that need every answer: throws the first failure.
    func pipelinesOrThrow(_ requests: [(shard: RedisLayout.Shard, commands: [RedisCommand])]) async throws -> [[RESPValue]] {
        try await pipelines(requests).map { try $0.get() }
    }

    /// Runs `body` on a connection of its own to the server of `shard`
    /// (blocking reads, bulk writes), with the same error translation.
    func withDedicatedConnection<T: Sendable>(shard: RedisLayout.Shard, _ body: (RedisConnection) async throws -> T) async throws -> T {
        do {
            return try await redis.withDedicatedConnection(slot: shard.slot, body)
        } catch let error as RedisClientError {
            throw Self.translate(error)
        }
    }

    // MARK: Errors

    static func isMissingLibrary(_ message: String) -> Bool {
        message.contains("Function not found") || message.contains("Library not found")
    }

    private static func isMissingLibrary(_ reply: RESPValue) -> Bool {
        if case .error(let message) = reply { isMissingLibrary(message) } else { false }
    }

    private static func translate(_ result: Result<[RESPValue], RedisClientError>) -> Result<[RESPValue], any Error> {
        result.mapError { translate($0) }
    }

    /// Connection trouble, and the error replies of a Redis that cannot take
    /// writes right now, mean "unavailable" (503, retry later); anything else
    /// is a bug worth a 500 and a log line.
    static func translate(_ error: RedisClientError) -> any Error {
        switch error {
        case .unavailable(let reason): return StoreUnavailableError(dependency: "redis", reason: reason)
        case .timeout: return StoreUnavailableError(dependency: "redis", reason: "no reply in time")
        case .connectionClosed: return StoreUnavailableError(dependency: "redis", reason: "connection lost")
        case .server(let message):
            if isTransient(message) { return StoreUnavailableError(dependency: "redis", reason: message) }
            return RedisStoreError.unexpectedReply(message)
        case .protocolError(let message): return RedisStoreError.unexpectedReply(message)
        }
    }

    /// Error replies of a server that cannot take the command right now
    /// (loading, full, read-only, failing over, a cluster re-sharding).
    static func isTransient(_ message: String) -> Bool {
        ["LOADING", "BUSY", "OOM", "MISCONF", "READONLY", "MASTERDOWN", "NOREPLICAS", "TRYAGAIN", "CLUSTERDOWN", "MOVED", "ASK"].contains {
            message.hasPrefix($0)
        }
    }

    /// An error reply in place in a pipeline, as the error `send` would throw.
    static func error(in reply: RESPValue) -> (any Error)? {
        guard case .error(let message) = reply else { return nil }
        return translate(.server(message))
    }

    static func unexpected(_ reply: RESPValue) -> RedisStoreError {
        .unexpectedReply(String(describing: reply).prefix(200).description)
    }
}

package enum RedisStoreError: Error, Sendable, Hashable {
    /// Redis answered something the function library never returns.
    case unexpectedReply(String)
    /// The deployment's Redis holds another layout than this process was
    /// started for (another shard count, or the unsharded layout of an
    /// earlier version): a clear refusal rather than mixed keys.
    case layoutMismatch(String)
}

extension RedisStoreError: CustomStringConvertible {
    package var description: String {
        switch self {
        case .unexpectedReply(let reply): "unexpected reply from Redis: \(reply)"
        case .layoutMismatch(let message): message
        }
    }
}

extension RedisStoreClient {
    /// Records the layout's shard count in Redis on first use, and refuses a
    /// Redis that holds another layout: another shard count, or the
    /// unsharded keys of an earlier version. Every command runs it before it
    /// touches a shard; `serve` before its first write (`layoutCheck`).
    package func checkLayout() async throws {
        for key in [layout.legacy.stream, layout.legacy.totals] {
            if try await send(RedisCommand("EXISTS", RedisArgument(key)), slot: HashSlot.of(key: key)).int == 1 {
                layoutCheck.fail()
                throw RedisStoreError.layoutMismatch(
                    "Redis holds the unsharded layout of an earlier version (\(key)); run `symbolstream rebuild` once (service stopped): it archives what is still logged and rebuilds the sharded layout from MariaDB"
                )
            }
        }
        let meta = RedisArgument(layout.meta)
        let metaSlot = HashSlot.of(key: layout.meta)
        let recorded = try await send(RedisCommand("HSETNX", meta, "shards", RedisArgument(layout.shardCount)), slot: metaSlot)
        if recorded.int != 1 {
            let shards = try await send(RedisCommand("HGET", meta, "shards"), slot: metaSlot).int
            guard shards == Int64(layout.shardCount) else {
                layoutCheck.fail()
                throw RedisStoreError.layoutMismatch(
                    "Redis holds \(shards.map(String.init) ?? "an unreadable number of") shards under prefix \(layout.prefix) (\(layout.meta)); this process was started with --shards \(layout.shardCount). Start it with --shards \(shards.map(String.init) ?? "N"), or change the count with `symbolstream rebuild --shards \(layout.shardCount)` (service stopped)"
                )
            }
        }
        layoutCheck.pass()
    }
}

/// Whether the Redis a process writes to holds its layout: until a check
/// passed, writes are refused as "unavailable" (the service is starting);
/// after a mismatch, for good.
package final class LayoutCheck: Sendable {
    private enum State { case pending, passed, failed }
    private let state: Mutex<State>

    init(passed: Bool) {
        state = Mutex(passed ? .passed : .pending)
    }

    package var hasPassed: Bool { state.withLock { $0 == .passed } }

    func pass() { state.withLock { if $0 == .pending { $0 = .passed } } }
    func fail() { state.withLock { $0 = .failed } }

    /// Throws the 503 of a write that came before the check.
    func requirePassed() throws {
        switch state.withLock({ $0 }) {
        case .passed: return
        case .pending: throw StoreUnavailableError(dependency: "redis", reason: "starting: the Redis layout is not checked yet")
        case .failed: throw StoreUnavailableError(dependency: "redis", reason: "Redis holds another layout (see the log)")
        }
    }
}

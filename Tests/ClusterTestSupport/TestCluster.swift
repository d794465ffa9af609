import Foundation
import Logging
import NIOPosix
import RedisClient
import TestSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The Redis Cluster that cluster tests run against: six nodes (3 primaries,
/// 3 replicas) of a `provisioning/stores.sh` profile of its own, started
/// fresh on first use in a test process and stopped when the process exits.
/// Its ports cannot collide with the other profiles':
///
/// - `SYMBOLSTREAM_CLUSTER_TEST_PROFILE`: the profile (default `clustertest`);
/// - `SYMBOLSTREAM_CLUSTER_TEST_PORT`: node 1's port (default 7101: nodes on
///   7101-7106, cluster bus on 17101-17106);
/// - cluster-node-timeout 1000 ms, so that a replica takes over a killed
///   primary within a few seconds.
///
/// Tests that kill nodes or move slots change the cluster for every test that
/// runs beside them: run them in one `.serialized` suite, and leave every
/// node running at the end.
package enum TestCluster {
    package static let profile = ProcessInfo.processInfo.environment["SYMBOLSTREAM_CLUSTER_TEST_PROFILE"] ?? "clustertest"
    package static let basePort = Int(ProcessInfo.processInfo.environment["SYMBOLSTREAM_CLUSTER_TEST_PORT"] ?? "") ?? 7101
    package static let password = "og"
    package static let nodeTimeoutMilliseconds = 1000

    package static let logger: Logger = {
        var logger = Logger(label: "cluster-test")
        logger.logLevel = .error
        return logger
    }()

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let script = root.appendingPathComponent("provisioning/stores.sh").path

    /// redis-server and redis-cli can be had.
    package static var isAvailable: Bool {
        ChildProcess.executable("redis-server") != nil && ChildProcess.executable("redis-cli") != nil
    }

    /// Every node's address: the seeds.
    package static let nodes: [RedisNodeAddress] = (0..<6).map { RedisNodeAddress(host: "127.0.0.1", port: basePort + $0) }

    /// Node number 1-6 (as stores.sh counts) of the node at `address`.
    package static func nodeNumber(of address: RedisNodeAddress) -> Int? {
        let number = address.port - basePort + 1
        return (1...6).contains(number) && address.host == "127.0.0.1" ? number : nil
    }

    /// Starts the cluster (wiped first) once per process; throws when that failed.
    package static func start() async throws {
        try await started.value
    }

    private static let started = Task<Void, any Error> {
        guard await stores("reset") == 0 else { throw TestClusterError("stores.sh reset --profile \(profile) failed") }
        guard await stores("start-redis") == 0 else {
            throw TestClusterError("stores.sh start-redis --profile \(profile) --redis-cluster failed")
        }
        atexit {
            _ = TestCluster.storesNow("stop")
        }
    }

    /// Runs `provisioning/stores.sh COMMAND [node] --profile … --redis-cluster`
    /// with this cluster's settings, on a thread of its own (it takes
    /// seconds, which must not hold one of the few threads Swift's tasks run
    /// on); its exit status.
    @discardableResult
    package static func stores(_ command: String, node: Int? = nil) async -> Int32 {
        await onThreadOfItsOwn { storesNow(command, node: node) }
    }

    /// Runs `body`, which blocks, on a new thread.
    static func onThreadOfItsOwn<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: body()) }
        }
    }

    static func storesNow(_ command: String, node: Int? = nil) -> Int32 {
        // SYMBOLSTREAM_PROFILE names this profile: one exported by another
        // profile's env file would make stores.sh ignore the ports given here.
        let environment = [
            "SYMBOLSTREAM_PROFILE=\(profile)",
            "SYMBOLSTREAM_REDIS_CLUSTER_PORT=\(basePort)",
            // Never started (start-redis only), but every profile names one.
            "SYMBOLSTREAM_MARIADB_PORT=\(basePort - 3700)",
            "SYMBOLSTREAM_CLUSTER_NODE_TIMEOUT=\(nodeTimeoutMilliseconds)",
            "SYMBOLSTREAM_REDIS_PASSWORD=\(password)",
            "SYMBOLSTREAM_STORES_TIMEOUT=60",
        ]
        let arguments = environment + ["/bin/bash", script, command] + (node.map { ["\($0)"] } ?? []) + ["--profile", profile, "--redis-cluster"]
        return (try? ChildProcess.run("/usr/bin/env", arguments, output: .inherit)) ?? -1
    }

    /// `kill -9` of node `number`.
    package static func killNode(_ number: Int) async throws {
        guard await stores("kill-redis-node", node: number) == 0 else { throw TestClusterError("could not kill node \(number)") }
    }

    /// Starts node `number` again and waits until it sees the cluster whole.
    package static func startNode(_ number: Int) async throws {
        guard await stores("start-redis-node", node: number) == 0 else { throw TestClusterError("could not start node \(number)") }
    }

    /// How each node is talked to (no host or port: the client fills them in).
    package static func nodeConfiguration(commandTimeout: TimeAmount = .seconds(5), connectionCount: Int = 2) -> RedisConfiguration {
        RedisConfiguration(password: password, connectionCount: connectionCount, commandTimeout: commandTimeout)
    }

    package static func configuration(
        seeds: [RedisNodeAddress] = TestCluster.nodes,
        node: RedisConfiguration = TestCluster.nodeConfiguration(),
        refreshInterval: Duration = .seconds(5)
    ) -> RedisClusterConfiguration {
        RedisClusterConfiguration(seeds: seeds, node: node, refreshInterval: refreshInterval)
    }

    // MARK: - Talking to one node

    /// Runs `body` on a connection of its own to `address`.
    package static func withConnection<T>(to address: RedisNodeAddress, _ body: (RedisConnection) async throws -> T) async throws -> T {
        var configuration = nodeConfiguration()
        configuration.host = address.host
        configuration.port = address.port
        let connection = try await RedisConnection.connect(
            configuration: configuration, eventLoop: MultiThreadedEventLoopGroup.singleton.next(), logger: logger)
        do {
            let result = try await body(connection)
            await connection.close()
            return result
        } catch {
            await connection.close()
            throw error
        }
    }

    package static func send(_ command: RedisCommand, to address: RedisNodeAddress) async throws -> RESPValue {
        try await withConnection(to: address) { try await $0.send(command) }
    }

    package static func nodeID(of address: RedisNodeAddress) async throws -> String {
        guard let id = try await send(RedisCommand("CLUSTER", "MYID"), to: address).string else {
            throw TestClusterError("no CLUSTER MYID from \(address)")
        }
        return id
    }

    /// The primaries now (as `address` sees the cluster), each with a slot it serves.
    package static func primaries(seenFrom address: RedisNodeAddress = nodes[0]) async throws -> [(address: RedisNodeAddress, slot: UInt16)] {
        let reply = try await send(RedisCommand("CLUSTER", "SHARDS"), to: address)
        let map = try ClusterSlotMap(clusterShardsReply: reply, replyingNode: address)
        return map.shards.compactMap { shard in shard.slots.first.map { (shard.primary.address, $0.lowerBound) } }
    }

    // MARK: - Moving a slot by hand (as redis-cli --cluster reshard does)

    /// First half of a migration: `to` imports `slot`, `from` migrates it.
    /// Keys stay where they are until `migrateKeys`.
    package static func beginMigration(slot: UInt16, from: RedisNodeAddress, to: RedisNodeAddress) async throws {
        let fromID = try await nodeID(of: from)
        let toID = try await nodeID(of: to)
        try await expectOK(RedisCommand("CLUSTER", "SETSLOT", RedisArgument(Int(slot)), "IMPORTING", RedisArgument(fromID)), at: to)
        try await expectOK(RedisCommand("CLUSTER", "SETSLOT", RedisArgument(Int(slot)), "MIGRATING", RedisArgument(toID)), at: from)
    }

    /// Moves `keys` (or every key left in `slot`) from `from` to `to` with MIGRATE.
    package static func migrateKeys(slot: UInt16, from: RedisNodeAddress, to: RedisNodeAddress, keys: [String]? = nil) async throws {
        while true {
            let batch: [RedisArgument]
            if let keys {
                batch = keys.map { RedisArgument($0) }
            } else {
                let reply = try await send(RedisCommand("CLUSTER", "GETKEYSINSLOT", RedisArgument(Int(slot)), 100), to: from)
                batch = (reply.array ?? []).compactMap(\.bytes).map { RedisArgument(bytes: $0) }
            }
            if batch.isEmpty { return }
            let command = RedisCommand(
                arguments: ["MIGRATE", RedisArgument(to.host), RedisArgument(to.port), "", 0, 5000, "AUTH", RedisArgument(password), "KEYS"]
                    + batch)
            let reply = try await send(command, to: from)
            guard reply == .simpleString("OK") || reply == .simpleString("NOKEY") else {
                throw TestClusterError("MIGRATE replied \(reply)")
            }
            if keys != nil { return }
        }
    }

    /// Ends a migration: every key moved, `to` owns `slot` in every primary's view.
    package static func finishMigration(slot: UInt16, from: RedisNodeAddress, to: RedisNodeAddress) async throws {
        try await migrateKeys(slot: slot, from: from, to: to)
        let toID = try await nodeID(of: to)
        let setNode = RedisCommand("CLUSTER", "SETSLOT", RedisArgument(Int(slot)), "NODE", RedisArgument(toID))
        // The importer first, then the rest (the order redis-cli uses).
        try await expectOK(setNode, at: to)
        try await expectOK(setNode, at: from)
        for primary in try await primaries(seenFrom: to).map(\.address) where primary != to && primary != from {
            try await expectOK(setNode, at: primary)
        }
    }

    /// Moves `slot` and its keys from `from` to `to`.
    package static func moveSlot(_ slot: UInt16, from: RedisNodeAddress, to: RedisNodeAddress) async throws {
        try await beginMigration(slot: slot, from: from, to: to)
        try await finishMigration(slot: slot, from: from, to: to)
    }

    private static func expectOK(_ command: RedisCommand, at address: RedisNodeAddress) async throws {
        let reply = try await send(command, to: address)
        guard reply == .simpleString("OK") else { throw TestClusterError("\(command) at \(address) replied \(reply)") }
    }

    // MARK: - A lone server (a wrong seed)

    /// Runs `body` with a redis-server of its own on `port`: a plain one, or
    /// one in cluster mode that serves no slot (a cluster never created).
    package static func withLoneServer<T>(port: Int, clusterEnabled: Bool, _ body: (RedisNodeAddress) async throws -> T) async throws -> T {
        guard let executable = ChildProcess.executable("redis-server") else { throw TestClusterError("redis-server not found") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("symbolstream-lone-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var arguments = [
            "--port", "\(port)", "--bind", "127.0.0.1", "--dir", directory.path, "--save", "", "--appendonly", "no",
            "--requirepass", password,
        ]
        if clusterEnabled { arguments += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"] }
        let server = try ChildProcess.spawn(executable, arguments)
        let address = RedisNodeAddress(host: "127.0.0.1", port: port)
        let result: Result<T, any Error>
        do {
            // Until it answers.
            for _ in 0..<500 {
                if (try? await send(RedisCommand("PING"), to: address)) == .simpleString("PONG") { break }
                guard !server.hasExited else { throw TestClusterError("redis-server on port \(port) exited at start") }
                try await Task.sleep(for: .milliseconds(10))
            }
            result = .success(try await body(address))
        } catch {
            result = .failure(error)
        }
        server.send(SIGTERM)
        _ = await onThreadOfItsOwn { server.waitForExit() }
        try? FileManager.default.removeItem(at: directory)
        return try result.get()
    }
}

package struct TestClusterError: Error, CustomStringConvertible {
    package var description: String
    package init(_ description: String) { self.description = description }
}

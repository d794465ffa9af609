public import Logging
public import NIOCore
import NIOConcurrencyHelpers
import NIOPosix
import ServiceLifecycle

/// A Redis Cluster as one ``RedisTopology``: each command goes to the primary
/// that serves its slot, on a pool of connections to that primary.
///
/// `run()` reads the slot map (`CLUSTER SHARDS`) from the seeds, then keeps
/// one ``RedisClient`` pool per primary running as a child task (each with
/// the caller's `onConnect`, so e.g. the function library is loaded on every
/// primary), and keeps the map fresh: every
/// ``RedisClusterConfiguration/refreshInterval``, at once (coalesced and
/// rate-limited) on `MOVED`, `CLUSTERDOWN` or a lost connection, and every
/// ``RedisClusterConfiguration/degradedRefreshInterval`` while a slot has no
/// reachable primary, until a replica has taken over.
///
/// Redirects are followed: `MOVED` sends the command again to the new owner
/// (and re-reads the map), `ASK` sends `ASKING` and the command to the
/// importing node on one connection, `TRYAGAIN` waits a moment. Each means
/// the command did not run, so sending it again is safe.
///
/// While a slot's primary is unreachable (down, failing over), its commands
/// fail at once with ``RedisClientError/unavailable(_:)``, never waiting, so
/// that callers can answer "503" quickly; the other slots keep working.
package final class RedisClusterClient: RedisTopology, Sendable {
    package let configuration: RedisClusterConfiguration
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let onConnect: (@Sendable (RedisConnection) async throws -> Void)?
    /// Answers lane questions for every node's pool: an unstarted pool on the
    /// same loops with the same connection count lays its lanes out alike.
    private let lanes: RedisClient
    /// What requests read, swapped whole by the refresh loop.
    private let routingBox: NIOLockedValueBox<ClusterRouting>
    private let state: NIOLockedValueBox<State>
    let schedule = ClusterRefreshSchedule()

    private struct State {
        var isRunning = false
        /// Every pool started and not yet stopped, by address: the routing's,
        /// and during a change also those about to join or leave it.
        var pools: [RedisNodeAddress: ClusterNode] = [:]
        /// Hands new pools to `run()`, which runs each as a child task.
        var starter: AsyncStream<ClusterNode>.Continuation? = nil
        /// Why the last attempt got no map, while no map was had.
        var refreshProblem: String? = "not started"
        /// A problem that waiting will not fix (a seed not in cluster mode,
        /// refused credentials): ``waitUntilAvailable(timeout:)`` throws it at once.
        var configurationProblem: String? = nil
        /// Failed refresh attempts in a row, to log an outage once.
        var failedRefreshes = 0
    }

    /// - Parameter onConnect: Runs on every new pool connection of every
    ///   primary before it takes commands (e.g. `FUNCTION LOAD REPLACE`); as
    ///   ``RedisClient/init(configuration:eventLoopGroup:logger:onConnect:)``.
    package init(
        configuration: RedisClusterConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        onConnect: (@Sendable (RedisConnection) async throws -> Void)? = nil
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.onConnect = onConnect
        self.lanes = RedisClient(configuration: configuration.node, eventLoopGroup: eventLoopGroup, logger: logger)
        self.routingBox = NIOLockedValueBox(.empty("not connected yet"))
        self.state = NIOLockedValueBox(State())
    }

    // MARK: - Service

    /// Reads the map and keeps the pools of the primaries running until
    /// graceful shutdown or cancellation; then closes them (commands in
    /// flight finish) and fails every later command as unavailable.
    package func run() async throws {
        let (starts, starter) = AsyncStream.makeStream(of: ClusterNode.self)
        let alreadyRunning = self.state.withLockedValue { state in
            defer {
                state.isRunning = true
                state.starter = starter
            }
            return state.isRunning
        }
        precondition(!alreadyRunning, "RedisClusterClient.run() called while it is already running")
        self.schedule.open()

        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.refreshLoop() }
                // Ends when the task is cancelled; the group then waits for
                // the pools, which are cancelled with it.
                for await node in starts {
                    group.addTask { await node.run() }
                }
            }
        }

        self.routingBox.withLockedValue { $0 = .empty("client stopped") }
        self.state.withLockedValue { state in
            state.isRunning = false
            state.starter = nil
            state.pools = [:]
            state.refreshProblem = "client stopped"
        }
        starter.finish()
        self.schedule.close()
    }

    // MARK: - RedisTopology

    package var laneCount: Int { self.lanes.laneCount }
    package var currentLane: Int { self.lanes.currentLane }

    /// Sends `command` to the primary that serves `slot`, following redirects.
    ///
    /// - Throws: ``RedisClientError/unavailable(_:)`` at once when the slot
    ///   has no reachable primary, or on `CLUSTERDOWN`, or after
    ///   ``RedisClusterConfiguration/maximumRedirects`` redirects (in each
    ///   case the command did not run); otherwise as ``RedisClient/send(_:)``.
    @discardableResult
    package func send(_ command: RedisCommand, slot: UInt16) async throws -> RESPValue {
        var routing = self.routing
        var target = ClusterTarget.owner
        var redirects = 0
        var retriedAfterRemap = false
        while true {
            let node: ClusterNode
            if case .owner = target, let owner = routing.node(forSlot: slot) {
                node = owner  // the common case: a table read, no suspension
            } else {
                node = try await self.node(for: target, slot: slot, routing: routing)
            }
            do {
                if case .redirected(_, asking: true) = target {
                    return try await Self.sendAsking(command, on: node)
                }
                return try await node.client.send(command)
            } catch let error as RedisClientError {
                switch error {
                case .server(let message):
                    guard let redirect = ClusterRedirect(errorMessage: message, replyingNode: node.address) else { throw error }
                    redirects += 1
                    guard redirects <= self.configuration.maximumRedirects else {
                        throw RedisClientError.unavailable("Redis Cluster: slot \(slot) still redirected after \(redirects - 1) redirects (\(message))")
                    }
                    target = try await self.follow(redirect, slot: slot, message: message)
                    routing = self.routing
                case .unavailable(let reason):
                    // The pool has no live connection: the node is down, or
                    // was dropped from the map since we looked. The command
                    // was not sent; a newer map may have a new owner for it.
                    self.schedule.request()
                    let current = self.routing
                    if !retriedAfterRemap, current !== routing {
                        retriedAfterRemap = true
                        routing = current
                        target = .owner
                        continue
                    }
                    throw RedisClientError.unavailable("\(node.address) (slot \(slot)): \(reason)")
                case .connectionClosed, .timeout:
                    self.schedule.request()
                    throw error
                case .protocolError:
                    throw error
                }
            }
        }
    }

    /// Runs `body` with a connection of its own to the current primary of
    /// `slot`, closed afterwards (see ``RedisClient/withDedicatedConnection(isolation:_:)``).
    /// Redirects on it are the caller's to handle.
    package func withDedicatedConnection<T: Sendable>(slot: UInt16, _ body: (RedisConnection) async throws -> T) async throws -> T {
        let routing = self.routing
        guard let node = routing.node(forSlot: slot) else {
            throw RedisClientError.unavailable(self.unavailableReason(slot: slot, in: routing))
        }
        return try await node.client.withDedicatedConnection(body)
    }

    /// Whether every slot has an owner with a live connection right now.
    package var isAvailable: Bool {
        let routing = self.routing
        guard !routing.map.shards.isEmpty, routing.coversAllSlots else { return false }
        for (index, shard) in routing.map.shards.enumerated() where !shard.slots.isEmpty {
            guard let node = routing.nodes[index], node.client.isAvailable else { return false }
        }
        return true
    }

    /// Waits until every slot has a live primary (for command-line tools;
    /// servers answer 503 instead of waiting).
    ///
    /// - Throws: ``RedisClientError/unavailable(_:)`` naming the problem: at
    ///   once for a configuration no waiting fixes (a seed not in cluster
    ///   mode, refused credentials, a database other than 0), else after
    ///   `timeout` (no seed answers, slots served by no node, a primary
    ///   unreachable).
    package func waitUntilAvailable(timeout: Duration) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while !self.isAvailable {
            if let problem = self.configurationProblem {
                throw RedisClientError.unavailable(problem)
            }
            guard clock.now < deadline else {
                throw RedisClientError.unavailable("Redis Cluster not available within \(timeout): \(self.availabilityProblem)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    // MARK: - Inspection

    /// The slot map in use (for health reports and tests).
    package var slotMap: ClusterSlotMap { self.routing.map }

    package func server(ofSlot slot: UInt16) -> Int? { self.routing.map.shardIndex(forSlot: slot) }

    /// Why the cluster is not available right now, or nil when it is.
    package var unavailableReason: String? {
        self.isAvailable ? nil : self.availabilityProblem
    }

    // MARK: - Routing

    var routing: ClusterRouting { self.routingBox.withLockedValue { $0 } }

    /// Why `slot` has no pool to go to: with no map yet, what the last
    /// attempt to read one met (dead seeds, not a cluster), not just "not
    /// connected yet".
    func unavailableReason(slot: UInt16, in routing: ClusterRouting) -> String {
        routing.map.shards.isEmpty ? "Redis Cluster: \(self.availabilityProblem)" : routing.unavailableReason(slot: slot)
    }

    private var configurationProblem: String? {
        if self.configuration.seeds.isEmpty { return "Redis Cluster: no seed nodes configured" }
        if self.configuration.node.database != 0 {
            return "Redis Cluster has only database 0 (database \(self.configuration.node.database) configured)"
        }
        return self.state.withLockedValue { $0.configurationProblem }
    }

    private var availabilityProblem: String {
        if let problem = self.configurationProblem { return problem }
        let routing = self.routing
        if routing.map.shards.isEmpty {
            let problem = self.state.withLockedValue { $0.isRunning ? $0.refreshProblem : "client not running" }
            return problem ?? routing.emptyReason
        }
        let unassigned = routing.map.unassignedSlots
        if !unassigned.isEmpty {
            let ranges = unassigned.prefix(5).map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }
            return "the cluster has unassigned slots: \(ranges.joined(separator: ", "))\(unassigned.count > 5 ? ", …" : "") (\(unassigned.reduce(0) { $0 + $1.count }) slots served by no node)"
        }
        var down: [String] = []
        for (index, shard) in routing.map.shards.enumerated() where !shard.slots.isEmpty {
            if !(routing.nodes[index]?.client.isAvailable ?? false) {
                down.append("no live connection to primary \(shard)")
            }
        }
        return down.isEmpty ? "available" : down.joined(separator: "; ")
    }

    /// The pool a command goes to: its slot's owner in the newest routing
    /// (asking for a re-read when there is none), or the node a redirect named.
    private func node(for target: ClusterTarget, slot: UInt16, routing: ClusterRouting) async throws(RedisClientError) -> ClusterNode {
        switch target {
        case .owner:
            let latest = self.routing
            if let node = latest.node(forSlot: slot) { return node }
            // A slot without an owner: the map may be out of date.
            self.schedule.request()
            throw .unavailable(self.unavailableReason(slot: slot, in: latest))
        case .redirected(let address, _):
            if let node = await self.redirectTarget(address, routing: routing) { return node }
            throw .unavailable("Redis Cluster: slot \(slot) was redirected to \(address), but the client is not running")
        }
    }

    func pool(at address: RedisNodeAddress, routing: ClusterRouting) -> ClusterNode? {
        routing.node(at: address) ?? self.state.withLockedValue { $0.pools[address] }
    }

    /// The pool for a node a redirect named. One the map does not know yet
    /// (a replica just promoted, a node just added) gets a pool at once,
    /// rather than after a re-read, which could come from a node that has
    /// not heard of the change yet: the redirect itself says the node is a
    /// primary. The next map adopts that pool, or stops it if the node is
    /// no primary there. A pool still connecting (just started, here or by
    /// a new map) is waited for, up to the connect timeout. Nil once the
    /// client stopped.
    func redirectTarget(_ address: RedisNodeAddress, routing: ClusterRouting) async -> ClusterNode? {
        var node = self.pool(at: address, routing: routing)
        if node == nil {
            let started = self.state.withLockedValue { state -> (node: ClusterNode, isNew: Bool)? in
                if let node = state.pools[address] { return (node, false) }
                guard let starter = state.starter else { return nil }
                let node = self.makeNode(address)
                state.pools[address] = node
                starter.yield(node)
                return (node, true)
            }
            guard let started else { return nil }
            if started.isNew {
                self.logger.info("Redis Cluster: connecting to a primary named by a redirect", metadata: ["redis.node": "\(address)"])
            }
            node = started.node
        }
        guard let node else { return nil }
        if !node.client.isAvailable {
            await Self.waitForConnections(of: [node], timeout: self.configuration.node.connectTimeout)
        }
        return node
    }

    /// Where to send a command next after `redirect`.
    func follow(_ redirect: ClusterRedirect, slot: UInt16, message: String) async throws(RedisClientError) -> ClusterTarget {
        switch redirect {
        case .moved(_, let address):
            self.schedule.request()
            return .redirected(address, asking: false)
        case .ask(_, let address):
            return .redirected(address, asking: true)
        case .tryAgain:
            try? await Task.sleep(for: self.configuration.tryAgainDelay)
            return .owner
        case .clusterDown:
            self.schedule.request()
            throw .unavailable("Redis Cluster: slot \(slot): \(message)")
        }
    }

    static let asking = RedisCommand("ASKING")

    /// `ASKING` then `command`, adjacent on one connection: `ASKING` lets
    /// only the next command through to a slot being imported.
    private static func sendAsking(_ command: RedisCommand, on node: ClusterNode) async throws -> RESPValue {
        let replies = try await node.client.pipeline([Self.asking, command])
        guard replies.count == 2 else { throw RedisClientError.protocolError("ASKING pipeline got \(replies.count) replies") }
        for reply in replies {
            if case .error(let message) = reply { throw RedisClientError.server(message) }
        }
        return replies[1]
    }

    // MARK: - Refreshing the map

    private func refreshLoop() async {
        while !Task.isCancelled {
            await self.refreshOnce()
            // Rate limit: however many ask, at most one read per gap.
            try? await Task.sleep(for: self.configuration.minimumRefreshGap)
            let interval = self.isAvailable ? self.configuration.refreshInterval : self.configuration.degradedRefreshInterval
            await self.schedule.waitForRequest(timeout: max(.zero, interval - self.configuration.minimumRefreshGap))
        }
    }

    /// One attempt: asks the nodes in turn (primaries we are connected to,
    /// then the seeds, then the rest of the last map) until one describes the
    /// cluster, and installs that map.
    private func refreshOnce() async {
        self.schedule.readStarting()
        let routing = self.routing
        var failures: [String] = []
        var misconfigurations: [String] = []
        for address in self.refreshCandidates(routing) {
            if Task.isCancelled { return }
            do {
                let reply = try await self.clusterShards(at: address)
                let map = try ClusterSlotMap(clusterShardsReply: reply, replyingNode: address)
                await self.install(map, from: address)
                return
            } catch {
                let (text, isMisconfiguration) = Self.describe(refreshError: error, at: address)
                failures.append(text)
                if isMisconfiguration { misconfigurations.append(text) }
            }
        }
        let problem =
            failures.isEmpty ? "no node to ask for the slot map" : "no node described the cluster: \(failures.joined(separator: "; "))"
        let failed = self.state.withLockedValue { state -> Int in
            state.refreshProblem = problem
            // With no map ever had, a node that answers but is not fit
            // (not a cluster node, wrong password) is a configuration error.
            if routing.map.shards.isEmpty, !misconfigurations.isEmpty {
                state.configurationProblem = "Redis Cluster misconfigured: \(misconfigurations.joined(separator: "; "))"
            }
            state.failedRefreshes += 1
            return state.failedRefreshes
        }
        if failed == 1 {
            self.logger.warning("Redis Cluster map could not be read; retrying", metadata: ["error": "\(problem)"])
        } else {
            self.logger.debug("Redis Cluster map could not be read; retrying", metadata: ["error": "\(problem)"])
        }
    }

    private func refreshCandidates(_ routing: ClusterRouting) -> [RedisNodeAddress] {
        var candidates: [RedisNodeAddress] = []
        func add(_ address: RedisNodeAddress) {
            if !candidates.contains(address) { candidates.append(address) }
        }
        // Live primaries first: their view is the freshest and asking costs
        // no new connection.
        for case let node? in routing.nodes where node.client.isAvailable { add(node.address) }
        for seed in self.configuration.seeds { add(seed) }
        for address in routing.map.addresses { add(address) }
        return candidates
    }

    private static let clusterShardsCommand = RedisCommand("CLUSTER", "SHARDS")

    /// `CLUSTER SHARDS` at `address`: on the pool when it has a live
    /// connection, else on a connection of its own.
    private func clusterShards(at address: RedisNodeAddress) async throws -> RESPValue {
        if let node = self.pool(at: address, routing: self.routing), node.client.isAvailable {
            return try await node.client.send(Self.clusterShardsCommand)
        }
        let connection = try await RedisConnection.connect(
            configuration: self.configuration.node(at: address),
            eventLoop: self.eventLoopGroup.next(),
            logger: self.logger
        )
        do {
            let reply = try await connection.send(Self.clusterShardsCommand)
            await connection.close()
            return reply
        } catch {
            await connection.close()
            throw error
        }
    }

    static func describe(refreshError error: any Error, at address: RedisNodeAddress) -> (String, isMisconfiguration: Bool) {
        switch error {
        case RedisClientError.server(let message):
            if message.contains("cluster support disabled") {
                return ("\(address) is not in cluster mode (\(message))", true)
            }
            if message.hasPrefix("WRONGPASS") || message.hasPrefix("NOAUTH") || message.hasPrefix("NOPERM") {
                return ("\(address) refused the credentials (\(message))", true)
            }
            if message.lowercased().contains("unknown subcommand") {
                return ("\(address) does not know CLUSTER SHARDS: Redis 7.0 or newer is needed (\(message))", true)
            }
            return ("\(address): \(message)", false)
        case let error as ClusterMapError:
            return ("\(address): \(error)", false)
        case RedisClientError.unavailable(let reason):
            return ("\(address): \(reason)", false)
        default:
            return ("\(address): \(error)", false)
        }
    }

    /// Puts `map` in use: starts pools for its new primaries (and waits,
    /// briefly, for them to connect, so that a planned change costs no
    /// failed request), swaps the routing, then stops the pools of nodes
    /// that are no longer primaries.
    private func install(_ map: ClusterSlotMap, from source: RedisNodeAddress) async {
        // Pools for every primary that serves slots, whatever its health (it
        // may come back before a replica takes over), and for slotless ones
        // that are up (a node being added: `ASK` may send us there).
        let wanted: [RedisNodeAddress?] = map.shards.map { shard in
            shard.slots.isEmpty && shard.primary.health != .online ? nil : shard.primary.address
        }
        let started = self.state.withLockedValue { state -> [ClusterNode] in
            state.refreshProblem = nil
            state.configurationProblem = nil
            state.failedRefreshes = 0
            var started: [ClusterNode] = []
            for case let address? in wanted where state.pools[address] == nil {
                let node = self.makeNode(address)
                state.pools[address] = node
                state.starter?.yield(node)
                started.append(node)
            }
            return started
        }
        if !started.isEmpty {
            await Self.waitForConnections(of: started, timeout: self.configuration.node.connectTimeout)
        }

        let current = self.routing
        let nodes = self.state.withLockedValue { state in wanted.map { $0.flatMap { state.pools[$0] } } }
        if map == current.map, nodes.map({ $0.map(ObjectIdentifier.init) }) == current.nodes.map({ $0.map(ObjectIdentifier.init) }) {
            return
        }
        self.routingBox.withLockedValue { $0 = ClusterRouting(map: map, nodes: nodes) }

        let keep = Set(wanted.compactMap { $0 })
        let stopped = self.state.withLockedValue { state -> [ClusterNode] in
            let gone = state.pools.filter { !keep.contains($0.key) }
            for address in gone.keys { state.pools[address] = nil }
            return Array(gone.values)
        }
        for node in stopped { node.stop() }

        if !map.routesLike(current.map) {
            self.logger.info(
                "Redis Cluster map",
                metadata: ["source": "\(source)", "shards": "\(map)", "stopped_pools": "\(stopped.map(\.address))"]
            )
        }
    }

    private func makeNode(_ address: RedisNodeAddress) -> ClusterNode {
        var logger = self.logger
        logger[metadataKey: "redis.node"] = "\(address)"
        let client = RedisClient(
            configuration: self.configuration.node(at: address),
            eventLoopGroup: self.eventLoopGroup,
            logger: logger,
            onConnect: self.onConnect
        )
        return ClusterNode(address: address, client: client)
    }

    /// Until every pool has a live connection, or `timeout`.
    private static func waitForConnections(of nodes: [ClusterNode], timeout: TimeAmount) async {
        let deadline = ContinuousClock.now.advanced(by: .nanoseconds(timeout.nanoseconds))
        while !nodes.allSatisfy({ $0.client.isAvailable }), ContinuousClock.now < deadline, !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(2))
        }
    }
}

/// Where a command goes next.
enum ClusterTarget: Sendable, Hashable {
    /// The primary that serves its slot in the current map.
    case owner
    /// The node a redirect named; with `ASKING` first for `ASK`.
    case redirected(RedisNodeAddress, asking: Bool)
}

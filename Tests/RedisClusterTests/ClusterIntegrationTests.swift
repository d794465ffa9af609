import ClusterTestSupport
import Foundation
import Logging
import NIOConcurrencyHelpers
import RedisClient
import Testing

/// Runs the client's `run()` for the duration of `body`, then cancels it and
/// waits for it to finish.
func withRunning<T>(_ client: RedisClusterClient, _ body: () async throws -> T) async throws -> T {
    let service = Task { try await client.run() }
    do {
        let result = try await body()
        service.cancel()
        try await service.value
        return result
    } catch {
        service.cancel()
        _ = try? await service.value
        throw error
    }
}

/// The error `body` throws, as a `RedisClientError`.
func clusterError<T>(sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T) async -> RedisClientError? {
    do {
        let value = try await body()
        Issue.record("expected a RedisClientError, got \(value)", sourceLocation: sourceLocation)
        return nil
    } catch let error as RedisClientError {
        return error
    } catch {
        Issue.record("expected a RedisClientError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

extension RedisClientError {
    var unavailableReason: String? {
        if case .unavailable(let reason) = self { reason } else { nil }
    }
}

func bulk(_ text: String) -> RESPValue { .bulkString(Array(text.utf8)) }

/// A key (with a hash tag) whose slot `owner` serves in `map`, or another node when `notOwner`.
func keyServed(_ base: String, servedBy owner: RedisNodeAddress, in map: ClusterSlotMap, tagPrefix: String = "") -> (String, UInt16) {
    for index in 0..<100_000 {
        let key = "\(base):{\(tagPrefix)\(index)}"
        let slot = HashSlot.of(key: key)
        if map.primary(forSlot: slot)?.address == owner { return (key, slot) }
    }
    fatalError("no key found for \(owner)")
}

/// Every test here shares one cluster and some break it on purpose (kill a
/// primary, move slots): they run one at a time, and leave it whole.
@Suite("RedisClusterClient against a real cluster", .serialized, .enabled(if: TestCluster.isAvailable))
struct ClusterIntegrationTests {
    init() async throws {
        try await TestCluster.start()
    }

    /// A client whose map changes only when something asks (a long periodic
    /// refresh), so that tests see what MOVED and failures do.
    func makeClient(
        seeds: [RedisNodeAddress] = TestCluster.nodes,
        node: RedisConfiguration = TestCluster.nodeConfiguration(),
        refreshInterval: Duration = .seconds(600),
        onConnect: (@Sendable (RedisConnection) async throws -> Void)? = nil
    ) -> RedisClusterClient {
        RedisClusterClient(
            configuration: TestCluster.configuration(seeds: seeds, node: node, refreshInterval: refreshInterval),
            logger: TestCluster.logger, onConnect: onConnect)
    }

    // MARK: - Routing

    @Test(.timeLimit(.minutes(5)))
    func keysOfManySlotsLandOnTheirOwners() async throws {
        let client = makeClient()
        try await withRunning(client) {
            try await client.waitUntilAvailable(timeout: .seconds(20))
            #expect(client.isAvailable)
            #expect(client.unavailableReason == nil)
            let map = client.slotMap
            #expect(map.shards.filter { !$0.slots.isEmpty }.count == 3)
            #expect(map.unassignedSlots.isEmpty)

            let prefix = "route:\(UUID().uuidString)"
            let keys = (0..<3000).map { "\(prefix):\($0)" }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, key) in keys.enumerated() {
                    group.addTask {
                        let reply = try await client.send(RedisCommand("SET", RedisArgument(key), RedisArgument(index)), slot: HashSlot.of(key: key))
                        #expect(reply == .simpleString("OK"))
                    }
                }
                try await group.waitForAll()
            }

            // Each primary holds exactly the keys of its slots: asked
            // directly, it answers every one of them (no MOVED).
            var perPrimary: [RedisNodeAddress: [(String, Int)]] = [:]
            for (index, key) in keys.enumerated() {
                perPrimary[map.primary(forSlot: HashSlot.of(key: key))!.address, default: []].append((key, index))
            }
            #expect(perPrimary.count == 3)
            for (primary, owned) in perPrimary {
                let replies = try await TestCluster.withConnection(to: primary) { connection in
                    try await connection.pipeline(owned.map { RedisCommand("GET", RedisArgument($0.0)) })
                }
                #expect(replies == owned.map { bulk("\($0.1)") }, "keys at \(primary)")
            }

            // A whole-server command, once per primary (a slot of each).
            var counted = 0
            for slot in map.shards.compactMap({ $0.slots.first?.lowerBound }) {
                let found = try await client.send(RedisCommand("KEYS", RedisArgument("\(prefix):*")), slot: slot).array?.count ?? 0
                counted += found
            }
            #expect(counted == keys.count)

            // pipelines: a request per key, across every slot, one result each, in order.
            let results = await client.pipelines(keys.map { SlotCommands(slot: HashSlot.of(key: $0), commands: [RedisCommand("GET", RedisArgument($0))]) })
            #expect(results.count == keys.count)
            for (index, result) in results.enumerated() {
                #expect((try? result.get()) == [bulk("\(index)")])
            }
            // Several commands per request, an empty request, an error reply in place.
            let (a, slotA) = (keys[0], HashSlot.of(key: keys[0]))
            let mixed = await client.pipelines([
                SlotCommands(slot: slotA, commands: [RedisCommand("APPEND", RedisArgument(a), "x"), RedisCommand("GET", RedisArgument(a))]),
                SlotCommands(slot: 0, commands: []),
                SlotCommands(slot: slotA, commands: [RedisCommand("HGET", RedisArgument(a), "f")]),
            ])
            #expect((try? mixed[0].get()) == [.integer(2), bulk("0x")])
            #expect((try? mixed[1].get()) == [])
            #expect((try? mixed[2].get()).map { if case .error(let m) = $0[0] { m.hasPrefix("WRONGTYPE") } else { false } } == true)

            // Server errors still throw from send.
            let wrongType = await clusterError { try await client.send(RedisCommand("HGET", RedisArgument(a), "f"), slot: slotA) }
            #expect(wrongType.map { if case .server(let m) = $0 { m.hasPrefix("WRONGTYPE") } else { false } } == true)

            _ = await client.pipelines(keys.map { SlotCommands(slot: HashSlot.of(key: $0), commands: [RedisCommand("DEL", RedisArgument($0))]) })
        }
        // Stopped: fails fast.
        #expect(!client.isAvailable)
        #expect(await clusterError { try await client.send(RedisCommand("PING"), slot: 0) }?.unavailableReason != nil)
    }

    @Test(.timeLimit(.minutes(5)))
    func onConnectRunsOnEveryPrimaryAndDedicatedConnectionsGoToTheOwner() async throws {
        let library = "#!lua name=clustertest\nredis.register_function('ct_echo', function(keys, args) return args[1] end)"
        let connects = NIOLockedValueBox<[Int]>([])
        let client = makeClient { connection in
            _ = try await connection.send(RedisCommand("FUNCTION", "LOAD", "REPLACE", RedisArgument(library)))
            let port = try await connection.send(RedisCommand("CONFIG", "GET", "port")).array?.last?.int ?? -1
            connects.withLockedValue { $0.append(Int(port)) }
        }
        try await withRunning(client) {
            try await client.waitUntilAvailable(timeout: .seconds(20))
            let primaries = client.slotMap.shards.filter { !$0.slots.isEmpty }
            // Two connections per primary, each prepared by onConnect (the
            // client is available once each primary has one).
            let expected = primaries.flatMap { [$0.primary.address.port, $0.primary.address.port] }.sorted()
            try await waitUntil("every pool connection is prepared") { connects.withLockedValue { $0.count } >= expected.count }
            #expect(connects.withLockedValue { $0.sorted() } == expected)
            for shard in primaries {
                let slot = shard.slots[0].lowerBound
                #expect(try await client.send(RedisCommand("FCALL", "ct_echo", 0, "hi"), slot: slot) == bulk("hi"))
                let port = try await client.withDedicatedConnection(slot: slot) { connection in
                    try await connection.send(RedisCommand("CONFIG", "GET", "port")).array?.last?.int
                }
                #expect(port.map(Int.init) == shard.primary.address.port)
            }
            #expect(client.laneCount >= 1)
            #expect((0..<client.laneCount).contains(client.currentLane))
        }
    }

    // MARK: - Redirects

    @Test(.timeLimit(.minutes(5)))
    func followsMovedAfterASlotIsMigrated() async throws {
        let client = makeClient()
        try await withRunning(client) {
            try await client.waitUntilAvailable(timeout: .seconds(20))
            let map = client.slotMap
            let owners = map.shards.filter { !$0.slots.isEmpty }.map(\.primary.address)
            let (source, target) = (owners[0], owners[1])
            let (key, slot) = keyServed("moved", servedBy: source, in: map, tagPrefix: UUID().uuidString)
            #expect(try await client.send(RedisCommand("SET", RedisArgument(key), "v"), slot: slot) == .simpleString("OK"))

            try await TestCluster.moveSlot(slot, from: source, to: target)
            // The client's map still names the source, which answers MOVED:
            // the command goes to the target, and the map is read again.
            #expect(client.slotMap.primary(forSlot: slot)?.address == source)
            #expect(try await client.send(RedisCommand("GET", RedisArgument(key)), slot: slot) == bulk("v"))
            try await waitUntil("the map names the new owner") { client.slotMap.primary(forSlot: slot)?.address == target }

            // Back again, seen this time by pipelines: the request is re-sent in place.
            try await TestCluster.moveSlot(slot, from: target, to: source)
            let (other, otherSlot) = keyServed("moved-other", servedBy: owners[2], in: map, tagPrefix: UUID().uuidString)
            let results = await client.pipelines([
                SlotCommands(slot: otherSlot, commands: [RedisCommand("SET", RedisArgument(other), "w")]),
                SlotCommands(slot: slot, commands: [RedisCommand("GET", RedisArgument(key)), RedisCommand("STRLEN", RedisArgument(key))]),
                SlotCommands(slot: otherSlot, commands: [RedisCommand("GET", RedisArgument(other))]),
            ])
            #expect((try? results[0].get()) == [.simpleString("OK")])
            #expect((try? results[1].get()) == [bulk("v"), .integer(1)])
            #expect((try? results[2].get()) == [bulk("w")])
            try await waitUntil("the map names the old owner again") { client.slotMap.primary(forSlot: slot)?.address == source }

            // And a lone request, which pipelines sends without bookkeeping
            // until a redirect comes back.
            try await TestCluster.moveSlot(slot, from: source, to: target)
            let lone = await client.pipelines([SlotCommands(slot: slot, commands: [RedisCommand("GET", RedisArgument(key))])])
            #expect((try? lone[0].get()) == [bulk("v")])
            try await TestCluster.moveSlot(slot, from: target, to: source)
            _ = await client.pipelines([
                SlotCommands(slot: slot, commands: [RedisCommand("DEL", RedisArgument(key))]),
                SlotCommands(slot: otherSlot, commands: [RedisCommand("DEL", RedisArgument(other))]),
            ])
        }
    }

    @Test(.timeLimit(.minutes(5)))
    func followsAskDuringAMigrationWithoutChangingTheMap() async throws {
        let client = makeClient()
        try await withRunning(client) {
            try await client.waitUntilAvailable(timeout: .seconds(20))
            let map = client.slotMap
            let owners = map.shards.filter { !$0.slots.isEmpty }.map(\.primary.address)
            let (source, target) = (owners[1], owners[2])
            let (base, slot) = keyServed("ask", servedBy: source, in: map, tagPrefix: UUID().uuidString)
            let (moved, stays, created) = ("\(base):moved", "\(base):stays", "\(base):created")
            for key in [moved, stays] {
                _ = try await client.send(RedisCommand("SET", RedisArgument(key), RedisArgument(key)), slot: slot)
            }

            try await TestCluster.beginMigration(slot: slot, from: source, to: target)
            try await TestCluster.migrateKeys(slot: slot, from: source, to: target, keys: [moved])
            // A key already moved: ASK to the target, ASKING + GET there.
            #expect(try await client.send(RedisCommand("GET", RedisArgument(moved)), slot: slot) == bulk(moved))
            // A key not moved yet: the source answers.
            #expect(try await client.send(RedisCommand("GET", RedisArgument(stays)), slot: slot) == bulk(stays))
            // A new key goes to the target.
            #expect(try await client.send(RedisCommand("SET", RedisArgument(created), "c"), slot: slot) == .simpleString("OK"))
            let atTarget = try await TestCluster.withConnection(to: target) { connection in
                try await connection.pipeline([RedisCommand("ASKING"), RedisCommand("GET", RedisArgument(created))])
            }
            #expect(atTarget.last == bulk("c"))
            // pipelines: the ASKed commands of one request re-sent, the others kept.
            let results = await client.pipelines([
                SlotCommands(
                    slot: slot,
                    commands: [
                        RedisCommand("GET", RedisArgument(stays)), RedisCommand("GET", RedisArgument(moved)), RedisCommand("GET", RedisArgument(created)),
                    ])
            ])
            #expect((try? results[0].get()) == [bulk(stays), bulk(moved), bulk("c")])
            // A multi-key command across the split gets TRYAGAIN until the
            // migration ends; the client gives up as unavailable, not hanging.
            let split = await clusterError {
                try await client.send(RedisCommand("MGET", RedisArgument(moved), RedisArgument(stays)), slot: slot)
            }
            #expect(split?.unavailableReason?.contains("TRYAGAIN") == true)
            // ASK never changes the map.
            #expect(client.slotMap.primary(forSlot: slot)?.address == source)

            try await TestCluster.finishMigration(slot: slot, from: source, to: target)
            #expect(try await client.send(RedisCommand("MGET", RedisArgument(moved), RedisArgument(stays)), slot: slot) == .array([bulk(moved), bulk(stays)]))
            try await waitUntil("the map names the target") { client.slotMap.primary(forSlot: slot)?.address == target }
            try await TestCluster.moveSlot(slot, from: target, to: source)
            _ = try await client.send(RedisCommand("DEL", RedisArgument(moved), RedisArgument(stays), RedisArgument(created)), slot: slot)
        }
    }

    // MARK: - Failover

    @Test(.timeLimit(.minutes(3)))
    func aKilledPrimaryFailsItsSlotsFastUntilItsReplicaTakesOver() async throws {
        let client = makeClient(node: TestCluster.nodeConfiguration(commandTimeout: .seconds(5)))
        try await withRunning(client) {
            try await client.waitUntilAvailable(timeout: .seconds(20))
            let map = client.slotMap
            let owners = map.shards.filter { !$0.slots.isEmpty }.map(\.primary.address)
            let victim = owners[0]
            let victimNumber = try #require(TestCluster.nodeNumber(of: victim))
            let (key, slot) = keyServed("failover", servedBy: victim, in: map, tagPrefix: UUID().uuidString)
            let (otherKey, otherSlot) = keyServed("failover-other", servedBy: owners[1], in: map, tagPrefix: UUID().uuidString)
            // Acknowledged by a replica too (WAIT on the same connection), so the takeover keeps it.
            let written = await client.pipelines([
                SlotCommands(slot: slot, commands: [RedisCommand("SET", RedisArgument(key), "before"), RedisCommand("WAIT", 1, 2000)])
            ])
            #expect((try? written[0].get()) == [.simpleString("OK"), .integer(1)])
            _ = try await client.send(RedisCommand("SET", RedisArgument(otherKey), "other"), slot: otherSlot)

            let clock = ContinuousClock()
            let killed = clock.now
            try await TestCluster.killNode(victimNumber)
            var failures = 0
            var slowestFailure = Duration.zero
            var otherFailures = 0
            var errors: Set<String> = []
            // Load meanwhile: pipelines of 16 writes over every slot from 4
            // tasks. Only the victim's slots may fail, and only fast.
            let stop = NIOLockedValueBox(false)
            let load = NIOLockedValueBox((done: 0, victimFailed: 0, otherFailed: [String]()))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<4 {
                    group.addTask {
                        var round = 0
                        while !stop.withLockedValue({ $0 }) {
                            let keys = (0..<16).map { "load:{\(task)-\(round)-\($0)}" }
                            let results = await client.pipelines(
                                keys.map { SlotCommands(slot: HashSlot.of(key: $0), commands: [RedisCommand("SET", RedisArgument($0), "x", "EX", 60)]) })
                            load.withLockedValue { load in
                                for (key, result) in zip(keys, results) {
                                    let onVictim = map.primary(forSlot: HashSlot.of(key: key))?.address == victim
                                    switch result {
                                    case .success: load.done += 1
                                    case .failure(.unavailable) where onVictim, .failure(.connectionClosed) where onVictim:
                                        load.victimFailed += 1
                                    case .failure(let error): load.otherFailed.append("\(key): \(error)")
                                    }
                                }
                            }
                            round += 1
                            // A pause, so as not to starve the tests that run
                            // beside this one (failing fast, it would spin).
                            try? await Task.sleep(for: .milliseconds(5))
                        }
                    }
                }
                while clock.now - killed < .seconds(90) {
                    let start = clock.now
                    do {
                        let value = try await client.send(RedisCommand("GET", RedisArgument(key)), slot: slot)
                        #expect(value == bulk("before"))
                        break
                    } catch let error as RedisClientError {
                        failures += 1
                        slowestFailure = max(slowestFailure, clock.now - start)
                        switch error {
                        case .unavailable: errors.insert("unavailable")
                        case .connectionClosed: errors.insert("connectionClosed")  // in flight at the kill
                        default: Issue.record("unexpected error while the primary is down: \(error)")
                        }
                    }
                    // The other primaries' slots keep working meanwhile.
                    do {
                        _ = try await client.send(RedisCommand("GET", RedisArgument(otherKey)), slot: otherSlot)
                    } catch {
                        otherFailures += 1
                    }
                    try await Task.sleep(for: .milliseconds(10))
                }
                stop.withLockedValue { $0 = true }
                try await group.waitForAll()
            }
            let loaded = load.withLockedValue { $0 }
            print("failover load: \(loaded.done) writes done, \(loaded.victimFailed) failed on the victim's slots, \(loaded.otherFailed.count) elsewhere")
            #expect(loaded.otherFailed.isEmpty, "\(loaded.otherFailed.prefix(5))")
            let recovered = clock.now - killed
            let newOwner = client.slotMap.primary(forSlot: slot)?.address
            print(
                """
                failover: killed primary \(victim) (node \(victimNumber)); its slots failed fast \(failures) times \
                (slowest failure \(slowestFailure), errors \(errors.sorted())) and served again after \(recovered), \
                by \(newOwner.map(\.description) ?? "?"); other slots failed \(otherFailures) times meanwhile
                """)
            #expect(newOwner != nil && newOwner != victim)
            #expect(failures > 0)
            // Failing fast: never by waiting for the command timeout.
            #expect(slowestFailure < .seconds(5))
            #expect(otherFailures == 0)
            #expect(client.isAvailable)

            // The old primary comes back as a replica; nothing changes for the client.
            try await TestCluster.startNode(victimNumber)
            try await client.waitUntilAvailable(timeout: .seconds(20))
            #expect(try await client.send(RedisCommand("DEL", RedisArgument(key)), slot: slot) == .integer(1))
            _ = try await client.send(RedisCommand("DEL", RedisArgument(otherKey)), slot: otherSlot)
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func aPlannedFailoverCostsNoRequest() async throws {
        let client = makeClient(node: TestCluster.nodeConfiguration(commandTimeout: .seconds(5)))
        try await withRunning(client) {
            try await client.waitUntilAvailable(timeout: .seconds(20))
            let map = client.slotMap
            let shard = try #require(map.shards.first { !$0.slots.isEmpty && !$0.replicas.isEmpty })
            let (primary, replica) = (shard.primary.address, shard.replicas[0].address)
            let (counter, slot) = keyServed("planned", servedBy: primary, in: map, tagPrefix: UUID().uuidString)

            // INCR from 4 tasks while the replica takes over (CLUSTER
            // FAILOVER: the primary holds writes, hands over, then answers
            // MOVED to a node the client has no pool for yet).
            let stop = NIOLockedValueBox(false)
            let tallies = NIOLockedValueBox((done: 0, failed: [String]()))
            let clock = ContinuousClock()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        while !stop.withLockedValue({ $0 }) {
                            do {
                                _ = try await client.send(RedisCommand("INCR", RedisArgument(counter)), slot: slot)
                                tallies.withLockedValue { $0.done += 1 }
                            } catch {
                                tallies.withLockedValue { $0.failed.append("\(error)") }
                            }
                            try? await Task.sleep(for: .milliseconds(2))
                        }
                    }
                }
                group.addTask {
                    defer { stop.withLockedValue { $0 = true } }
                    try await Task.sleep(for: .milliseconds(200))
                    // A replica that rejoined a moment ago (the kill test's
                    // victim) may not be its primary's replica in the
                    // primary's view yet: the manual failover then times
                    // out (5 s) and is asked again.
                    for attempt in 1...3 {
                        let asked = clock.now
                        #expect(try await TestCluster.send(RedisCommand("CLUSTER", "FAILOVER"), to: replica) == .simpleString("OK"))
                        while client.slotMap.primary(forSlot: slot)?.address != replica, clock.now - asked < .seconds(7) {
                            try await Task.sleep(for: .milliseconds(10))
                        }
                        if client.slotMap.primary(forSlot: slot)?.address == replica {
                            print("planned failover: \(primary) to \(replica), map followed \(clock.now - asked) after the request (attempt \(attempt))")
                            break
                        }
                    }
                    #expect(client.slotMap.primary(forSlot: slot)?.address == replica, "the manual failover did not happen")
                    try await Task.sleep(for: .milliseconds(200))
                }
                try await group.waitForAll()
            }
            let (done, failed) = tallies.withLockedValue { $0 }
            #expect(failed.isEmpty, "\(failed.prefix(5))")
            // Every INCR ran exactly once: a redirected one had not run.
            #expect(try await client.send(RedisCommand("GET", RedisArgument(counter)), slot: slot).int == Int64(done))
            _ = try await client.send(RedisCommand("DEL", RedisArgument(counter)), slot: slot)
            // The old primary's pool is gone from the routing.
            #expect(client.slotMap.shards.contains { $0.primary.address == replica })
        }
    }

    // MARK: - Bad configuration

    @Test(.timeLimit(.minutes(5)))
    func wrongSeedsSayNothingAnswers() async throws {
        let seeds = [RedisNodeAddress(host: "127.0.0.1", port: 7180), RedisNodeAddress(host: "127.0.0.1", port: 7181)]
        let client = makeClient(seeds: seeds)
        try await withRunning(client) {
            let error = await clusterError { try await client.waitUntilAvailable(timeout: .seconds(1)) }
            let reason = try #require(error?.unavailableReason)
            #expect(reason.contains("no node described the cluster"), "\(reason)")
            #expect(reason.contains("127.0.0.1:7180") && reason.contains("127.0.0.1:7181"), "\(reason)")
            // Commands fail at once meanwhile, saying why (what /health shows).
            let commandReason = await clusterError { try await client.send(RedisCommand("PING"), slot: 1) }?.unavailableReason
            #expect(commandReason?.contains("no node described the cluster: 127.0.0.1:718") == true, "\(commandReason ?? "no error")")
            #expect(await client.pipelines([SlotCommands(slot: 1, commands: [RedisCommand("PING")])]).count == 1)
        }
    }

    @Test(.timeLimit(.minutes(5)))
    func aSeedNotInClusterModeIsAConfigurationError() async throws {
        try await TestCluster.withLoneServer(port: 7190, clusterEnabled: false) { seed in
            let client = makeClient(seeds: [seed])
            try await withRunning(client) {
                // At once, not after the timeout: waiting would not help.
                let error = await clusterError { try await client.waitUntilAvailable(timeout: .seconds(600)) }
                let reason = try #require(error?.unavailableReason)
                #expect(reason.contains("127.0.0.1:7190 is not in cluster mode"), "\(reason)")
            }
        }
    }

    @Test(.timeLimit(.minutes(5)))
    func aClusterWithUnassignedSlotsIsNamed() async throws {
        try await TestCluster.withLoneServer(port: 7191, clusterEnabled: true) { seed in
            let client = makeClient(seeds: [seed])
            try await withRunning(client) {
                let error = await clusterError { try await client.waitUntilAvailable(timeout: .seconds(1)) }
                let reason = try #require(error?.unavailableReason)
                #expect(reason.contains("unassigned slots: 0-16383"), "\(reason)")
                let sent = await clusterError { try await client.send(RedisCommand("PING"), slot: 5) }
                #expect(sent?.unavailableReason?.contains("slot 5 is served by no node") == true)
            }
        }
    }

    @Test(.timeLimit(.minutes(5)))
    func wrongCredentialsAreAConfigurationError() async throws {
        var node = TestCluster.nodeConfiguration()
        node.password = "wrong"
        let client = makeClient(node: node)
        try await withRunning(client) {
            let error = await clusterError { try await client.waitUntilAvailable(timeout: .seconds(600)) }
            let reason = try #require(error?.unavailableReason)
            #expect(reason.contains("refused the credentials"), "\(reason)")
        }
    }
}

/// Polls `condition` for up to 10 s.
func waitUntil(_ what: String, _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(10)
    while !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("timed out waiting until \(what)")
            return
        }
        try await Task.sleep(for: .milliseconds(10))
    }
}

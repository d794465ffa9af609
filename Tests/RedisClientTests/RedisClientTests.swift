import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RedisClient
import Testing
import TestSupport

/// No test here asserts how long anything took: timeouts and the reconnect
/// backoff are timed on clocks the tests drive (a `ManualClock` here, the
/// event loop's in `RedisCommandHandlerTests`), and the time limit only
/// guards against a hang.
@Suite("RedisClient pool against a real server", .enabled(if: TestRedis.isAvailable), .timeLimit(.minutes(5)))
struct RedisClientTests {
    @Test func sendsThroughThePool() async throws {
        try await TestRedis.withConfiguration { configuration in
            let connects = NIOLockedValueBox(0)
            let client = RedisClient(configuration: configuration, logger: TestRedis.logger) { connection in
                // The hook gets a working connection before the pool hands it out.
                let pong = try await connection.send(RedisCommand("PING"))
                #expect(pong == .simpleString("PONG"))
                connects.withLockedValue { $0 += 1 }
            }
            #expect(!client.isAvailable)
            #expect(await redisError { try await client.send(RedisCommand("PING")) }?.isUnavailable == true)

            try await TestRedis.withRunningClient(client) {
                try await client.waitUntilConnected()
                #expect(client.isAvailable)
                let counter = RedisArgument(TestRedis.key("pool-counter"))
                let values = try await withThrowingTaskGroup(of: Int64.self) { group in
                    for _ in 0..<2000 {
                        group.addTask { try await client.send(RedisCommand("INCR", counter)).int ?? -1 }
                    }
                    return try await group.reduce(into: Set<Int64>()) { $0.insert($1) }
                }
                #expect(values == Set(1...2000))

                let replies = try await client.pipeline([
                    RedisCommand("SET", counter, "x"), RedisCommand("APPEND", counter, "yz"), RedisCommand("GET", counter),
                    RedisCommand("DEL", counter),
                ])
                #expect(replies == [.simpleString("OK"), .integer(3), .bulkString(Array("xyz".utf8)), .integer(1)])
                let error = await redisError { try await client.send(RedisCommand("HGET", "only-one-argument")) }
                #expect(error.map { if case .server(let message) = $0 { message.hasPrefix("ERR wrong number") } else { false } } == true)
            }
            #expect(connects.withLockedValue { $0 } == configuration.connectionCount)
            // Stopped: fails fast again.
            #expect(!client.isAvailable)
            #expect(await redisError { try await client.send(RedisCommand("PING")) }?.isUnavailable == true)
        }
    }

    @Test(.enabled(if: RedisTestServer.isAvailable))
    func authenticatesWithPassword() async throws {
        try await RedisTestServer.with(password: "s3cret pass") { server in
            let loop = MultiThreadedEventLoopGroup.singleton.next()
            var configuration = TestRedis.configuration(for: server)
            let connection = try await RedisConnection.connect(configuration: configuration, eventLoop: loop, logger: TestRedis.logger)
            #expect(try await connection.send(RedisCommand("ACL", "WHOAMI")) == .bulkString(Array("default".utf8)))
            await connection.close()

            configuration.username = "default"
            let withUser = try await RedisConnection.connect(configuration: configuration, eventLoop: loop, logger: TestRedis.logger)
            #expect(try await withUser.send(RedisCommand("PING")) == .simpleString("PONG"))
            await withUser.close()

            configuration.password = "wrong"
            let wrong = await redisError {
                try await RedisConnection.connect(configuration: configuration, eventLoop: loop, logger: TestRedis.logger)
            }
            #expect(wrong.map { if case .server(let message) = $0 { message.hasPrefix("WRONGPASS") } else { false } } == true)

            configuration.username = nil
            configuration.password = nil
            let missing = await redisError {
                try await RedisConnection.connect(configuration: configuration, eventLoop: loop, logger: TestRedis.logger)
            }
            #expect(missing.map { if case .server(let message) = $0 { message.hasPrefix("NOAUTH") } else { false } } == true)

            // The pool keeps retrying a refused handshake and stays unavailable meanwhile.
            let client = RedisClient(configuration: configuration, logger: TestRedis.logger)
            try await TestRedis.withRunningClient(client) {
                // Until the first refused handshake is the reason given (under load it can take a while).
                while true {
                    #expect(!client.isAvailable)
                    let error = await redisError { try await client.send(RedisCommand("PING")) }
                    guard case .unavailable(let reason) = try #require(error) else {
                        Issue.record("expected unavailable, got \(String(describing: error))")
                        return
                    }
                    if reason.contains("NOAUTH") { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
        }
    }

    @Test func unavailableFastWhenNothingListens() async throws {
        let configuration = RedisConfiguration(port: try RedisTestServer.freePort())
        let connectError = await redisError {
            try await RedisConnection.connect(
                configuration: configuration,
                eventLoop: MultiThreadedEventLoopGroup.singleton.next(),
                logger: TestRedis.logger
            )
        }
        #expect(connectError?.isUnavailable == true)
        // Refused, not timed out: the error names the refusal, so no timeout was waited for.
        #expect(connectError.map { "\($0)".lowercased().contains("refused") } == true)

        // Every slot failed once and waits to retry on a clock that does not move:
        // commands fail at once, as `unavailable`, not `timeout` (no reply was waited for).
        let clock = ManualClock()
        let client = RedisClient(configuration: configuration, logger: TestRedis.logger, clock: clock)
        try await TestRedis.withRunningClient(client) {
            await clock.waitForSleepers(configuration.connectionCount)
            let sendError = await redisError { try await client.send(RedisCommand("PING")) }
            #expect(sendError?.isUnavailable == true)
            let pipelineError = await redisError { try await client.pipeline([RedisCommand("PING")]) }
            #expect(pipelineError?.isUnavailable == true)
            let waitError = await redisError { try await client.waitUntilAvailable(timeout: .milliseconds(100)) }
            #expect(waitError?.isUnavailable == true)
        }
    }

    @Test(.enabled(if: RedisTestServer.isAvailable))
    func reconnectsAfterRestart() async throws {
        try await RedisTestServer.with { server in
            let connects = NIOLockedValueBox(0)
            let clock = ManualClock()
            let client = RedisClient(configuration: TestRedis.configuration(for: server), logger: TestRedis.logger, clock: clock) { _ in
                connects.withLockedValue { $0 += 1 }
            }
            try await TestRedis.withRunningClient(client) {
                try await Self.waitUntil(advancing: clock) { client.liveConnectionCount == 2 }
                #expect(try await client.send(RedisCommand("PING")) == .simpleString("PONG"))
                let sleepsBefore = clock.sleeps.count

                await server.stop()
                try await Self.waitUntil { !client.isAvailable }
                let downError = await redisError { try await client.send(RedisCommand("PING")) }
                // `unavailable` rather than `timeout` shows it did not wait for a reply.
                #expect(downError?.isUnavailable == true)

                // Down long enough for both slots' backoff to reach its cap.
                for _ in 0..<5 {
                    await clock.waitForSleepers(2)
                    clock.advance(by: .milliseconds(500))
                }
                await clock.waitForSleepers(2)
                #expect(
                    clock.sleeps.dropFirst(sleepsBefore).sorted()
                        == [50, 50, 100, 100, 200, 200, 400, 400, 500, 500, 500, 500].map { .milliseconds($0) })
                let connectsBefore = connects.withLockedValue { $0 }
                try await server.restart()
                // One capped backoff (500 ms of the clock) after the restart, both come back,
                // each through the hook again (the clock moves on again only if a handshake
                // failed on the loaded machine).
                clock.advance(by: .milliseconds(500))
                try await Self.waitUntil(advancing: clock) { connects.withLockedValue { $0 } == connectsBefore + 2 }
                #expect(try await client.send(RedisCommand("PING")) == .simpleString("PONG"))
            }
        }
    }

    @Test(.enabled(if: RedisTestServer.isAvailable))
    func timesOutWhenTheServerHangs() async throws {
        try await RedisTestServer.with { server in
            var configuration = TestRedis.configuration(for: server)
            configuration.commandTimeout = .milliseconds(300)
            let clock = ManualClock()
            let client = RedisClient(configuration: configuration, logger: TestRedis.logger, clock: clock)
            try await TestRedis.withRunningClient(client) {
                // Both connections up: a handshake still in flight could otherwise complete
                // just before the pause and leave a connection that looks live.
                try await Self.waitUntil(advancing: clock) { client.liveConnectionCount == 2 }
                // (Checks outside the hang get a timeout that a loaded machine cannot reach.)
                #expect(try await client.send(RedisCommand("PING", timeout: .seconds(10))) == .simpleString("PONG"))

                // Every command times out (when exactly is the watchdog's business,
                // timed on the loop's clock in RedisCommandHandlerTests).
                server.pause()
                let errors = await withTaskGroup(of: RedisClientError?.self) { group in
                    for _ in 0..<20 {
                        group.addTask { await redisError { try await client.send(RedisCommand("PING")) } }
                    }
                    return await group.reduce(into: [RedisClientError?]()) { $0.append($1) }
                }
                #expect(errors.allSatisfy { $0 == .timeout }, "\(errors)")

                // Connections dropped; reconnects hang in the handshake, so sends fail fast.
                try await Self.waitUntil { !client.isAvailable }
                let downError = await redisError { try await client.send(RedisCommand("PING")) }
                // `unavailable` rather than `timeout` shows it did not wait for a reply.
                #expect(downError?.isUnavailable == true)

                // Both slots' handshakes timed out and wait to retry; resumed, the
                // next attempt (one capped backoff of the clock later) gets through.
                await clock.waitForSleepers(2)
                server.resume()
                clock.advance(by: .milliseconds(500))
                try await Self.waitUntil(advancing: clock) { client.isAvailable }
                #expect(try await client.send(RedisCommand("PING", timeout: .seconds(10))) == .simpleString("PONG"))
            }
        }
    }

    @Test func dedicatedConnectionForBlockingCommands() async throws {
        try await TestRedis.withConfiguration { configuration in
            let client = RedisClient(configuration: configuration, logger: TestRedis.logger)
            try await TestRedis.withRunningClient(client) {
                try await client.waitUntilConnected()
                let stream = RedisArgument(TestRedis.key("stream"))
                try await client.send(RedisCommand("XGROUP", "CREATE", stream, "g", "$", "MKSTREAM"))

                // A blocking read gets Redis' empty answer after its block, under its own
                // timeout (that a command's own timeout outlives a shorter default is
                // shown on the loop's clock: RedisCommandHandlerTests).
                let empty = try await client.withDedicatedConnection { connection in
                    try await connection.send(
                        RedisCommand("XREADGROUP", "GROUP", "g", "c", "COUNT", 10, "BLOCK", 1000, "STREAMS", stream, ">", timeout: .seconds(3))
                    )
                }
                #expect(empty == .null)

                // While a dedicated connection blocks, the pool keeps serving: its
                // commands get their replies while Redis still reports the other blocked.
                let listKey = TestRedis.key("list")
                let list = RedisArgument(listKey)
                let waiting = "waiting-\(UInt32.random(in: 0 ... .max))"
                let popped = try await client.withDedicatedConnection { connection in
                    _ = try await connection.send(RedisCommand("CLIENT", "SETNAME", RedisArgument(waiting)))
                    async let reply = connection.send(RedisCommand("BLPOP", list, 10, timeout: .seconds(11)))
                    try await Self.waitUntilBlocked(client, name: waiting)
                    for _ in 0..<10 { #expect(try await client.send(RedisCommand("PING")) == .simpleString("PONG")) }
                    #expect(try await Self.isBlocked(client, name: waiting))
                    try await client.send(RedisCommand("RPUSH", list, "v"))
                    return try await reply
                }
                #expect(popped == .array([.bulkString(Array(listKey.utf8)), .bulkString(Array("v".utf8))]))

                // An entry added while blocked wakes the reader up.
                let delivered = try await client.withDedicatedConnection { connection in
                    async let added = Self.addLater(client, stream: stream)
                    let reply = try await connection.send(
                        RedisCommand("XREADGROUP", "GROUP", "g", "c", "BLOCK", 5000, "STREAMS", stream, ">", timeout: .seconds(6))
                    )
                    _ = try await added
                    return reply
                }
                let entries = delivered.array?.first?.array?[1].array
                #expect(entries?.count == 1)
                #expect(entries?.first?.array?[1] == .array([.bulkString(Array("k".utf8)), .bulkString(Array("v".utf8))]))

                // Cancelling the task aborts a blocking command at once. The connection is
                // named so the test can wait until Redis reports it blocked: cancelling any
                // earlier would abort the acquisition, not the command in flight.
                let name = "blocked-\(UInt32.random(in: 0 ... .max))"
                let blockedTask = Task {
                    try await client.withDedicatedConnection { connection in
                        _ = try await connection.send(RedisCommand("CLIENT", "SETNAME", RedisArgument(name)))
                        return try await connection.send(RedisCommand("BLPOP", RedisArgument(TestRedis.key("never")), 10, timeout: .seconds(11)))
                    }
                }
                try await Self.waitUntilBlocked(client, name: name)
                blockedTask.cancel()
                // Not BLPOP's empty answer after its 10 s: the connection was closed under it.
                #expect(await redisError { try await blockedTask.value } == .connectionClosed)
                try await client.send(RedisCommand("DEL", stream))
            }
        }
    }

    @Test func shutdownLetsCommandsInFlightFinish() async throws {
        try await TestRedis.withConfiguration { configuration in
            let client = RedisClient(configuration: configuration, logger: TestRedis.logger)
            let counter = RedisArgument(TestRedis.key("shutdown"))
            let service = Task { try await client.run() }
            try await client.waitUntilConnected()
            let outcomes = await withTaskGroup(of: String.self) { group in
                for index in 0..<3000 {
                    group.addTask {
                        do {
                            _ = try await client.send(RedisCommand("INCR", counter))
                            return "ok"
                        } catch let error as RedisClientError {
                            return error.isUnavailable ? "unavailable" : "\(error)"
                        } catch {
                            return "\(error)"
                        }
                    }
                    if index == 1500 { service.cancel() }
                }
                return await group.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
            }
            try await service.value
            // Every command either ran or was refused before it was sent: none was cut off.
            #expect(Set(outcomes.keys).isSubset(of: ["ok", "unavailable"]), "\(outcomes)")
            #expect(!client.isAvailable)

            let check = try await RedisConnection.connect(
                configuration: configuration,
                eventLoop: MultiThreadedEventLoopGroup.singleton.next(),
                logger: TestRedis.logger
            )
            let stored = try await check.send(RedisCommand("GET", counter)).int ?? 0
            #expect(stored == Int64(outcomes["ok"] ?? 0), "\(outcomes)")
            try await check.send(RedisCommand("DEL", counter))
            await check.close()
        }
    }

    // MARK: helpers

    /// Polls until `condition` holds (the suite's time limit ends a hang).
    private static func waitUntil(_ condition: () async -> Bool) async throws {
        while !(await condition()) {
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Polls until `condition` holds, moving `clock` on by a capped backoff
    /// whenever the pool waits on it: a connect that fails on a loaded machine
    /// is retried instead of waiting for ever.
    private static func waitUntil(advancing clock: ManualClock, _ condition: () async -> Bool) async throws {
        while !(await condition()) {
            if clock.sleeperCount > 0 { clock.advance(by: .milliseconds(500)) }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Whether `CLIENT LIST` shows the connection called `name` blocked in BLPOP.
    private static func isBlocked(_ client: RedisClient, name: String) async throws -> Bool {
        let clients = try await client.send(RedisCommand("CLIENT", "LIST")).string ?? ""
        return clients.split(separator: "\n").contains(where: { $0.contains(" name=\(name) ") && $0.contains(" cmd=blpop ") })
    }

    /// Polls until the connection called `name` is blocked in BLPOP.
    private static func waitUntilBlocked(_ client: RedisClient, name: String) async throws {
        while !(try await isBlocked(client, name: name)) {
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    private static func addLater(_ client: RedisClient, stream: RedisArgument) async throws -> RESPValue {
        try await Task.sleep(for: .milliseconds(200))
        return try await client.send(RedisCommand("XADD", stream, "*", "k", "v"))
    }
}

import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RedisClient
import Testing

@Suite("RedisClient pool against a real server", .enabled(if: TestRedis.isAvailable))
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
                try await client.waitUntilAvailable(timeout: .seconds(5))
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
                // Wait (bounded) for the first refused handshake: under load it can take a while.
                var error: RedisClientError?
                let deadline = ContinuousClock.now + .seconds(5)
                repeat {
                    try await Task.sleep(for: .milliseconds(50))
                    #expect(!client.isAvailable)
                    error = await redisError { try await client.send(RedisCommand("PING")) }
                } while ContinuousClock.now < deadline
                    && error.map({ if case .unavailable(let reason) = $0 { !reason.contains("NOAUTH") } else { true } }) == true
                #expect(error.map { if case .unavailable(let reason) = $0 { reason.contains("NOAUTH") } else { false } } == true)
            }
        }
    }

    @Test func unavailableFastWhenNothingListens() async throws {
        let configuration = RedisConfiguration(port: try RedisTestServer.freePort())
        let (connectTime, connectError) = await timed {
            await redisError {
                try await RedisConnection.connect(
                    configuration: configuration,
                    eventLoop: MultiThreadedEventLoopGroup.singleton.next(),
                    logger: TestRedis.logger
                )
            }
        }
        #expect(connectError?.isUnavailable == true)
        // Refused, not timed out: the error names the refusal, so no timeout was
        // waited for. The time bound only guards against a hang; it is loose
        // because the whole suite starts at once on a 2-core machine.
        #expect(connectError.map { "\($0)".lowercased().contains("refused") } == true)
        #expect(connectTime < .seconds(5))

        let client = RedisClient(configuration: configuration, logger: TestRedis.logger)
        try await TestRedis.withRunningClient(client) {
            try await Task.sleep(for: .milliseconds(100))
            let (sendTime, sendError) = await timed { await redisError { try await client.send(RedisCommand("PING")) } }
            #expect(sendError?.isUnavailable == true)
            // `unavailable`, not `timeout`: it failed without waiting for a reply;
            // the bound is a hang guard that holds on a loaded machine.
            #expect(sendTime < .seconds(2))
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
            let client = RedisClient(configuration: TestRedis.configuration(for: server), logger: TestRedis.logger) { _ in
                connects.withLockedValue { $0 += 1 }
            }
            try await TestRedis.withRunningClient(client) {
                try await Self.waitUntil(timeout: .seconds(5)) { client.liveConnectionCount == 2 }
                #expect(try await client.send(RedisCommand("PING")) == .simpleString("PONG"))

                await server.stop()
                try await Self.waitUntil(timeout: .seconds(2)) { !client.isAvailable }
                let (downTime, downError) = await timed { await redisError { try await client.send(RedisCommand("PING")) } }
                #expect(downError?.isUnavailable == true)
                // `unavailable` rather than `timeout` shows it did not wait for a reply;
                // the bound is a hang guard that holds while the suite loads the machine.
                #expect(downTime < .seconds(1))

                // Stay down long enough for the backoff to reach its cap.
                try await Task.sleep(for: .seconds(1))
                try await server.restart()
                let (recovery, _) = try await timed {
                    try await Self.waitUntil(timeout: .seconds(5)) {
                        (try? await client.send(RedisCommand("PING"))) == .simpleString("PONG")
                    }
                }
                #expect(recovery < .seconds(2), "recovered after \(recovery)")
                // Both connections come back, each through the hook again.
                try await Self.waitUntil(timeout: .seconds(2)) { connects.withLockedValue { $0 } == 4 }
            }
        }
    }

    @Test(.enabled(if: RedisTestServer.isAvailable))
    func timesOutWhenTheServerHangs() async throws {
        try await RedisTestServer.with { server in
            var configuration = TestRedis.configuration(for: server)
            configuration.commandTimeout = .milliseconds(300)
            let client = RedisClient(configuration: configuration, logger: TestRedis.logger)
            try await TestRedis.withRunningClient(client) {
                // Both connections up: a handshake still in flight could otherwise complete
                // just before the pause and leave a connection that looks live.
                try await Self.waitUntil(timeout: .seconds(5)) { client.liveConnectionCount == 2 }
                #expect(try await client.send(RedisCommand("PING")) == .simpleString("PONG"))

                server.pause()
                let (elapsed, errors) = await timed {
                    await withTaskGroup(of: RedisClientError?.self) { group in
                        for _ in 0..<20 {
                            group.addTask { await redisError { try await client.send(RedisCommand("PING")) } }
                        }
                        return await group.reduce(into: [RedisClientError?]()) { $0.append($1) }
                    }
                }
                #expect(errors.allSatisfy { $0 == .timeout }, "\(errors)")
                #expect(elapsed >= .milliseconds(300))
                #expect(elapsed < .milliseconds(1500))  // bounded by the timeout, not a hang

                // Connections dropped; reconnects hang in the handshake, so sends fail fast.
                try await Self.waitUntil(timeout: .seconds(1)) { !client.isAvailable }
                let (downTime, downError) = await timed { await redisError { try await client.send(RedisCommand("PING")) } }
                #expect(downError?.isUnavailable == true)
                // `unavailable` rather than `timeout` shows it did not wait for a reply;
                // the bound is a hang guard that holds while the suite loads the machine.
                #expect(downTime < .seconds(1))

                server.resume()
                let (recovery, _) = try await timed { try await client.waitUntilAvailable(timeout: .seconds(5)) }
                #expect(recovery < .seconds(2))
                #expect(try await client.send(RedisCommand("PING")) == .simpleString("PONG"))
            }
        }
    }

    @Test func dedicatedConnectionForBlockingCommands() async throws {
        try await TestRedis.withConfiguration { configuration in
            let client = RedisClient(configuration: configuration, logger: TestRedis.logger)
            try await TestRedis.withRunningClient(client) {
                try await client.waitUntilAvailable(timeout: .seconds(5))
                let stream = RedisArgument(TestRedis.key("stream"))
                try await client.send(RedisCommand("XGROUP", "CREATE", stream, "g", "$", "MKSTREAM"))

                // Blocks longer than the default 750 ms command timeout: the command's own
                // timeout applies, and the pool keeps serving meanwhile.
                let (blocked, empty) = try await timed {
                    try await client.withDedicatedConnection { connection in
                        async let pings = Self.pingRepeatedly(client, times: 10)
                        let reply = try await connection.send(
                            RedisCommand("XREADGROUP", "GROUP", "g", "c", "COUNT", 10, "BLOCK", 1000, "STREAMS", stream, ">", timeout: .seconds(3))
                        )
                        // Far below the 1 s block: the pool was not stuck behind it.
                        #expect(try await pings < .milliseconds(1000))
                        return reply
                    }
                }
                #expect(empty == .null)
                #expect(blocked >= .milliseconds(1000))

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
                let (cancelTime, cancelled) = await timed {
                    blockedTask.cancel()
                    return await redisError { try await blockedTask.value }
                }
                #expect(cancelled == .connectionClosed)
                #expect(cancelTime < .milliseconds(1000))
                try await client.send(RedisCommand("DEL", stream))
            }
        }
    }

    @Test func shutdownLetsCommandsInFlightFinish() async throws {
        try await TestRedis.withConfiguration { configuration in
            let client = RedisClient(configuration: configuration, logger: TestRedis.logger)
            let counter = RedisArgument(TestRedis.key("shutdown"))
            let service = Task { try await client.run() }
            try await client.waitUntilAvailable(timeout: .seconds(5))
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

    private static func waitUntil(
        timeout: Duration,
        sourceLocation: SourceLocation = #_sourceLocation,
        _ condition: () async -> Bool
    ) async throws {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while !(await condition()) {
            guard ContinuousClock.now < deadline else {
                Issue.record("condition not met within \(timeout)", sourceLocation: sourceLocation)
                return
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// The slowest of `times` PINGs through the pool, 50 ms apart.
    private static func pingRepeatedly(_ client: RedisClient, times: Int) async throws -> Duration {
        var slowest = Duration.zero
        for _ in 0..<times {
            let (elapsed, reply) = try await timed { try await client.send(RedisCommand("PING")) }
            #expect(reply == .simpleString("PONG"))
            slowest = max(slowest, elapsed)
            try await Task.sleep(for: .milliseconds(50))
        }
        return slowest
    }

    /// Polls `CLIENT LIST` until the connection called `name` is blocked in BLPOP.
    private static func waitUntilBlocked(_ client: RedisClient, name: String) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            let reply = try await client.send(RedisCommand("CLIENT", "LIST"))
            let clients = reply.string ?? ""
            if clients.split(separator: "\n").contains(where: { $0.contains(" name=\(name) ") && $0.contains(" cmd=blpop ") }) {
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("connection \(name) never blocked in BLPOP")
    }

    private static func addLater(_ client: RedisClient, stream: RedisArgument) async throws -> RESPValue {
        try await Task.sleep(for: .milliseconds(200))
        return try await client.send(RedisCommand("XADD", stream, "*", "k", "v"))
    }
}

import NIOCore
import NIOPosix
import RedisClient
import Testing

@Suite("RedisConnection against a real server", .enabled(if: TestRedis.isAvailable))
struct RedisConnectionTests {
    private func withConnection<T>(_ body: (RedisConnection) async throws -> T) async throws -> T {
        try await TestRedis.withConfiguration { configuration in
            // As for the store tests (TestStores.redis): these check the protocol,
            // not timeouts (RedisClientTests has those), and a command that times
            // out closes its connection, failing everything queued behind it when
            // the whole suite starts at once on two cores.
            var configuration = configuration
            configuration.commandTimeout = .seconds(10)
            let connection = try await RedisConnection.connect(
                configuration: configuration,
                eventLoop: MultiThreadedEventLoopGroup.singleton.next(),
                logger: TestRedis.logger
            )
            do {
                let result = try await body(connection)
                await connection.close()
                return result
            } catch {
                await connection.close()
                throw error
            }
        }
    }

    @Test func replyKinds() async throws {
        try await self.withConnection { connection in
            let key = TestRedis.key("kinds")
            #expect(try await connection.send(RedisCommand("PING")) == .simpleString("PONG"))
            #expect(try await connection.send(RedisCommand("SET", RedisArgument(key), "v1")) == .simpleString("OK"))
            #expect(try await connection.send(RedisCommand("GET", RedisArgument(key))) == .bulkString(Array("v1".utf8)))
            #expect(try await connection.send(RedisCommand("GET", RedisArgument(key + ":missing"))) == .null)
            #expect(try await connection.send(RedisCommand("INCRBY", RedisArgument(key + ":n"), 41)) == .integer(41))
            #expect(try await connection.send(RedisCommand("INCR", RedisArgument(key + ":n"))).int == 42)
            #expect(try await connection.send(RedisCommand("GET", RedisArgument(key + ":n"))).int == 42)
            #expect(try await connection.send(RedisCommand("SET", RedisArgument(key + ":e"), "")) == .simpleString("OK"))
            #expect(try await connection.send(RedisCommand("GET", RedisArgument(key + ":e"))) == .bulkString([]))
            #expect(try await connection.send(RedisCommand("LRANGE", RedisArgument(key + ":none"), 0, -1)) == .array([]))
            // A null array, as BLPOP answers when it times out.
            #expect(try await connection.send(RedisCommand("BLPOP", RedisArgument(key + ":none"), "0.01")) == .null)
            try await connection.send(RedisCommand("DEL", RedisArgument(key), RedisArgument(key + ":n"), RedisArgument(key + ":e")))
        }
    }

    @Test func binarySafeBulkStrings() async throws {
        try await self.withConnection { connection in
            let key = RedisArgument(bytes: Array(TestRedis.key("binary").utf8) + [0, 13, 10, 0])
            let value = (0..<1024).map { UInt8(truncatingIfNeeded: $0) }  // every byte value, NUL and CRLF included
            #expect(try await connection.send(RedisCommand("SET", key, RedisArgument(bytes: value))) == .simpleString("OK"))
            #expect(try await connection.send(RedisCommand("GET", key)) == .bulkString(value))
            #expect(try await connection.send(RedisCommand("STRLEN", key)) == .integer(1024))

            // Larger than any read or feed slice, to cross buffer boundaries.
            let large = (0..<2_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ ($0 >> 8)) }
            try await connection.send(RedisCommand("SET", key, RedisArgument(bytes: large)))
            #expect(try await connection.send(RedisCommand("GET", key)).bytes == large)
            try await connection.send(RedisCommand("DEL", key))
        }
    }

    @Test func nestedArrays() async throws {
        try await self.withConnection { connection in
            let script = "return {1, {2, {'a', {}}}, 'x', redis.status_reply('FINE'), false}"
            let reply = try await connection.send(RedisCommand("EVAL", RedisArgument(script), 0))
            let expected = RESPValue.array([
                .integer(1),
                .array([.integer(2), .array([.bulkString([97]), .array([])])]),
                .bulkString([120]),
                .simpleString("FINE"),
                .null,
            ])
            #expect(reply == expected)

            let stream = RedisArgument(TestRedis.key("stream"))
            let id = try await connection.send(RedisCommand("XADD", stream, "*", "f1", "v1", "f2", RedisArgument(bytes: [0])))
            let range = try await connection.send(RedisCommand("XRANGE", stream, "-", "+"))
            #expect(range == .array([.array([id, .array([.bulkString(Array("f1".utf8)), .bulkString(Array("v1".utf8)), .bulkString(Array("f2".utf8)), .bulkString([0])])])]))
            try await connection.send(RedisCommand("DEL", stream))
        }
    }

    @Test func errorReplies() async throws {
        try await self.withConnection { connection in
            let key = RedisArgument(TestRedis.key("errors"))
            let error = await redisError { try await connection.send(RedisCommand("NOSUCHCOMMAND", "x")) }
            guard case .server(let message) = error else {
                Issue.record("expected a server error, got \(String(describing: error))")
                return
            }
            #expect(message.hasPrefix("ERR unknown command"))

            let script = await redisError { try await connection.send(RedisCommand("EVALSHA", "0123456789012345678901234567890123456789", 0)) }
            #expect(script.map { if case .server(let m) = $0 { m.hasPrefix("NOSCRIPT") } else { false } } == true)

            // In a pipeline an error reply stays in its place, and the rest still run.
            let replies = try await connection.pipeline([
                RedisCommand("SET", key, "text"),
                RedisCommand("INCR", key),
                RedisCommand("GET", key),
                RedisCommand("DEL", key),
            ])
            #expect(replies.count == 4)
            #expect(replies[0] == .simpleString("OK"))
            #expect(replies[1].description.hasPrefix("(error) ERR value is not an integer"))
            #expect(replies[2] == .bulkString(Array("text".utf8)))
            #expect(replies[3] == .integer(1))

            // The connection is still in step afterwards.
            #expect(try await connection.send(RedisCommand("ECHO", "after")) == .bulkString(Array("after".utf8)))
            #expect(await redisError { try await connection.send(RedisCommand(arguments: [])) } == .protocolError("empty command"))
            #expect(try await connection.pipeline([]) == [])
        }
    }

    @Test func concurrentSendsAreMatchedInOrder() async throws {
        try await self.withConnection { connection in
            let counter = RedisArgument(TestRedis.key("counter"))
            let tasks = 5000
            let results = try await withThrowingTaskGroup(of: (Int, RESPValue, Int64).self) { group in
                for index in 0..<tasks {
                    group.addTask {
                        let echo = try await connection.send(RedisCommand("ECHO", RedisArgument("value-\(index)")))
                        let count = try await connection.send(RedisCommand("INCR", counter))
                        return (index, echo, count.int ?? -1)
                    }
                }
                var results: [(Int, RESPValue, Int64)] = []
                for try await result in group { results.append(result) }
                return results
            }
            #expect(results.count == tasks)
            for (index, echo, _) in results where echo != .bulkString(Array("value-\(index)".utf8)) {
                Issue.record("task \(index) got \(echo)")
                break
            }
            // Every INCR got its own reply: each value from 1 to N exactly once.
            #expect(Set(results.map(\.2)) == Set((1...Int64(tasks))))
            try await connection.send(RedisCommand("DEL", counter))
        }
    }

    @Test func pipelineKeepsOrder() async throws {
        try await self.withConnection { connection in
            let key = RedisArgument(TestRedis.key("list"))
            let commands = (0..<3000).map { RedisCommand("RPUSH", key, RedisArgument($0)) }
            let replies = try await connection.pipeline(commands)
            #expect(replies == (1...3000).map { RESPValue.integer(Int64($0)) })
            let items = try await connection.send(RedisCommand("LRANGE", key, 0, -1))
            #expect(items.array?.compactMap(\.int) == (0..<3000).map { Int64($0) })
            try await connection.send(RedisCommand("DEL", key))
        }
    }

    @Test func closeRejectsNewCommands() async throws {
        try await self.withConnection { connection in
            #expect(connection.isActive)
            await connection.close()
            #expect(!connection.isActive)
            let error = await redisError { try await connection.send(RedisCommand("PING")) }
            #expect(error?.isUnavailable == true)
        }
    }

    @Test func selectsTheConfiguredDatabase() async throws {
        try await TestRedis.withConfiguration { configuration in
            var other = configuration
            other.database = 3
            let key = RedisArgument(TestRedis.key("db"))
            let loop = MultiThreadedEventLoopGroup.singleton.next()
            let inThree = try await RedisConnection.connect(configuration: other, eventLoop: loop, logger: TestRedis.logger)
            let inZero = try await RedisConnection.connect(configuration: configuration, eventLoop: loop, logger: TestRedis.logger)
            try await inThree.send(RedisCommand("SET", key, "three"))
            #expect(try await inThree.send(RedisCommand("GET", key)) == .bulkString(Array("three".utf8)))
            #expect(try await inZero.send(RedisCommand("GET", key)) == .null)
            try await inThree.send(RedisCommand("DEL", key))
            await inThree.close()
            await inZero.close()
        }
    }
}

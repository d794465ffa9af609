import NIOCore
import NIOEmbedded
import Testing

@testable import RedisClient

/// The connection's channel handlers (RESP encoder and decoder, command
/// handler) on a testing channel, the test playing the server: what goes
/// out, which reply resumes whom, and the timeout watchdog on the loop's
/// clock, which only moves when the test advances it.
@Suite(.timeLimit(.minutes(5))) struct RedisCommandHandlerTests {
    static func connected(commandTimeout: TimeAmount = .milliseconds(750)) async throws -> (NIOAsyncTestingChannel, RedisConnection) {
        let channel = NIOAsyncTestingChannel()
        // Active, as after a connect: the watchdog runs.
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).get()
        let connection = try await RedisConnection.wrapping(channel, commandTimeout: commandTimeout, logger: TestRedis.logger)
        return (channel, connection)
    }

    /// The next bytes written to the "server".
    static func sent(_ channel: NIOAsyncTestingChannel) async throws -> String {
        String(buffer: try await channel.waitForOutboundWrite(as: ByteBuffer.self))
    }

    @Test func repliesResumeTheirCommandsInOrder() async throws {
        let (channel, connection) = try await Self.connected()
        async let first = connection.send(RedisCommand("GET", "a"))
        #expect(try await Self.sent(channel) == "*2\r\n$3\r\nGET\r\n$1\r\na\r\n")
        async let second = connection.pipeline([RedisCommand("INCR", "n"), RedisCommand("NOPE")])
        #expect(try await Self.sent(channel) == "*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n*1\r\n$4\r\nNOPE\r\n")
        async let third = redisError { try await connection.send(RedisCommand("NOPE")) }
        #expect(try await Self.sent(channel) == "*1\r\n$4\r\nNOPE\r\n")

        // All replies in one read, the last split across two.
        try await channel.writeInbound(ByteBuffer(string: "$1\r\nx\r\n:1\r\n-ERR unknown command\r\n-ERR unk"))
        try await channel.writeInbound(ByteBuffer(string: "nown command\r\n"))
        #expect(try await first == .bulkString(Array("x".utf8)))
        #expect(try await second == [.integer(1), .error("ERR unknown command")])
        #expect(await third == .server("ERR unknown command"))
        #expect(channel.isActive)
        _ = try await channel.finish(acceptAlreadyClosed: true)
    }

    @Test func aCommandWithoutAReplyTimesOutOnTheLoopsClock() async throws {
        let (channel, connection) = try await Self.connected(commandTimeout: .milliseconds(750))
        async let outcome = redisError { try await connection.send(RedisCommand("PING")) }
        _ = try await Self.sent(channel)
        await channel.testingEventLoop.advanceTime(by: .milliseconds(700))
        #expect(channel.isActive, "not overdue yet")
        // The check after the deadline (checks run every 100 ms) drops the connection.
        await channel.testingEventLoop.advanceTime(by: .milliseconds(100))
        #expect(await outcome == .timeout)
        #expect(!channel.isActive)
        // Closed: the next command is refused without being sent.
        #expect(await redisError { try await connection.send(RedisCommand("PING")) }?.isUnavailable == true)
    }

    @Test func aCommandsOwnTimeoutOutlivesTheDefault() async throws {
        let (channel, connection) = try await Self.connected(commandTimeout: .milliseconds(750))
        async let reply = connection.send(RedisCommand("BLPOP", "k", 2, timeout: .seconds(3)))
        _ = try await Self.sent(channel)
        await channel.testingEventLoop.advanceTime(by: .seconds(2))
        try await channel.writeInbound(ByteBuffer(string: "*-1\r\n"))
        #expect(try await reply == .null)
        #expect(channel.isActive)
        _ = try await channel.finish(acceptAlreadyClosed: true)
    }

    @Test func aGracefulCloseWaitsForTheRepliesInFlight() async throws {
        let (channel, connection) = try await Self.connected()
        async let reply = connection.send(RedisCommand("PING"))
        _ = try await Self.sent(channel)
        async let closed: Void = connection.close()
        // Closing: new commands are refused, the one in flight still gets its reply.
        while connection.isActive { await Task.yield() }
        #expect(await redisError { try await connection.send(RedisCommand("PING")) }?.isUnavailable == true)
        #expect(channel.isActive)
        try await channel.writeInbound(ByteBuffer(string: "+PONG\r\n"))
        #expect(try await reply == .simpleString("PONG"))
        #expect(!channel.isActive)
        await channel.testingEventLoop.run()  // the close's follow-up tasks, which complete closeFuture
        await closed
    }

    @Test func aReplyNobodyAskedForDropsTheConnection() async throws {
        let (channel, connection) = try await Self.connected()
        try await channel.writeInbound(ByteBuffer(string: "+PONG\r\n"))
        #expect(!channel.isActive)
        #expect(await redisError { try await connection.send(RedisCommand("PING")) }?.isUnavailable == true)
    }

    @Test func commandsInFlightFailAsClosedWhenTheConnectionDrops() async throws {
        let (channel, connection) = try await Self.connected()
        async let outcome = redisError { try await connection.pipeline([RedisCommand("PING"), RedisCommand("PING")]) }
        _ = try await Self.sent(channel)
        try await channel.writeInbound(ByteBuffer(string: "+PONG\r\n"))
        try await channel.close()
        #expect(await outcome == .connectionClosed)
    }
}

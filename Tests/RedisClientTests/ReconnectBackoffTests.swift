import RedisClient
import Testing
import TestSupport

/// The pool's reconnect backoff, timed on a manual clock: the delays it asks
/// for, and that commands fail at once meanwhile instead of waiting.
@Suite(.timeLimit(.minutes(5))) struct ReconnectBackoffTests {
    @Test func failedConnectsBackOffFrom50msDoublingUpTo500ms() async throws {
        let clock = ManualClock()
        var configuration = RedisConfiguration(port: try RedisTestServer.freePort())  // nothing listens
        configuration.connectionCount = 1
        let client = RedisClient(configuration: configuration, logger: TestRedis.logger, clock: clock)
        try await TestRedis.withRunningClient(client) {
            var expected: [Duration] = []
            for milliseconds in [50, 100, 200, 400, 500, 500] {
                await clock.waitForSleepers(1)
                expected.append(.milliseconds(milliseconds))
                #expect(clock.sleeps == expected)
                // Waiting to retry: commands fail at once, as unavailable.
                #expect(await redisError { try await client.send(RedisCommand("PING")) }?.isUnavailable == true)
                clock.advance(by: .milliseconds(milliseconds))
            }
        }
    }
}

import Logging
import MariaDBClient
import RedisClient
import RedisStore
import Testing
import TestSupport

@testable import MariaDBArchive

/// The archiver's waits, on a manual clock: no store needed, nothing waits
/// for real time.
@Suite(.timeLimit(.minutes(5))) struct ArchiverTimingTests {
    static let logger: Logger = {
        var logger = Logger(label: "archiver-timing")
        logger.logLevel = .critical
        return logger
    }()

    @Test func retriesBackOffFromTheRetryDelayDoublingToTheMaximum() async throws {
        let clock = ManualClock()
        var mariadb = MariaDBConfiguration()
        mariadb.host = "127.0.0.1"
        mariadb.port = 1  // nothing listens: the schema cannot be migrated yet
        let database = MariaDBPool(configuration: mariadb, size: 1, logger: Self.logger)
        // Not running: the archiver does not reach Redis before the schema exists.
        let redis = RedisClient(configuration: RedisConfiguration(port: 1), logger: Self.logger)
        let archiver = Archiver(
            log: RedisEventLog(redis: RedisStoreClient(redis: redis, layout: RedisLayout(prefix: "timing:", shards: 1))), database: database, logger: Self.logger,
            timing: clock)
        let running = Task { try await archiver.run() }
        var expected: [Duration] = []
        for milliseconds in [100, 200, 400, 800, 1600, 3200, 5000, 5000] {
            await clock.waitForSleepers(1)
            expected.append(.milliseconds(milliseconds))
            #expect(clock.sleeps == expected)
            clock.advance(by: .milliseconds(milliseconds))
        }
        await clock.waitForSleepers(1)
        running.cancel()
        try await running.value
        await database.shutdown()
    }
}

import Logging
import MariaDBArchive
import MariaDBClient
import RedisClient
import RedisStore

/// Connections to both stores for the one-shot commands, closed when done.
struct StoreSession {
    let redis: RedisClient
    let store: RedisEventStore
    let database: MariaDBPool
    let layout: RedisLayout
    let logger: Logger

    static func with<T: Sendable>(
        _ options: StoreOptions, logger: Logger, redisTimeout: Duration = .seconds(30),
        _ body: @Sendable (StoreSession) async throws -> T
    ) async throws -> T {
        let layout = RedisLayout(prefix: try options.prefix())
        var redisConfiguration = try options.redis()
        // Bulk commands (replays, scans) take longer than a request's budget.
        redisConfiguration.commandTimeout = .seconds(Int64(redisTimeout.components.seconds))
        let redis = RedisClient(configuration: redisConfiguration, logger: logger) { connection in
            try await RedisEventStore.prepare(connection, layout: layout)
        }
        let database = MariaDBPool(configuration: try options.mariadb(), size: 2, logger: logger)
        let session = StoreSession(
            redis: redis, store: RedisEventStore(client: redis, layout: layout), database: database, layout: layout, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await redis.run() }
            defer { group.cancelAll() }
            do {
                try await redis.waitUntilAvailable(timeout: .seconds(10))
                let result = try await body(session)
                await database.shutdown()
                return result
            } catch {
                await database.shutdown()
                throw error
            }
        }
    }
}

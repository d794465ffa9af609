import Logging
import MariaDBArchive
import MariaDBClient
import RedisClient
import RedisStore
import ServiceLifecycle

/// Connections to both stores for the one-shot commands, closed when done.
struct StoreSession {
    let redis: RedisStoreClient
    let store: RedisEventStore
    let log: RedisEventLog
    let database: MariaDBPool
    let logger: Logger

    /// An archiver on this session's stores (`archive`, and the drain that
    /// `rebuild`, `verify --drain` and `load` do).
    func archiver(_ configuration: ArchiverConfiguration = .init()) -> Archiver {
        Archiver(log: log, database: database, configuration: configuration, logger: logger)
    }

    static func with<T: Sendable>(
        _ options: StoreOptions, logger: Logger, redisTimeout: Duration = .seconds(30), checkLayout: Bool = true,
        _ body: @Sendable (StoreSession) async throws -> T
    ) async throws -> T {
        let layout = try options.layout()
        var redisConfiguration = try options.redis()
        // Bulk commands (snapshots, scans) take longer than a request's budget.
        redisConfiguration.commandTimeout = .seconds(Int64(redisTimeout.components.seconds))
        let client = RedisStoreClient.topology(configuration: redisConfiguration, clusterSeeds: try options.clusterSeeds(), logger: logger)
        let redis = RedisStoreClient(redis: client, layout: layout, replicasAck: try options.replicasAck(), confirmsWrites: try options.writeCheck())
        let database = MariaDBPool(configuration: try options.mariadb(), size: 2, logger: logger)
        let session = StoreSession(
            redis: redis, store: RedisEventStore(redis: redis), log: RedisEventLog(redis: redis), database: database, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            defer { group.cancelAll() }
            do {
                try await client.waitUntilAvailable(timeout: .seconds(10))
                if checkLayout { try await redis.checkLayout() }
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

import Hummingbird
import Logging
import MariaDBArchive
import MariaDBClient
import RedisClient
import RedisStore
import ServiceLifecycle
import SymbolStreamCore

/// Everything `serve` can be told; the executable fills it from flags and
/// environment variables (see `symbolstream serve --help`).
public struct AppConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 5000
    public var redis = RedisConfiguration()
    public var redisPrefix = "ss:"
    public var mariadb = MariaDBConfiguration()
    public var guess = GuessModel()
    public var seed: UInt64?
    public var runArchiver = true
    public var archiver = ArchiverConfiguration()
    /// Connections idle this long are closed (slow or abandoned clients).
    public var idleTimeout: Duration = .seconds(30)

    public init() {}
}

/// Builds the service: the HTTP server plus its background services (Redis
/// connections, the archiver, the MariaDB pool), shut down in reverse order so
/// in-flight requests and the current archive batch finish first.
public func buildApplication(_ configuration: AppConfiguration, logger: Logger) -> some ApplicationProtocol {
    let layout = RedisLayout(prefix: configuration.redisPrefix)
    let redis = RedisClient(configuration: configuration.redis, logger: logger) { connection in
        try await RedisEventStore.prepare(connection, layout: layout)
    }
    let store = RedisEventStore(client: redis, layout: layout)
    // The archiver's concurrent batches, and one for health checks beside them.
    let database = MariaDBPool(configuration: configuration.mariadb, size: configuration.archiver.concurrentBatches + 1, logger: logger)
    let archiver =
        configuration.runArchiver
        ? Archiver(log: RedisEventLog(client: redis, layout: layout), database: database, configuration: configuration.archiver, logger: logger)
        : nil
    let router = buildRouter(
        RouteDependencies(
            store: store, health: LiveHealthProbe(store: store, database: database, archiver: archiver),
            guesser: Guesser(model: configuration.guess, seed: configuration.seed), logger: logger))

    var services: [any Service] = [redis, MariaDBPoolService(pool: database)]
    if let archiver { services.append(archiver) }
    let idleSeconds = configuration.idleTimeout.components.seconds
    return Application(
        router: router,
        server: .http1(configuration: .init(idleTimeout: .seconds(idleSeconds))),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "SymbolStream"),
        services: services,
        logger: logger)
}

/// Keeps the MariaDB pool open while the service runs and closes it last.
struct MariaDBPoolService: Service {
    let pool: MariaDBPool

    func run() async throws {
        try? await gracefulShutdown()
        await pool.shutdown()
    }
}

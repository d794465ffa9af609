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
    /// Chart.js for the dashboard page (Debian's libjs-chart.js by default).
    public var chartScriptPath = ChartScript.debianPath
    /// How often the pipeline history behind the page's rates is sampled.
    public var pipelineInterval: Duration = .seconds(5)
    /// The request line and headers of one request, in bytes and fields, at
    /// most (431 beyond).
    public var maximumHeaderBytes = 16 * 1024
    public var maximumHeaderCount = 100
    /// Limits of the `/stream` WebSocket.
    public var stream = StreamConfiguration()

    public init() {}
}

/// Builds the service: the HTTP server plus its background services (Redis
/// connections, the archiver, the MariaDB pool), shut down in reverse order so
/// in-flight requests and the current archive batch finish first.
///
/// `metrics` is the registry `/metrics` serves; the executable bootstraps
/// `MetricsSystem` with its factory (once), tests pass their own.
public func buildApplication(
    _ configuration: AppConfiguration, logger: Logger, metrics: ServiceMetrics = ServiceMetrics()
) -> some ApplicationProtocol {
    let layout = RedisLayout(prefix: configuration.redisPrefix)
    let redis = RedisClient(configuration: configuration.redis, logger: logger) { connection in
        try await RedisStoreClient.prepare(connection, layout: layout)
    }
    let storeClient = RedisStoreClient(client: redis, layout: layout)
    let store = RedisEventStore(redis: storeClient)
    let log = RedisEventLog(redis: storeClient)
    // The archiver's concurrent batches, and one for health checks beside them.
    let database = MariaDBPool(configuration: configuration.mariadb, size: configuration.archiver.concurrentBatches + 1, logger: logger)
    let archiver =
        configuration.runArchiver
        ? Archiver(log: log, database: database, configuration: configuration.archiver, logger: logger)
        : nil
    let health = LiveHealthProbe(log: log, database: database, archiver: archiver)
    let counters = ServiceCounters()
    let clock = EventClock()
    let observability = Observability(
        metrics: metrics, history: PipelineHistory(covering: .seconds(3600), every: configuration.pipelineInterval),
        chartScript: ChartScript.load(path: configuration.chartScriptPath))
    let dependencies = RouteDependencies(
        store: store, health: health,
        guesser: Guesser(model: configuration.guess, seed: configuration.seed), clock: clock, counters: counters, logger: logger,
        observability: observability, admission: ArchiveAdmission())
    let router = buildRouter(dependencies)

    var services: [any Service] = [redis, MariaDBPoolService(pool: database)]
    services.append(PipelineSampler(history: observability.history, health: health, counters: counters, clock: clock))
    if let archiver { services.append(archiver) }
    return Application(
        router: router,
        server: .symbolStream(
            dependencies, stream: configuration.stream, http1: httpConfiguration(configuration), limits: .init(configuration)),
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

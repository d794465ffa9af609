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
    /// Seeds of a Redis Cluster (`host:port`); empty for one server (`redis`).
    public var redisCluster: [String] = []
    public var redisPrefix = "ss:"
    /// Logical shards events are spread over (`RedisLayout`).
    public var shards = RedisLayout.defaultShardCount
    /// Replicas that must have an event before its 200 (Redis `WAIT`).
    public var replicasAck = 0
    /// How long the service waits for Redis at start before it gives up.
    public var redisStartupTimeout: Duration = .seconds(30)
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
/// connections, the archiver, the MariaDB pool, the pipeline sampler), run
/// as one `ServiceGroup` that SIGTERM and SIGINT shut down gracefully, in
/// reverse order: in-flight requests and the current archive batch finish
/// first, the stores' connections close last.
///
/// The listener opens only once Redis is reachable and holds this layout
/// (`ServeWhenReady`): a client never meets a 503 that only means "starting".
///
/// `metrics` is the registry `/metrics` serves; the executable bootstraps
/// `MetricsSystem` with its factory (once), tests pass their own.
public func buildService(_ configuration: AppConfiguration, logger: Logger, metrics: ServiceMetrics = ServiceMetrics()) -> ServiceGroup {
    let layout = RedisLayout(prefix: configuration.redisPrefix, shards: configuration.shards)
    let redis = RedisStoreClient.topology(configuration: configuration.redis, clusterSeeds: configuration.redisCluster, logger: logger)
    let storeClient = RedisStoreClient(redis: redis, layout: layout, replicasAck: configuration.replicasAck)
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
    let application = Application(
        router: buildRouter(dependencies),
        server: .symbolStream(
            dependencies, stream: configuration.stream, http1: httpConfiguration(configuration), limits: .init(configuration)),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "SymbolStream"),
        logger: logger)

    var services: [any Service] = [redis, MariaDBPoolService(pool: database)]
    services.append(PipelineSampler(history: observability.history, health: health, counters: counters, clock: clock))
    if let archiver { services.append(archiver) }
    services.append(
        ServeWhenReady(application: application, redis: storeClient, startupTimeout: configuration.redisStartupTimeout, logger: logger))
    return ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
}

/// Opens the listener once Redis answers and holds this deployment's layout
/// (`RedisStoreClient.checkLayout`); gives up with a clear error if it does
/// not within the startup timeout, or holds another layout.
struct ServeWhenReady<App: ApplicationProtocol>: Service {
    let application: App
    let redis: RedisStoreClient
    let startupTimeout: Duration
    let logger: Logger

    func run() async throws {
        do {
            try await redis.redis.waitUntilAvailable(timeout: startupTimeout)
            try await redis.checkLayout()
        } catch {
            logger.critical("cannot start: Redis is not ready", metadata: ["error": "\(error)"])
            throw error
        }
        try await application.run()
    }
}

/// Keeps the MariaDB pool open while the service runs and closes it last.
struct MariaDBPoolService: Service {
    let pool: MariaDBPool

    func run() async throws {
        try? await gracefulShutdown()
        await pool.shutdown()
    }
}

import Hummingbird
import Logging
import MariaDBArchive
import MariaDBClient
import RedisClient
import RedisStore
import ServiceLifecycle
import SymbolStreamCore
import UnixSignals

/// Everything `serve` can be told; the executable fills it from flags and
/// environment variables (see `symbolstream serve --help`).
package struct AppConfiguration: Sendable {
    package var host = "127.0.0.1"
    package var port = 5000
    package var redis = RedisConfiguration()
    /// Seeds of a Redis Cluster (`host:port`); empty for one server (`redis`).
    package var redisCluster: [String] = []
    package var redisPrefix = "ss:"
    /// Logical shards events are spread over (`RedisLayout`); nil for the
    /// default of the topology (1 on one server, 16 on a cluster).
    package var shards: Int?
    /// Replicas that must have an event before its 200 (Redis `WAIT`).
    package var replicasAck = 0
    /// Whether events wait for Redis to confirm its append-only-file write
    /// before their 200 (`WriteConfirmation`).
    package var confirmsWrites = true
    /// How long the listener waits for Redis at start before it opens
    /// anyway (answering 503 until Redis is there).
    package var redisStartupGrace: Duration = .seconds(2)
    package var mariadb = MariaDBConfiguration()
    package var guess = GuessModel()
    package var seed: UInt64?
    package var runArchiver = true
    package var archiver = ArchiverConfiguration()
    /// Connections idle this long are closed (slow or abandoned clients).
    package var idleTimeout: Duration = .seconds(30)
    /// Chart.js for the dashboard page (Debian's libjs-chart.js by default).
    package var chartScriptPath = ChartScript.debianPath
    /// How often the pipeline history behind the page's rates is sampled.
    package var pipelineInterval: Duration = .seconds(5)
    /// How long `/health` (and `/pipeline`, `/metrics`) waits for each
    /// dependency's check before reporting it down (`BoundedCheck`).
    package var healthDeadline: Duration = .seconds(1)
    /// The request line and headers of one request, in bytes and fields, at
    /// most (431 beyond).
    package var maximumHeaderBytes = 16 * 1024
    package var maximumHeaderCount = 100
    /// Limits of the `/stream` WebSocket.
    package var stream = StreamConfiguration()
    /// Seconds a followup's idempotency key is remembered at least (less
    /// than twice that at most); the same on every front of a deployment.
    package var idempotencyWindow = IdempotencyKey.defaultWindowSeconds

    package init() {}
}

/// Builds the service: the HTTP server plus its background services (Redis
/// connections, the archiver, the MariaDB pool, the pipeline sampler), run
/// as one `ServiceGroup` that SIGTERM and SIGINT shut down gracefully, in
/// reverse order: in-flight requests and the current archive batch finish
/// first, the stores' connections close last.
///
/// The listener opens once Redis is reachable and holds this layout
/// (`ServeWhenReady`), so a client does not meet a 503 that only means
/// "starting"; if Redis is not there within a short grace, it opens anyway
/// and answers 503 until Redis is.
///
/// `metrics` is the registry `/metrics` serves; the executable bootstraps
/// `MetricsSystem` with its factory (once), tests pass their own.
package func buildService(_ configuration: AppConfiguration, logger: Logger, metrics: ServiceMetrics = ServiceMetrics()) -> ServiceGroup {
    let layout = RedisLayout(
        prefix: configuration.redisPrefix,
        shards: configuration.shards ?? RedisLayout.defaultShardCount(cluster: !configuration.redisCluster.isEmpty))
    let redis = RedisStoreClient.topology(configuration: configuration.redis, clusterSeeds: configuration.redisCluster, logger: logger)
    let storeClient = RedisStoreClient(
        redis: redis, layout: layout, replicasAck: configuration.replicasAck, requireLayoutCheck: true, confirmsWrites: configuration.confirmsWrites)
    let store = RedisEventStore(redis: storeClient, idempotencyWindow: configuration.idempotencyWindow)
    let log = RedisEventLog(redis: storeClient)
    // The archiver's concurrent batches, and one for health checks beside them.
    let database = MariaDBPool(configuration: configuration.mariadb, size: configuration.archiver.concurrentBatches + 1, logger: logger)
    let archiver =
        configuration.runArchiver
        ? Archiver(log: log, database: database, configuration: configuration.archiver, logger: logger)
        : nil
    let health = LiveHealthProbe(log: log, database: database, archiver: archiver, deadline: configuration.healthDeadline)
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
        ServeWhenReady(application: application, redis: storeClient, grace: configuration.redisStartupGrace, logger: logger))
    return ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
}

/// Checks, as soon as Redis answers, that it holds this deployment's layout
/// (`RedisStoreClient.checkLayout`; writes wait for it), and opens the
/// listener once that passed, or after `grace` with Redis still away. A
/// Redis holding another layout stops the service with the reason.
struct ServeWhenReady<App: ApplicationProtocol>: Service {
    let application: App
    let redis: RedisStoreClient
    let grace: Duration
    let logger: Logger

    func run() async throws {
        // Both as child tasks: a failed check cancels the group's children
        // only, so the listener must be one of them for a mismatch to end
        // the service (it once kept serving 503s instead of exiting).
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await cancelWhenGracefulShutdown { try await checkLayoutWhenReachable() } }
            group.addTask {
                let clock = ContinuousClock()
                let deadline = clock.now.advanced(by: grace)
                while !redis.layoutCheck.hasPassed, clock.now < deadline, !Task.isShuttingDownGracefully {
                    try await Task.sleep(for: .milliseconds(10))
                }
                if !redis.layoutCheck.hasPassed {
                    logger.warning("Redis is not ready yet: serving, with 503 for what needs it, until it is")
                }
                try await application.run()
            }
        }
    }

    /// Retries until Redis answers; a mismatch throws (and ends the service).
    private func checkLayoutWhenReachable() async throws {
        var reported = false
        while true {
            do {
                try await redis.checkLayout()
                if reported { logger.info("Redis is ready") }
                return
            } catch let error as RedisStoreError {
                logger.critical("cannot serve: \(error)")
                throw error
            } catch {
                if !reported {
                    logger.warning("waiting for Redis", metadata: ["error": "\(error)"])
                    reported = true
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
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

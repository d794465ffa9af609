import ArgumentParser
import Hummingbird
import MariaDBArchive
import Metrics
import RedisStore
import SymbolStreamCore
import SymbolStreamServer
import ServiceLifecycle
import RedisClient
import MariaDBClient
import Logging

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the HTTP service (and, unless told otherwise, the archiver).")

    @Option(help: "Address to listen on (env SYMBOLSTREAM_HOST; default 127.0.0.1; 0.0.0.0 for all interfaces).")
    var host: String?
    @Option(help: "Port to listen on (env SYMBOLSTREAM_PORT; default 5000).")
    var port: Int?
    @Option(help: "Probability that a guess is flipped, 0...1 (env SYMBOLSTREAM_FLIP_PROBABILITY; default 0.1).")
    var flipProbability: Double?
    @Option(help: "Seed for the guess model, for reproducible runs (env SYMBOLSTREAM_SEED; default: random).")
    var seed: UInt64?
    @Flag(help: "Do not run the archiver in this process (run `symbolstream archive` elsewhere). Env SYMBOLSTREAM_NO_ARCHIVER=1.")
    var noArchiver = false
    @OptionGroup var archiver: ArchiverOptions
    @Option(help: "Seconds before an idle client connection is closed (env SYMBOLSTREAM_IDLE_TIMEOUT; default 30).")
    var idleTimeout: Int?
    @Option(help: "Chart.js file the dashboard page loads (env SYMBOLSTREAM_CHART_JS; default \(ChartScript.debianPath), from libjs-chart.js).")
    var chartJs: String?
    @Option(help: "Seconds between samples of the pipeline history behind the dashboard's rates (env SYMBOLSTREAM_PIPELINE_INTERVAL; default 5).")
    var pipelineInterval: Double?
    @Option(help: "Bytes of a request line and headers at most, 431 beyond (env SYMBOLSTREAM_MAX_HEADER_BYTES; default 16384).")
    var maxHeaderBytes: Int?
    @Option(help: "Header fields of a request at most, 431 beyond (env SYMBOLSTREAM_MAX_HEADER_COUNT; default 100).")
    var maxHeaderCount: Int?
    @Option(help: "Events per /stream message at most, 1...256 (env SYMBOLSTREAM_STREAM_MAX_EVENTS; default 256).")
    var streamMaxEvents: Int?
    @Option(help: "Bytes per /stream message at most (env SYMBOLSTREAM_STREAM_MAX_MESSAGE_BYTES; default 65536).")
    var streamMaxMessageBytes: Int?
    @Option(help: "Seconds before a /stream connection without messages is closed (env SYMBOLSTREAM_STREAM_IDLE_TIMEOUT; default 60).")
    var streamIdleTimeout: Int?
    @Option(
        help:
            "Web pages (origins, comma-separated, or *) that may open /stream besides the service's own; clients that send no Origin always may (env SYMBOLSTREAM_STREAM_ALLOWED_ORIGINS; default none)."
    )
    var streamAllowedOrigins: String?
    @Option(
        help:
            "Seconds a followup's Idempotency-Key is remembered at least (less than twice that at most), 1...604800; the same on every front (env SYMBOLSTREAM_IDEMPOTENCY_WINDOW; default \(IdempotencyKey.defaultWindowSeconds)).")
    var idempotencyWindow: Int?
    @OptionGroup var stores: StoreOptions

    func run() async throws {
        let logger = try stores.makeLogger(label: "symbolstream")
        var configuration = AppConfiguration()
        configuration.host = try Settings.resolve(host, env: "SYMBOLSTREAM_HOST", default: "127.0.0.1")
        configuration.port = try Settings.resolve(port, env: "SYMBOLSTREAM_PORT", default: 5000)
        let flip = try Settings.resolve(flipProbability, env: "SYMBOLSTREAM_FLIP_PROBABILITY", default: 0.1)
        guard (0...1).contains(flip) else { throw ValidationError("--flip-probability must be within 0...1") }
        configuration.guess = GuessModel(flipProbability: flip)
        configuration.seed = try Settings.resolve(seed, env: "SYMBOLSTREAM_SEED")
        configuration.runArchiver = !(noArchiver || Settings.environment("SYMBOLSTREAM_NO_ARCHIVER") == "1")
        configuration.archiver = try archiver.configuration()
        let idle = try Settings.resolve(idleTimeout, env: "SYMBOLSTREAM_IDLE_TIMEOUT", default: 30)
        guard idle > 0 else { throw ValidationError("--idle-timeout must be positive") }
        configuration.idleTimeout = .seconds(idle)
        configuration.chartScriptPath = try Settings.resolve(chartJs, env: "SYMBOLSTREAM_CHART_JS", default: ChartScript.debianPath)
        let interval = try Settings.resolve(pipelineInterval, env: "SYMBOLSTREAM_PIPELINE_INTERVAL", default: 5)
        guard interval >= 0.1, interval <= 3600 else { throw ValidationError("--pipeline-interval must be within 0.1...3600 seconds") }
        configuration.pipelineInterval = .milliseconds(Int64(interval * 1000))
        configuration.maximumHeaderBytes = try Settings.resolve(maxHeaderBytes, env: "SYMBOLSTREAM_MAX_HEADER_BYTES", default: 16 * 1024)
        configuration.maximumHeaderCount = try Settings.resolve(maxHeaderCount, env: "SYMBOLSTREAM_MAX_HEADER_COUNT", default: 100)
        guard configuration.maximumHeaderBytes >= 1024, configuration.maximumHeaderCount >= 8 else {
            throw ValidationError("--max-header-bytes must be at least 1024, --max-header-count at least 8")
        }
        configuration.stream = try streamConfiguration()
        let window = try Settings.resolve(idempotencyWindow, env: "SYMBOLSTREAM_IDEMPOTENCY_WINDOW", default: Int(IdempotencyKey.defaultWindowSeconds))
        guard (1...604_800).contains(window) else { throw ValidationError("--idempotency-window must be within 1...604800 seconds") }
        configuration.idempotencyWindow = Int64(window)
        configuration.redis = try stores.redis()
        configuration.redisCluster = try stores.clusterSeeds()
        configuration.redisPrefix = try stores.prefix()
        configuration.shards = try stores.shardCount()
        configuration.replicasAck = try stores.replicasAck()
        configuration.confirmsWrites = try stores.writeCheck()
        configuration.mariadb = try stores.mariadb()

        logger.info(
            "starting",
            metadata: [
                "listen": "\(configuration.host):\(configuration.port)",
                "redis": "\(configuration.redisCluster.isEmpty ? "\(configuration.redis.host):\(configuration.redis.port) db \(configuration.redis.database)" : "cluster \(configuration.redisCluster.joined(separator: ","))") prefix \(configuration.redisPrefix) shards \(configuration.shards.map(String.init) ?? "default")\(configuration.replicasAck > 0 ? " replicas-ack \(configuration.replicasAck)" : "")\(configuration.confirmsWrites ? "" : " write-check off")",
                "mariadb": "\(configuration.mariadb.unixSocket ?? "\(configuration.mariadb.host):\(configuration.mariadb.port)")/\(configuration.mariadb.database)",
                "archiver": "\(configuration.runArchiver ? configuration.archiver.consumer : "off")",
            ])
        // The one MetricsSystem bootstrap: libraries' metrics join the registry /metrics serves.
        let metrics = ServiceMetrics()
        MetricsSystem.bootstrap(metrics.factory)
        try await buildService(configuration, logger: logger, metrics: metrics).run()
    }
}

extension Serve {
    func streamConfiguration() throws -> StreamConfiguration {
        var stream = StreamConfiguration()
        stream.maximumEvents = try Settings.resolve(streamMaxEvents, env: "SYMBOLSTREAM_STREAM_MAX_EVENTS", default: stream.maximumEvents)
        stream.maximumMessageBytes = try Settings.resolve(
            streamMaxMessageBytes, env: "SYMBOLSTREAM_STREAM_MAX_MESSAGE_BYTES", default: stream.maximumMessageBytes)
        let idle = try Settings.resolve(streamIdleTimeout, env: "SYMBOLSTREAM_STREAM_IDLE_TIMEOUT", default: 60)
        // Above one ss_ingest call's batch a message would no longer be stored atomically.
        guard (1...RedisEventStore.maximumBatch).contains(stream.maximumEvents) else {
            throw ValidationError("--stream-max-events must be within 1...\(RedisEventStore.maximumBatch)")
        }
        guard (1024...(16 << 20)).contains(stream.maximumMessageBytes) else {
            throw ValidationError("--stream-max-message-bytes must be within 1024...16777216")
        }
        guard idle > 0 else { throw ValidationError("--stream-idle-timeout must be positive") }
        stream.idleTimeout = .seconds(idle)
        let origins = try Settings.resolve(streamAllowedOrigins, env: "SYMBOLSTREAM_STREAM_ALLOWED_ORIGINS", default: "")
        do {
            stream.allowedOrigins = try OriginPolicy(parsing: origins)
        } catch {
            throw ValidationError("--stream-allowed-origins: \(error)")
        }
        return stream
    }
}

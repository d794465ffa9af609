import ArgumentParser
import Logging
import MariaDBArchive
import MariaDBClient
import RedisClient
import RedisStore
import SymbolStreamCore
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Every setting is a flag, else an environment variable, else a documented
/// default, resolved here and nowhere else.
enum Settings {
    static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }

    static func resolve<Value: LosslessStringConvertible>(_ flag: Value?, env: String, default value: Value) throws -> Value {
        try resolve(flag, env: env) ?? value
    }

    static func resolve<Value: LosslessStringConvertible>(_ flag: Value?, env: String) throws -> Value? {
        if let flag { return flag }
        guard let text = environment(env) else { return nil }
        guard let parsed = Value(text) else {
            throw ValidationError("environment variable \(env): cannot read '\(text)' as \(Value.self)")
        }
        return parsed
    }
}

/// Connection settings of both stores, and logging: shared by every command.
struct StoreOptions: ParsableArguments {
    @Option(help: "Redis host (env SYMBOLSTREAM_REDIS_HOST; default 127.0.0.1).")
    var redisHost: String?
    @Option(help: "Redis port (env SYMBOLSTREAM_REDIS_PORT; default 6379).")
    var redisPort: Int?
    @Option(help: "Redis password; prefer the environment, flags show in `ps` (env SYMBOLSTREAM_REDIS_PASSWORD; default none).")
    var redisPassword: String?
    @Option(help: "Redis database number (env SYMBOLSTREAM_REDIS_DB; default 0).")
    var redisDb: Int?
    @Option(help: "Prefix of every Redis key (env SYMBOLSTREAM_REDIS_PREFIX; default ss:).")
    var redisPrefix: String?
    @Option(help: "Seeds of a Redis Cluster, host:port,… (env SYMBOLSTREAM_REDIS_CLUSTER; default none: one server at --redis-host/--redis-port).")
    var redisCluster: String?
    @Option(help: "Logical shards events are spread over; recorded in Redis, change it with `rebuild --shards N` (env SYMBOLSTREAM_SHARDS; default 1 on one Redis, 16 with --redis-cluster).")
    var shards: Int?
    @Option(help: "Replicas that must hold an event before it is acknowledged (Redis WAIT; env SYMBOLSTREAM_REDIS_REPLICAS_ACK; default 0).")
    var redisReplicasAck: Int?
    @Option(help: "Whether an ingest waits for Redis to confirm its append-only-file write (a PING after the reply; MISCONF means the write failed and the events get 503). false saves that round trip; safe only with appendfsync always (env SYMBOLSTREAM_REDIS_WRITE_CHECK; default true).")
    var redisWriteCheck: Bool?
    @Option(help: "Redis connections shared by all requests (env SYMBOLSTREAM_REDIS_CONNECTIONS; default 2).")
    var redisConnections: Int?
    @Option(help: "Seconds before a Redis command counts as failed (env SYMBOLSTREAM_REDIS_TIMEOUT; default 0.75).")
    var redisTimeout: Double?

    @Option(help: "MariaDB host (env SYMBOLSTREAM_MARIADB_HOST; default 127.0.0.1).")
    var mariadbHost: String?
    @Option(help: "MariaDB port (env SYMBOLSTREAM_MARIADB_PORT; default 3306).")
    var mariadbPort: Int?
    @Option(help: "MariaDB unix socket, used instead of host/port when set (env SYMBOLSTREAM_MARIADB_SOCKET).")
    var mariadbSocket: String?
    @Option(help: "MariaDB user (env SYMBOLSTREAM_MARIADB_USER; default og).")
    var mariadbUser: String?
    @Option(help: "MariaDB password; prefer the environment (env SYMBOLSTREAM_MARIADB_PASSWORD; default og).")
    var mariadbPassword: String?
    @Option(help: "MariaDB database (env SYMBOLSTREAM_MARIADB_DATABASE; default og).")
    var mariadbDatabase: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical (env SYMBOLSTREAM_LOG_LEVEL; default info).")
    var logLevel: String?

    func redis() throws -> RedisConfiguration {
        var configuration = RedisConfiguration()
        configuration.host = try Settings.resolve(redisHost, env: "SYMBOLSTREAM_REDIS_HOST", default: "127.0.0.1")
        configuration.port = try Settings.resolve(redisPort, env: "SYMBOLSTREAM_REDIS_PORT", default: 6379)
        configuration.password = try Settings.resolve(redisPassword, env: "SYMBOLSTREAM_REDIS_PASSWORD")
        configuration.database = try Settings.resolve(redisDb, env: "SYMBOLSTREAM_REDIS_DB", default: 0)
        configuration.connectionCount = try Settings.resolve(redisConnections, env: "SYMBOLSTREAM_REDIS_CONNECTIONS", default: 2)
        let timeout = try Settings.resolve(redisTimeout, env: "SYMBOLSTREAM_REDIS_TIMEOUT", default: 0.75)
        guard configuration.connectionCount >= 1 else { throw ValidationError("--redis-connections must be at least 1") }
        guard timeout > 0 else { throw ValidationError("--redis-timeout must be positive") }
        configuration.commandTimeout = .milliseconds(Int64(timeout * 1000))
        return configuration
    }

    /// The cluster's seeds, `host:port` each; empty for one server.
    func clusterSeeds() throws -> [String] {
        guard let text = try Settings.resolve(redisCluster, env: "SYMBOLSTREAM_REDIS_CLUSTER") else { return [] }
        let seeds = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for seed in seeds {
            let parts = seed.split(separator: ":")
            guard parts.count == 2, !parts[0].isEmpty, let port = Int(parts[1]), (1...65535).contains(port) else {
                throw ValidationError("--redis-cluster: '\(seed)' is not host:port")
            }
        }
        guard !seeds.isEmpty else { throw ValidationError("--redis-cluster: no host:port given") }
        return seeds
    }

    func shardCount() throws -> Int {
        let shards = try Settings.resolve(self.shards, env: "SYMBOLSTREAM_SHARDS", default: RedisLayout.defaultShardCount(cluster: !clusterSeeds().isEmpty))
        guard (1...RedisLayout.maximumShardCount).contains(shards) else {
            throw ValidationError("--shards must be within 1...\(RedisLayout.maximumShardCount)")
        }
        return shards
    }

    func replicasAck() throws -> Int {
        let replicas = try Settings.resolve(redisReplicasAck, env: "SYMBOLSTREAM_REDIS_REPLICAS_ACK", default: 0)
        guard replicas >= 0 else { throw ValidationError("--redis-replicas-ack must be 0 or more") }
        return replicas
    }

    func writeCheck() throws -> Bool {
        try Settings.resolve(redisWriteCheck, env: "SYMBOLSTREAM_REDIS_WRITE_CHECK", default: true)
    }

    /// The layout of the deployment's keys: prefix and shard count.
    func layout() throws -> RedisLayout {
        RedisLayout(prefix: try prefix(), shards: try shardCount())
    }

    func prefix() throws -> String {
        let prefix = try Settings.resolve(redisPrefix, env: "SYMBOLSTREAM_REDIS_PREFIX", default: "ss:")
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.-")
        guard prefix.count <= 32, prefix.allSatisfy(allowed.contains) else {
            throw ValidationError("--redis-prefix: up to 32 of the characters A-Z a-z 0-9 : _ . -")
        }
        return prefix
    }

    func mariadb() throws -> MariaDBConfiguration {
        var configuration = MariaDBConfiguration()
        configuration.host = try Settings.resolve(mariadbHost, env: "SYMBOLSTREAM_MARIADB_HOST", default: "127.0.0.1")
        configuration.port = try Settings.resolve(mariadbPort, env: "SYMBOLSTREAM_MARIADB_PORT", default: 3306)
        configuration.unixSocket = try Settings.resolve(mariadbSocket, env: "SYMBOLSTREAM_MARIADB_SOCKET")
        configuration.user = try Settings.resolve(mariadbUser, env: "SYMBOLSTREAM_MARIADB_USER", default: "og")
        configuration.password = try Settings.resolve(mariadbPassword, env: "SYMBOLSTREAM_MARIADB_PASSWORD", default: "og")
        configuration.database = try Settings.resolve(mariadbDatabase, env: "SYMBOLSTREAM_MARIADB_DATABASE", default: "og")
        return configuration
    }

    /// Logs go to stderr with their metadata, at the chosen level.
    func makeLogger(label: String) throws -> Logger {
        let name = try Settings.resolve(logLevel, env: "SYMBOLSTREAM_LOG_LEVEL", default: "info")
        guard let level = Logger.Level(rawValue: name) else {
            throw ValidationError("--log-level: one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        LoggingSystem.bootstrap { label in
            var handler = DeferredMetadataLogHandler(StreamLogHandler.standardError(label: label))
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: label)
        logger.logLevel = level
        return logger
    }
}

/// The archiver's settings, shared by `serve` (which runs one) and `archive`.
struct ArchiverOptions: ParsableArguments {
    @Option(help: "Archiver consumer name; keep it stable per instance (env SYMBOLSTREAM_ARCHIVER_CONSUMER; default archiver).")
    var archiverConsumer: String?
    @Option(help: "Log entries (ingest batches) per archive transaction (env SYMBOLSTREAM_ARCHIVE_BATCH; default 200).")
    var archiveBatch: Int?
    @Option(help: "Seconds another archiver's entries may stay unacknowledged before this one takes them over; keep it well above the time one batch takes (env SYMBOLSTREAM_ARCHIVER_TAKEOVER_AFTER; default 60).")
    var archiverTakeoverAfter: Double?

    func configuration() throws -> ArchiverConfiguration {
        var configuration = ArchiverConfiguration()
        configuration.consumer = try Settings.resolve(archiverConsumer, env: "SYMBOLSTREAM_ARCHIVER_CONSUMER", default: "archiver")
        configuration.entriesPerRead = try Settings.resolve(archiveBatch, env: "SYMBOLSTREAM_ARCHIVE_BATCH", default: 200)
        guard (1...10_000).contains(configuration.entriesPerRead) else { throw ValidationError("--archive-batch must be within 1...10000") }
        let takeover = try Settings.resolve(archiverTakeoverAfter, env: "SYMBOLSTREAM_ARCHIVER_TAKEOVER_AFTER", default: 60)
        guard (1...86_400).contains(takeover) else { throw ValidationError("--archiver-takeover-after must be within 1...86400 seconds") }
        configuration.abandonedAfter = .milliseconds(Int64(takeover * 1000))
        return configuration
    }
}

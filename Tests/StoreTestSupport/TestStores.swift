import Foundation
import Logging
import MariaDBClient
import RedisClient
import RedisStore
import SymbolStreamCore
import TestSupport

/// The real Redis and MariaDB that store tests use: the ones named by the
/// `SYMBOLSTREAM_*` environment (as ./test.sh exports), or else the `test`
/// profile of provisioning/stores.sh, started on demand. Each test isolates
/// itself with its own Redis key prefix and its own MariaDB database.
package enum TestStores {
    package static let environment: [String: String] = {
        var values = ProcessInfo.processInfo.environment
        guard values["SYMBOLSTREAM_REDIS_PORT"] == nil else { return values }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let script = root.appendingPathComponent("provisioning/stores.sh").path
        // Through ChildProcess (posix_spawn + waitpid), like every test server:
        // Foundation's Process waits for a SIGCHLD that the test runner blocks.
        let status = (try? ChildProcess.run("/bin/bash", [script, "start", "--profile", "test"], output: .inherit)) ?? -1
        let envFile = root.appendingPathComponent(".data/test/env").path
        guard status == 0, let text = try? String(contentsOfFile: envFile, encoding: .utf8) else {
            fatalError("provisioning/stores.sh start --profile test failed; run ./test.sh")
        }
        for line in text.split(separator: "\n") {
            var line = line.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("export ") { line.removeFirst("export ".count) }
            guard let equals = line.firstIndex(of: "=") else { continue }
            var value = String(line[line.index(after: equals)...])
            if value.count >= 2, value.first == "'" || value.first == "\"", value.last == value.first {
                value = String(value.dropFirst().dropLast())
            }
            values[String(line[..<equals])] = value
        }
        return values
    }()

    package static var redis: RedisConfiguration {
        var configuration = RedisConfiguration()
        configuration.host = environment["SYMBOLSTREAM_REDIS_HOST"] ?? "127.0.0.1"
        configuration.port = Int(environment["SYMBOLSTREAM_REDIS_PORT"] ?? "") ?? 6379
        configuration.password = environment["SYMBOLSTREAM_REDIS_PASSWORD"].flatMap { $0.isEmpty ? nil : $0 }
        configuration.commandTimeout = .seconds(10)
        return configuration
    }

    package static func mariadb(database: String) -> MariaDBConfiguration {
        var configuration = MariaDBConfiguration()
        configuration.host = environment["SYMBOLSTREAM_MARIADB_HOST"] ?? "127.0.0.1"
        configuration.port = Int(environment["SYMBOLSTREAM_MARIADB_PORT"] ?? "") ?? 3306
        configuration.user = environment["SYMBOLSTREAM_MARIADB_USER"] ?? "og"
        configuration.password = environment["SYMBOLSTREAM_MARIADB_PASSWORD"] ?? "og"
        configuration.database = database
        return configuration
    }

    /// A name no other test uses: `<base>_<random>`.
    package static func uniqueName(_ base: String) -> String {
        base + "_" + String(UInt64.random(in: 0..<UInt64.max), radix: 36)
    }

    package static let logger: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return logger
    }()

    /// Shards of the layout store tests use: the cluster default, so that
    /// every test exercises a batch split over shards, even on one server
    /// (`SYMBOLSTREAM_TEST_SHARDS` to try another count).
    package static let shards = environment["SYMBOLSTREAM_TEST_SHARDS"].flatMap { Int($0) } ?? 16

    /// A running client for a fresh key prefix, the store on it, and the
    /// layout; the client is shut down when `body` returns.
    package static func withRedisStore<T: Sendable>(
        shards: Int = TestStores.shards, idempotencyWindow: Int64 = IdempotencyKey.defaultWindowSeconds,
        _ body: @Sendable (RedisEventStore) async throws -> T
    ) async throws -> T {
        let layout = RedisLayout(prefix: uniqueName("t") + ":", shards: shards)
        let client = RedisClient(configuration: redis, logger: logger, onConnect: RedisStoreClient.prepare)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            defer { group.cancelAll() }
            try await client.waitUntilAvailable(timeout: .seconds(60))
            let store = RedisEventStore(redis: RedisStoreClient(redis: client, layout: layout), idempotencyWindow: idempotencyWindow)
            do {
                let result = try await body(store)
                try await store.deleteAllKeys()
                return result
            } catch {
                try? await store.deleteAllKeys()
                throw error
            }
        }
    }

    /// A fresh MariaDB database (created and dropped around `body`) and a pool on it.
    package static func withDatabase<T: Sendable>(_ body: @Sendable (MariaDBPool, String) async throws -> T) async throws -> T {
        let name = uniqueName("og_t")
        let admin = MariaDBPool(configuration: mariadb(database: "og"), size: 1, logger: logger)
        try await admin.withConnection { try $0.execute("CREATE DATABASE `\(name)`") }
        let pool = MariaDBPool(configuration: mariadb(database: name), size: 2, logger: logger)
        do {
            let result = try await body(pool, name)
            await pool.shutdown()
            try await admin.withConnection { try $0.execute("DROP DATABASE `\(name)`") }
            await admin.shutdown()
            return result
        } catch {
            await pool.shutdown()
            _ = try? await admin.withConnection { try $0.execute("DROP DATABASE `\(name)`") }
            await admin.shutdown()
            throw error
        }
    }
}

extension RedisEventStore {
    /// The client under the store, for tests that send commands of their own
    /// (store tests run on one server).
    package var client: RedisClient { redis.redis as! RedisClient }
    /// The admin commands on this store's keys.
    package var admin: RedisAdmin { RedisAdmin(redis: redis) }
    /// The event log of this store's keys.
    package var log: RedisEventLog { RedisEventLog(redis: redis) }

    /// Every key under this store's prefix, for tests.
    package func deleteAllKeys() async throws {
        var cursor = "0"
        repeat {
            let reply = try await client.send(RedisCommand("SCAN", RedisArgument(cursor), "MATCH", RedisArgument(layout.prefix + "*"), "COUNT", 1000))
            guard let parts = reply.array, let next = parts.first?.string, let keys = parts.last?.array else { return }
            if !keys.isEmpty { _ = try await client.send(RedisCommand(arguments: ["DEL"] + keys.compactMap(\.bytes).map { RedisArgument(bytes: $0) })) }
            cursor = next
        } while cursor != "0"
    }

    /// Every key under this store's prefix (names without the prefix; binary
    /// parts of uuid-map keys are not valid UTF-8, see `rawKeys`).
    package func keys() async throws -> [String] {
        try await rawKeys().map { String(decoding: $0.dropFirst(layout.prefix.utf8.count), as: UTF8.self) }
    }

    /// Every key under this store's prefix, as stored.
    package func rawKeys() async throws -> [[UInt8]] {
        var cursor = "0"
        var result = [[UInt8]]()
        repeat {
            let reply = try await client.send(RedisCommand("SCAN", RedisArgument(cursor), "MATCH", RedisArgument(layout.prefix + "*"), "COUNT", 1000))
            guard let parts = reply.array, let next = parts.first?.string, let keys = parts.last?.array else { break }
            result += keys.compactMap(\.bytes)
            cursor = next
        } while cursor != "0"
        return result
    }
}

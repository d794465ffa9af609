import Foundation
import Logging
import MariaDBClient
import Testing

/// The MariaDB the tests run against: the one named by the
/// `SYMBOLSTREAM_MARIADB_*` environment, or (when `SYMBOLSTREAM_MARIADB_PORT`
/// is unset) a throwaway server started for the suite and destroyed after it.
/// Each test works in a database of its own, `<database>_c<random>`
/// (the provisioning scripts grant the user every `<database>_%` database).
final class TestDatabase: Sendable {
    let configuration: MariaDBConfiguration
    private let server: MariaDBTestServer?

    @TaskLocal static var current: TestDatabase?

    static var shared: TestDatabase {
        guard let current else { fatalError("run inside a suite with the .mariaDB trait") }
        return current
    }

    private init(configuration: MariaDBConfiguration, server: MariaDBTestServer?) {
        self.configuration = configuration
        self.server = server
    }

    static func make() async throws -> TestDatabase {
        let environment = ProcessInfo.processInfo.environment
        if let port = environment["SYMBOLSTREAM_MARIADB_PORT"].flatMap({ Int($0) }) {
            var configuration = MariaDBConfiguration()
            configuration.host = environment["SYMBOLSTREAM_MARIADB_HOST"] ?? "127.0.0.1"
            configuration.port = port
            configuration.user = environment["SYMBOLSTREAM_MARIADB_USER"] ?? "og"
            configuration.password = environment["SYMBOLSTREAM_MARIADB_PASSWORD"] ?? "og"
            configuration.database = environment["SYMBOLSTREAM_MARIADB_DATABASE"] ?? "og"
            return TestDatabase(configuration: configuration, server: nil)
        }
        let server = try await MariaDBTestServer.start()
        return TestDatabase(configuration: server.configuration, server: server)
    }

    func destroy() {
        server?.destroy()
    }

    static let logger: Logger = {
        var logger = Logger(label: "mariadb-client-tests")
        logger.logLevel = .error
        return logger
    }()

    /// A fresh database, and the configuration pointing at it; dropped after `body`.
    /// The blocking C calls run off Swift concurrency's pool: with two cores it has
    /// two threads, and a CREATE or DROP DATABASE waiting on an fsync there stalls
    /// every other test in the process.
    func withScratchDatabase<T>(_ body: (MariaDBConfiguration) async throws -> T) async throws -> T {
        let name = "\(configuration.database)_c\(String(UInt64.random(in: 0..<UInt64.max), radix: 36))"
        try await Self.onAdminConnection(configuration, "CREATE DATABASE `\(name)` CHARACTER SET utf8mb4")
        var scratch = configuration
        scratch.database = name
        do {
            let result = try await body(scratch)
            try? await Self.onAdminConnection(configuration, "DROP DATABASE `\(name)`")
            return result
        } catch {
            try? await Self.onAdminConnection(configuration, "DROP DATABASE `\(name)`")
            throw error
        }
    }

    private static func onAdminConnection(_ configuration: MariaDBConfiguration, _ statement: String) async throws {
        try await MariaDBTestServer.offPool {
            try MariaDBConnection(configuration: configuration).execute(statement)
        }
    }

    /// A fresh database and a pool on it.
    func withPool<T: Sendable>(size: Int = 2, _ body: (MariaDBPool) async throws -> T) async throws -> T {
        try await withScratchDatabase { configuration in
            let pool = MariaDBPool(configuration: configuration, size: size, logger: Self.logger)
            do {
                let result = try await body(pool)
                await pool.shutdown()
                return result
            } catch {
                await pool.shutdown()
                throw error
            }
        }
    }

    /// A fresh database and a connection on it (for the synchronous API).
    /// `body` runs on a thread of its own, off Swift concurrency's pool.
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (MariaDBConnection) throws -> T) async throws -> T {
        try await withScratchDatabase { configuration in
            try await MariaDBTestServer.offPool {
                try body(MariaDBConnection(configuration: configuration))
            }
        }
    }
}

/// Provides ``TestDatabase/current`` to every test of the suite it marks.
struct MariaDBServerTrait: SuiteTrait, TestScoping {
    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let database = try await TestDatabase.make()
        defer { database.destroy() }
        try await TestDatabase.$current.withValue(database) {
            try await function()
        }
    }
}

extension Trait where Self == MariaDBServerTrait {
    static var mariaDB: Self { Self() }
}

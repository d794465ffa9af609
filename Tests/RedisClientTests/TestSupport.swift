import Foundation
import Logging
import NIOCore
import RedisClient
import Testing

/// Where the tests find Redis: `SYMBOLSTREAM_REDIS_HOST/PORT/PASSWORD` when
/// `SYMBOLSTREAM_REDIS_PORT` is set, else a throwaway server per test. Tests that must
/// stop, pause or reconfigure the server always start their own.
enum TestRedis {
    static let logger: Logger = {
        var logger = Logger(label: "RedisClientTests")
        logger.logLevel = .error
        return logger
    }()

    static var externalConfiguration: RedisConfiguration? {
        let environment = ProcessInfo.processInfo.environment
        guard let portText = environment["SYMBOLSTREAM_REDIS_PORT"], let port = Int(portText) else { return nil }
        var configuration = RedisConfiguration()
        configuration.host = environment["SYMBOLSTREAM_REDIS_HOST"].flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1"
        configuration.port = port
        configuration.password = environment["SYMBOLSTREAM_REDIS_PASSWORD"].flatMap { $0.isEmpty ? nil : $0 }
        configuration.commandTimeout = commandTimeout
        return configuration
    }

    /// Like the store tests': with every suite starting at once on two cores, a
    /// command (or a handshake) can outlive the 750 ms default. Tests about the
    /// timeout set their own.
    static let commandTimeout: TimeAmount = .seconds(10)

    /// A server can be had: an external one, or redis-server to start.
    static var isAvailable: Bool { externalConfiguration != nil || RedisTestServer.isAvailable }

    static func configuration(for server: RedisTestServer) -> RedisConfiguration {
        RedisConfiguration(host: server.host, port: server.port, password: server.password, commandTimeout: commandTimeout)
    }

    /// Runs `body` against the external server, or a throwaway one.
    static func withConfiguration<T>(_ body: (RedisConfiguration) async throws -> T) async throws -> T {
        if let configuration = externalConfiguration {
            return try await body(configuration)
        }
        return try await RedisTestServer.with { server in
            try await body(configuration(for: server))
        }
    }

    /// Runs the client's `run()` for the duration of `body`, then cancels it and waits
    /// for it to finish.
    static func withRunningClient<T>(_ client: RedisClient, _ body: () async throws -> T) async throws -> T {
        let service = Task { try await client.run() }
        do {
            let result = try await body()
            service.cancel()
            try await service.value
            return result
        } catch {
            service.cancel()
            _ = try? await service.value
            throw error
        }
    }

    /// A key no other test (or earlier run on an external server) uses.
    static func key(_ name: String) -> String {
        "redisclient-test:\(UUID().uuidString):\(name)"
    }
}

/// The error `body` throws, as a `RedisClientError`; records an issue when it throws
/// something else or nothing.
func redisError<T>(
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> T
) async -> RedisClientError? {
    do {
        let value = try await body()
        Issue.record("expected a RedisClientError, got \(value)", sourceLocation: sourceLocation)
        return nil
    } catch let error as RedisClientError {
        return error
    } catch {
        Issue.record("expected a RedisClientError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

extension RedisClientError {
    var isUnavailable: Bool {
        if case .unavailable = self { true } else { false }
    }
}

extension RedisClient {
    /// Polls until a pool connection is live. No deadline of its own (how long a
    /// connect takes on a loaded machine is not what these tests check): the
    /// suites' time limits end a hang.
    func waitUntilConnected() async throws {
        while !isAvailable { try await Task.sleep(for: .milliseconds(5)) }
    }
}

import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A few MariaDB connections and the threads that run them.
///
/// Connector/C blocks, so its calls run on the pool's own `NIOThreadPool`
/// (`size` threads), never on an event loop or Swift concurrency's
/// cooperative threads. Each thread uses at most one connection at a time,
/// so there are never more than `size` connections. Connections are opened
/// on demand and reused; one that failed with a connection-level error is
/// dropped, and the next call opens a new one, so the pool outlives restarts
/// of the server. A connection idle for more than
/// ``MariaDBConfiguration/idlePingSeconds`` is pinged before reuse.
package final class MariaDBPool: Sendable {
    package let configuration: MariaDBConfiguration
    package let size: Int
    private let threadPool: NIOThreadPool
    private let logger: Logger
    private let state = NIOLockedValueBox(State())

    private struct State: Sendable {
        var idle: [IdleConnection] = []
        var isShutDown = false
        /// Whether the last attempt to reach the server worked; logged on change only.
        var isReachable = true
    }

    package init(configuration: MariaDBConfiguration, size: Int = 2, logger: Logger) {
        self.configuration = configuration
        self.size = max(size, 1)
        self.logger = logger
        threadPool = NIOThreadPool(numberOfThreads: self.size)
        threadPool.start()
    }

    deinit {
        // NIOThreadPool asserts that it was shut down before it goes away.
        if !state.withLockedValue({ $0.isShutDown }) {
            threadPool.shutdownGracefully { _ in }
        }
    }

    /// Runs `body` with a connection on one of the pool's threads and returns
    /// its result. `body` may block; it must not keep the connection.
    ///
    /// A connection is returned to the pool after `body`; if `body` left a
    /// transaction open it is rolled back first. Errors from `body` are
    /// rethrown; a connection-level one (``MariaDBError/isConnectionError``)
    /// also discards the connection.
    @discardableResult
    package func withConnection<T: Sendable>(
        _ body: @escaping @Sendable (MariaDBConnection) throws -> T
    ) async throws -> T {
        guard !state.withLockedValue({ $0.isShutDown }) else { throw Self.shutDownError }
        do {
            return try await threadPool.runIfActive {
                let connection = try self.checkOut()
                let result = Result { try body(connection) }
                self.checkIn(connection, after: result.failure)
                return try result.get()
            }
        } catch is CancellationError where state.withLockedValue({ $0.isShutDown }) {
            // The thread pool drops queued work when it shuts down.
            throw Self.shutDownError
        }
    }

    /// Closes the idle connections and stops the threads after the work in
    /// progress. Later calls fail.
    package func shutdown() async {
        let idle: [IdleConnection]? = state.withLockedValue { state in
            guard !state.isShutDown else { return nil }
            state.isShutDown = true
            defer { state.idle = [] }
            return state.idle
        }
        guard let idle else { return }
        // mysql_close writes to the socket: do it on a pool thread.
        _ = try? await threadPool.runIfActive { idle.forEach { $0.close() } }
        try? await threadPool.shutdownGracefully()
        logger.debug("MariaDB pool shut down", metadata: ["database": "\(configuration)"])
    }

    // MARK: - Internals (on pool threads)

    static let shutDownError = MariaDBError.usage("the MariaDB pool is shut down")

    private func checkOut() throws -> MariaDBConnection {
        while true {
            let idle = try state.withLockedValue { state -> IdleConnection? in
                guard !state.isShutDown else { throw Self.shutDownError }
                return state.idle.popLast()
            }
            guard let idle else { break }
            let connection = idle.take()
            let idleFor = NIODeadline.now() - idle.since
            if idleFor < .seconds(Int64(configuration.idlePingSeconds)) || connection.ping() {
                return connection
            }
            logger.debug("dropped a stale MariaDB connection", metadata: ["idle_seconds": "\(idleFor.nanoseconds / 1_000_000_000)"])
        }
        do {
            let connection = try MariaDBConnection(configuration: configuration)
            noteReachable(true, error: nil)
            logger.debug("opened a MariaDB connection", metadata: ["database": "\(configuration)"])
            return connection
        } catch let error as MariaDBError {
            noteReachable(!error.isConnectionError, error: error)
            throw error
        }
    }

    private func checkIn(_ connection: MariaDBConnection, after error: (any Error)?) {
        if let error = error as? MariaDBError, error.isConnectionError {
            noteReachable(false, error: error)
            // The others most likely talk to the same dead server: drop them
            // too rather than fail one more call each.
            let stale = state.withLockedValue { state in
                defer { state.idle = [] }
                return state.idle
            }
            stale.forEach { $0.close() }
        }
        guard connection.isOpen else {
            logger.debug("dropped a MariaDB connection", metadata: ["error": "\(error.map { "\($0)" } ?? "closed")"])
            return
        }
        if connection.isInTransaction {
            logger.warning("a MariaDB connection came back inside a transaction; rolled back")
            do { try connection.rollback() } catch { return }
        }
        let entry = IdleConnection(connection)
        let accepted = state.withLockedValue { state in
            guard !state.isShutDown else { return false }
            state.idle.append(entry)
            return true
        }
        if !accepted { entry.close() }
    }

    private func noteReachable(_ reachable: Bool, error: MariaDBError?) {
        let changed = state.withLockedValue { state in
            defer { state.isReachable = reachable }
            return state.isReachable != reachable
        }
        guard changed else { return }
        if reachable {
            logger.notice("MariaDB is reachable again", metadata: ["database": "\(configuration)"])
        } else {
            logger.warning(
                "MariaDB is unreachable", metadata: ["database": "\(configuration)", "error": "\(error.map { "\($0)" } ?? "")"])
        }
    }
}

/// An idle connection on its way between pool threads.
///
/// `@unchecked Sendable` is sound because a connection is reachable either
/// from the pool's idle list (under its lock) or from the one closure using
/// it, never both: `take()` is called once, after the entry left the list.
private final class IdleConnection: @unchecked Sendable {
    private var connection: MariaDBConnection?
    let since = NIODeadline.now()

    init(_ connection: MariaDBConnection) {
        self.connection = connection
    }

    func take() -> MariaDBConnection {
        defer { connection = nil }
        return connection!
    }

    func close() {
        connection?.close()
        connection = nil
    }
}

extension Result {
    fileprivate var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

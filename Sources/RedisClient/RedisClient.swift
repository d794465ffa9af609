public import Logging
public import NIOCore
import NIOConcurrencyHelpers
import NIOPosix
public import ServiceLifecycle
import Synchronization

/// A pool of pipelined connections to one Redis server, run as a service.
///
/// `run()` opens ``RedisConfiguration/connectionCount`` connections spread over the event
/// loops, replaces any that drop (retrying with a backoff from 50 ms up to 500 ms, so
/// service resumes well within a second of Redis coming back), and closes them on
/// graceful shutdown or cancellation. Commands go round-robin to the live connections;
/// while there is none, they fail at once with ``RedisClientError/unavailable(_:)``
/// rather than wait, so callers can answer "503" quickly.
package final class RedisClient: Service, Sendable {
    static let initialBackoff: Duration = .milliseconds(50)
    static let maximumBackoff: Duration = .milliseconds(500)

    package let configuration: RedisConfiguration
    private let eventLoopGroup: any EventLoopGroup
    /// Slot `i` always lives on `eventLoops[i % count]`, so a reconnect cannot pile two
    /// connections on one loop while another sits idle.
    private let eventLoops: [any EventLoop]
    private let logger: Logger
    private let onConnect: (@Sendable (RedisConnection) async throws -> Void)?
    private let slotCount: Int
    private let state: NIOLockedValueBox<State>
    /// Times the reconnect backoff (a manual clock in tests).
    private let clock: any Clock<Duration>
    /// Hands out lanes in turn to callers off the pool's event loops.
    private let nextOffLoopLane = Atomic<UInt>(0)

    private struct State {
        var slots: [RedisConnection?]
        /// The non-nil slots, kept apart so that picking a connection is an index.
        var live: [RedisConnection] = []
        /// The same by event loop (slot `i` lives on loop `i % liveByLoop.count`).
        var liveByLoop: [[RedisConnection]]
        var next: UInt = 0
        var isRunning = false
        var unavailableReason = "not connected yet"

        mutating func setSlot(_ slot: Int, _ connection: RedisConnection?) {
            self.slots[slot] = connection
            self.live = self.slots.compactMap { $0 }
            for loop in self.liveByLoop.indices {
                self.liveByLoop[loop] = stride(from: loop, to: self.slots.count, by: self.liveByLoop.count).compactMap { self.slots[$0] }
            }
        }
    }

    /// - Parameter onConnect: Runs on every new pool connection before it takes commands
    ///   (e.g. `FUNCTION LOAD REPLACE`). If it throws, the connection is dropped and
    ///   retried like a failed connect. Dedicated connections do not run it.
    /// - Parameter clock: Times the backoff between reconnect attempts.
    package init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        clock: any Clock<Duration> = ContinuousClock(),
        onConnect: (@Sendable (RedisConnection) async throws -> Void)? = nil
    ) {
        self.configuration = configuration
        self.clock = clock
        self.eventLoopGroup = eventLoopGroup
        let eventLoops = Array(eventLoopGroup.makeIterator())
        self.eventLoops = eventLoops.isEmpty ? [eventLoopGroup.next()] : eventLoops
        self.logger = logger
        self.onConnect = onConnect
        self.slotCount = max(1, configuration.connectionCount)
        self.state = NIOLockedValueBox(
            State(slots: Array(repeating: nil, count: self.slotCount), liveByLoop: Array(repeating: [], count: self.eventLoops.count)))
    }

    /// Keeps the pool connected until graceful shutdown or cancellation, then closes the
    /// connections, letting the commands in flight finish (each bounded by its timeout).
    package func run() async throws {
        let alreadyRunning = self.state.withLockedValue { state in
            defer { state.isRunning = true }
            return state.isRunning
        }
        precondition(!alreadyRunning, "RedisClient.run() called while it is already running")
        let slotCount = self.slotCount

        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for slot in 0..<slotCount {
                    group.addTask { await self.maintain(slot: slot) }
                }
            }
        }

        self.state.withLockedValue { state in
            state.isRunning = false
            state.unavailableReason = "client stopped"
            for slot in state.slots.indices { state.setSlot(slot, nil) }
        }
    }

    /// Connects one slot and reconnects it whenever its connection drops.
    private func maintain(slot: Int) async {
        let eventLoop = self.eventLoops[slot % self.eventLoops.count]
        var logger = self.logger
        logger[metadataKey: "redis.slot"] = "\(slot)"
        var backoff = Self.initialBackoff
        var failedAttempts = 0

        while !Task.isCancelled {
            do {
                let connection = try await RedisConnection.connect(
                    configuration: self.configuration,
                    eventLoop: eventLoop,
                    logger: logger
                )
                if let onConnect = self.onConnect {
                    do {
                        try await onConnect(connection)
                    } catch {
                        await connection.close()
                        throw error
                    }
                }
                if Task.isCancelled {
                    await connection.close()
                    return
                }
                self.state.withLockedValue { $0.setSlot(slot, connection) }
                if failedAttempts > 0 {
                    logger.info("Redis connection restored", metadata: ["failed_attempts": "\(failedAttempts)"])
                } else {
                    logger.debug("Redis connection ready")
                }
                failedAttempts = 0
                backoff = Self.initialBackoff

                await connection.waitUntilClosed()
                self.state.withLockedValue { state in
                    state.setSlot(slot, nil)
                    if state.live.isEmpty { state.unavailableReason = "connection to Redis lost; reconnecting" }
                }
                if Task.isCancelled { return }
                logger.warning("Redis connection lost; reconnecting")
                // Straight back: one dropped connection (a timeout, say) says little about
                // the server, and a refused connect fails fast anyway.
                continue
            } catch {
                failedAttempts += 1
                self.state.withLockedValue { state in
                    if state.live.isEmpty { state.unavailableReason = "\(error)" }
                }
                // One warning per outage; the retries are only worth a debug line.
                if failedAttempts == 1 {
                    logger.warning("Redis connect failed; retrying", metadata: ["error": "\(error)"])
                } else {
                    logger.debug("Redis connect failed; retrying", metadata: ["error": "\(error)"])
                }
            }
            try? await self.clock.sleep(for: backoff)
            backoff = min(backoff * 2, Self.maximumBackoff)
        }
    }

    /// How many event loops the pool's connections are spread over: callers
    /// that batch per loop (see ``currentLane``) keep this many batches.
    package var laneCount: Int { min(self.eventLoops.count, self.slotCount) }

    /// The caller's lane, in `0..<laneCount`: on an event loop that holds pool
    /// connections, that loop's lane; anywhere else, the lanes in turn.
    ///
    /// A caller is on a loop when a channel handler calls, or when Swift's
    /// concurrency runs on NIO's loops: `serve` installs NIO as the global
    /// executor (`NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor`),
    /// so every request handler runs on a loop and its batch goes out, and
    /// comes back, on that loop's connection. Without that (tests, or the
    /// install refused) callers run on the cooperative pool: taking lanes in
    /// turn still spreads them over every lane, so callers batch as many at
    /// once as on the loops, only with a thread hop per call. Nothing breaks
    /// either way; only the hop differs (see `LoopAffinityTests`).
    package var currentLane: Int {
        if let loop = self.currentLoop, loop < self.laneCount { return loop }
        let lanes = UInt(self.laneCount)
        if lanes == 1 { return 0 }
        return Int(self.nextOffLoopLane.wrappingAdd(1, ordering: .relaxed).oldValue % lanes)
    }

    /// The index of the pool's event loop the caller runs on, if any (nil with one loop:
    /// there is nothing to choose).
    private var currentLoop: Int? {
        self.eventLoops.count > 1 ? self.eventLoops.firstIndex(where: { $0.inEventLoop }) : nil
    }

    private func nextConnection() throws(RedisClientError) -> RedisConnection {
        // A connection on the caller's own event loop when there is a live one: the
        // command is written, and its reply resumes the caller, without waking
        // another thread.
        let loop = self.currentLoop
        // NIOLockedValueBox rethrows untyped errors, so the outcome travels as a Result.
        let picked: Result<RedisConnection, RedisClientError> = self.state.withLockedValue { state in
            guard !state.live.isEmpty else { return .failure(.unavailable(state.unavailableReason)) }
            state.next &+= 1
            if let loop, !state.liveByLoop[loop].isEmpty {
                let local = state.liveByLoop[loop]
                return .success(local[Int(state.next % UInt(local.count))])
            }
            return .success(state.live[Int(state.next % UInt(state.live.count))])
        }
        return try picked.get()
    }

    /// Sends one command on the next live connection.
    ///
    /// - Throws: ``RedisClientError/unavailable(_:)`` at once when no connection is live;
    ///   ``RedisClientError/server(_:)`` for an error reply; otherwise see
    ///   ``RedisClientError``.
    @discardableResult
    package func send(_ command: RedisCommand) async throws -> RESPValue {
        var attempts = 0
        while true {
            let connection = try self.nextConnection()
            do {
                return try await connection.send(command)
            } catch RedisClientError.unavailable where attempts < self.slotCount {
                // The connection closed before the command was written (it is not yet out
                // of the pool); the command never left, so another connection may take it.
                attempts += 1
            }
        }
    }

    /// Sends commands on one connection in one flush; replies in order, error replies in
    /// place (see ``RedisConnection/pipeline(_:)``).
    package func pipeline(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        var attempts = 0
        while true {
            let connection = try self.nextConnection()
            do {
                return try await connection.pipeline(commands)
            } catch RedisClientError.unavailable where attempts < self.slotCount {
                attempts += 1
            }
        }
    }

    /// Whether a connection is live right now.
    package var isAvailable: Bool {
        self.state.withLockedValue { !$0.live.isEmpty }
    }

    /// How many of the pool's connections are live right now (for health reports).
    package var liveConnectionCount: Int {
        self.state.withLockedValue { $0.live.count }
    }

    /// Waits until a connection is live (for CLI tools and tests; servers should answer
    /// 503 instead of waiting).
    ///
    /// - Throws: ``RedisClientError/unavailable(_:)`` after `timeout`, `CancellationError`.
    package func waitUntilAvailable(timeout: Duration) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while !self.isAvailable {
            guard clock.now < deadline else {
                let reason = self.state.withLockedValue { $0.unavailableReason }
                throw RedisClientError.unavailable("no connection within \(timeout): \(reason)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Runs `body` with a fresh connection of its own, closed afterwards: for blocking
    /// commands (`XREADGROUP … BLOCK`) that would stall every command pipelined behind
    /// them on a pool connection. Give such commands a ``RedisCommand/timeout`` longer
    /// than their block time.
    ///
    /// Cancelling the task closes the connection at once, which ends a blocking command
    /// in flight with ``RedisClientError/connectionClosed``. Works whether or not `run()`
    /// is running; `onConnect` is not called.
    package func withDedicatedConnection<T: Sendable>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (RedisConnection) async throws -> T
    ) async throws -> T {
        let connection = try await RedisConnection.connect(
            configuration: self.configuration,
            eventLoop: self.eventLoopGroup.next(),
            logger: self.logger
        )
        let result: T
        do {
            result = try await withTaskCancellationHandler {
                try await body(connection)
            } onCancel: {
                connection.closeNow()
            }
        } catch {
            await connection.close()
            throw error
        }
        await connection.close()
        return result
    }
}

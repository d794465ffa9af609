public import Logging
public import NIOCore
import NIOPosix

/// One connection to Redis. Any number of tasks may send on it at once: commands are
/// pipelined and their replies matched in order.
///
/// A command cannot be taken back once sent, so `send` does not react to task
/// cancellation; the command timeout bounds every wait instead.
package final class RedisConnection: Sendable {
    private let channel: any Channel
    private let handler: NIOLoopBound<RedisCommandHandler>
    private let inbox: RequestInbox
    private let commandTimeout: TimeAmount
    private let logger: Logger

    /// The event loop this connection's I/O runs on.
    package var eventLoop: any EventLoop { self.channel.eventLoop }

    private init(
        channel: any Channel,
        handler: NIOLoopBound<RedisCommandHandler>,
        inbox: RequestInbox,
        commandTimeout: TimeAmount,
        logger: Logger
    ) {
        self.channel = channel
        self.handler = handler
        self.inbox = inbox
        self.commandTimeout = commandTimeout
        self.logger = logger
    }

    /// Connects, then authenticates and selects the database as configured.
    ///
    /// - Throws: ``RedisClientError/unavailable(_:)`` when Redis cannot be reached or does
    ///   not answer in time; ``RedisClientError/server(_:)`` when it refuses (wrong
    ///   password, `NOAUTH`, bad database).
    package static func connect(
        configuration: RedisConfiguration,
        eventLoop: any EventLoop,
        logger: Logger
    ) async throws -> RedisConnection {
        let endpoint = "\(configuration.host):\(configuration.port)"
        var logger = logger
        logger[metadataKey: "redis.endpoint"] = "\(endpoint)"
        let inbox = RequestInbox()
        let handlerLogger = logger
        let channel: any Channel
        let handler: NIOLoopBound<RedisCommandHandler>
        do {
            (channel, handler) = try await ClientBootstrap(group: eventLoop)
                // No channel options of our own: ClientBootstrap already sets TCP_NODELAY
                // (with `.tcpOption`). A `.socketOption(.tcp_nodelay)` here was SOL_SOCKET
                // option 1, SO_DEBUG, which the kernel refuses to every user but root.
                .connectTimeout(configuration.connectTimeout)
                .connect(host: configuration.host, port: configuration.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        (channel, try Self.addHandlers(to: channel, inbox: inbox, logger: handlerLogger))
                    }
                }
        } catch {
            throw RedisClientError.unavailable("cannot connect to Redis at \(endpoint): \(error)")
        }

        let connection = RedisConnection(
            channel: channel,
            handler: handler,
            inbox: inbox,
            commandTimeout: configuration.commandTimeout,
            logger: logger
        )
        do {
            try await connection.handshake(configuration)
        } catch {
            connection.closeNow()
            switch error {
            case .server:
                throw error
            default:
                throw RedisClientError.unavailable("Redis at \(endpoint) did not complete the handshake: \(error)")
            }
        }
        logger.debug("Redis connection established")
        return connection
    }

    /// Sets up a new channel's pipeline: RESP decoder, encoder, command handler.
    /// Runs on the channel's event loop.
    private static func addHandlers(
        to channel: any Channel, inbox: RequestInbox, logger: Logger
    ) throws -> NIOLoopBound<RedisCommandHandler> {
        let handler = RedisCommandHandler(inbox: inbox, logger: logger)
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(ByteToMessageHandler(RedisReplyDecoder()))
        try pipeline.addHandler(RedisCommandEncoder())
        try pipeline.addHandler(handler)
        return NIOLoopBound(handler, eventLoop: channel.eventLoop)
    }

    /// A connection over a channel that is already set up, without handshake:
    /// for tests, which pass an `NIOAsyncTestingChannel` and play the server.
    static func wrapping(_ channel: any Channel, commandTimeout: TimeAmount, logger: Logger) async throws -> RedisConnection {
        let inbox = RequestInbox()
        let handler = try await channel.eventLoop.submit {
            try Self.addHandlers(to: channel, inbox: inbox, logger: logger)
        }.get()
        return RedisConnection(channel: channel, handler: handler, inbox: inbox, commandTimeout: commandTimeout, logger: logger)
    }

    /// AUTH and SELECT in one round trip, closed by a PING, which also catches a server
    /// that wants a password we do not have (`NOAUTH`) before any real command does.
    private func handshake(_ configuration: RedisConfiguration) async throws(RedisClientError) {
        var commands: [RedisCommand] = []
        if let password = configuration.password {
            if let username = configuration.username {
                commands.append(RedisCommand("AUTH", RedisArgument(username), RedisArgument(password)))
            } else {
                commands.append(RedisCommand("AUTH", RedisArgument(password)))
            }
        }
        if configuration.database != 0 {
            commands.append(RedisCommand("SELECT", RedisArgument(configuration.database)))
        }
        commands.append(RedisCommand("PING"))
        let replies: [RESPValue]
        do {
            replies = try await self.pipeline(commands)
        } catch {
            throw (error as? RedisClientError) ?? .connectionClosed
        }
        for reply in replies {
            if case .error(let message) = reply { throw .server(message) }
        }
    }

    /// Sends one command and waits for its reply.
    ///
    /// Its deadline is read from the event loop's clock, the one the command
    /// handler's watchdog checks it against (and tests advance).
    ///
    /// - Throws: ``RedisClientError/server(_:)`` for an error reply; see
    ///   ``RedisClientError`` for the rest.
    @discardableResult
    package func send(_ command: RedisCommand) async throws -> RESPValue {
        guard !command.arguments.isEmpty else { throw RedisClientError.protocolError("empty command") }
        let deadline = self.channel.eventLoop.now + (command.timeout ?? self.commandTimeout)
        return try await withReplyContinuation { continuation in
            self.submit(RedisRequest(payload: .single(command, continuation), deadline: deadline))
        }
    }

    /// Sends commands back to back in one flush and returns their replies in order.
    /// Error replies are returned in place as ``RESPValue/error(_:)``, so one failing
    /// command does not hide the others' results.
    package func pipeline(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        guard !commands.isEmpty else { return [] }
        var timeout = TimeAmount.zero
        for command in commands {
            guard !command.arguments.isEmpty else { throw RedisClientError.protocolError("empty command") }
            timeout = max(timeout, command.timeout ?? self.commandTimeout)
        }
        let deadline = self.channel.eventLoop.now + timeout
        return try await withReplyContinuation { continuation in
            self.submit(RedisRequest(payload: .pipeline(commands, continuation), deadline: deadline))
        }
    }

    /// Sends commands encoded ahead (``RedisEncodedCommands``) as they are and
    /// returns their replies in order, error replies in place as in
    /// ``pipeline(_:)-([RedisCommand])``. For bulk writes: several such calls
    /// may be in flight at once, which keeps Redis busy while the next batch
    /// is encoded.
    package func pipeline(_ commands: RedisEncodedCommands, timeout: TimeAmount? = nil) async throws -> [RESPValue] {
        guard commands.count > 0 else { return [] }
        var command = RedisCommand(arguments: [RedisArgument(bytes: Array(commands.complete.readableBytesView))])
        command.isEncoded = true
        let deadline = self.channel.eventLoop.now + (timeout ?? self.commandTimeout)
        return try await withReplyContinuation { continuation in
            self.submit(RedisRequest(payload: .encoded(command, count: commands.count, continuation), deadline: deadline))
        }
    }

    private func submit(_ request: RedisRequest) {
        switch self.inbox.enqueue(request) {
        case .queued:
            break
        case .scheduleDrain:
            let handler = self.handler
            self.channel.eventLoop.execute {
                handler.value.drainInbox()
            }
        case .rejected(let reason):
            request.fail(.unavailable(reason))
        }
    }

    /// Whether the connection still accepts commands.
    package var isActive: Bool {
        self.channel.isActive && !self.inbox.isClosed
    }

    /// Stops accepting commands, waits for the replies to those in flight (each bounded
    /// by its timeout), then closes the connection.
    package func close() async {
        self.startClosing()
        try? await self.channel.closeFuture.get()
    }

    /// Starts a graceful close without waiting for it.
    func startClosing() {
        let handler = self.handler
        self.channel.eventLoop.execute {
            handler.value.closeGracefully()
        }
    }

    /// Closes at once; commands in flight fail with ``RedisClientError/connectionClosed``.
    /// Used to abort a blocking command when its task is cancelled.
    func closeNow() {
        self.channel.close(promise: nil)
    }

    /// Waits until the connection is closed, for whatever reason. Cancelling the waiting
    /// task starts a graceful close, and the wait goes on until it is done.
    func waitUntilClosed() async {
        await withTaskCancellationHandler {
            try? await self.channel.closeFuture.get()
        } onCancel: {
            self.startClosing()
        }
    }
}

import Logging
import NIOCore

/// Encodes commands with hiredis, accumulating them in one buffer until `flush`, so that
/// a burst of commands leaves in one `write(2)` instead of one buffer (and one iovec)
/// per command.
final class RedisCommandEncoder: ChannelOutboundHandler {
    typealias OutboundIn = RedisCommand
    typealias OutboundOut = ByteBuffer

    private static let initialCapacity = 16 * 1024
    // A buffer that grew for one huge command is not kept forever.
    private static let maximumRetainedCapacity = 1024 * 1024

    private let formatter = HiredisFormatter()
    private var buffer = ByteBuffer()
    /// Completes when the accumulated bytes are written; later writes' promises cascade from it.
    private var promise: EventLoopPromise<Void>?

    init() {}

    func handlerAdded(context: ChannelHandlerContext) {
        self.buffer = context.channel.allocator.buffer(capacity: Self.initialCapacity)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.promise?.fail(ChannelError.ioOnClosedChannel)
        self.promise = nil
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let command = self.unwrapOutboundIn(data)
        do {
            if command.isEncoded {
                self.buffer.writeBytes(command.arguments[0].bytes)
            } else {
                try self.formatter.format(command.arguments, into: &self.buffer)
            }
        } catch {
            promise?.fail(error)
            // The command handler already expects a reply for this command; the
            // connection cannot be kept in step, so it must go.
            context.fireErrorCaught(error)
            return
        }
        if let promise {
            if let pending = self.promise {
                pending.futureResult.cascade(to: promise)
            } else {
                self.promise = promise
            }
        }
    }

    func flush(context: ChannelHandlerContext) {
        guard self.buffer.readableBytes > 0 else {
            context.flush()
            return
        }
        let promise = self.promise
        self.promise = nil
        context.write(self.wrapOutboundOut(self.buffer), promise: promise)
        context.flush()
        // The socket usually took everything during `flush`, so the storage is ours
        // alone again and `clear` reuses it without allocating.
        if self.buffer.capacity > Self.maximumRetainedCapacity {
            self.buffer = context.channel.allocator.buffer(capacity: Self.initialCapacity)
        } else {
            self.buffer.clear()
        }
    }
}

/// Turns bytes into replies with hiredis' reader.
struct RedisReplyDecoder: ByteToMessageDecoder {
    typealias InboundOut = RESPValue

    // hiredis compacts its buffer (memmove of the unread rest) after every 1 KiB consumed;
    // feeding it small slices keeps that copying proportional to the bytes read.
    private static let feedSize = 4 * 1024

    private let reader = HiredisReader()

    init() {}

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard buffer.readableBytes > 0 else { return .needMoreData }
        let reader = self.reader
        try buffer.readWithUnsafeReadableBytes { bytes in
            let slice = UnsafeRawBufferPointer(rebasing: bytes.prefix(Self.feedSize))
            try reader.feed(slice)
            return slice.count
        }
        while let reply = try reader.nextReply() {
            context.fireChannelRead(self.wrapInboundOut(reply))
        }
        return buffer.readableBytes > 0 ? .continue : .needMoreData
    }

    mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        // Complete replies still count; a partial one at EOF is dropped with the connection.
        try self.decode(context: context, buffer: &buffer)
    }
}

/// Matches replies to commands and keeps the connection's watchdog; the
/// bookkeeping (the FIFO of commands in flight, closing) is
/// `RedisCommandStateMachine`, and this class performs what it decides.
///
/// The watchdog is a periodic check of the oldest command in flight, which
/// replaces a timer per command (an allocation and a scheduled task for
/// every command). It reads the time from the event loop, so tests drive it
/// on an embedded loop.
final class RedisCommandHandler: ChannelInboundHandler {
    typealias InboundIn = RESPValue
    typealias OutboundOut = RedisCommand
    typealias StateMachine = RedisCommandStateMachine<ReplyContinuation<RESPValue>, ReplyContinuation<[RESPValue]>>

    static let timeoutCheckInterval: TimeAmount = .milliseconds(100)

    private let inbox: RequestInbox
    private let logger: Logger
    private var context: ChannelHandlerContext?
    private var state = StateMachine()
    private var timeoutCheck: Scheduled<Void>?

    init(inbox: RequestInbox, logger: Logger) {
        self.inbox = inbox
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive {
            self.scheduleTimeoutCheck(context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timeoutCheck?.cancel()
        self.timeoutCheck = nil
        self.context = nil
        // Normally channelInactive did this already; handler removal without it is a
        // pipeline misuse, but nobody may be left waiting either way.
        self.failEverything()
    }

    func channelActive(context: ChannelHandlerContext) {
        if self.timeoutCheck == nil {
            self.scheduleTimeoutCheck(context: context)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.timeoutCheck?.cancel()
        self.timeoutCheck = nil
        self.failEverything()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.state.replyReceived(self.unwrapInboundIn(data)) {
        case .succeed(let continuation, let reply, let thenClose):
            continuation.resume(returning: reply)
            if thenClose { context.close(promise: nil) }
        case .fail(let continuation, let error, let thenClose):
            continuation.resume(throwing: error)
            if thenClose { context.close(promise: nil) }
        case .succeedPipeline(let continuation, let replies, let thenClose):
            continuation.resume(returning: replies)
            if thenClose { context.close(promise: nil) }
        case .wait:
            break
        case .close(let failure):
            self.close(context: context, failure: failure)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let failure = (error as? RedisClientError) ?? .connectionClosed
        self.logger.debug("Redis connection error", metadata: ["error": "\(error)"])
        self.close(context: context, failure: failure)
    }

    /// Writes every request waiting in the inbox, then flushes once.
    func drainInbox() {
        let requests = self.inbox.takeAll()
        guard !requests.isEmpty else { return }
        guard let context, self.state.acceptsCommands else {
            // Closing: these were never written, so their outcome is known.
            for request in requests { request.fail(.unavailable("connection closing")) }
            return
        }
        for request in requests {
            switch request.payload {
            case .single(let command, let continuation):
                self.state.written(.single(continuation), deadline: request.deadline)
                context.write(self.wrapOutboundOut(command), promise: nil)
            case .pipeline(let commands, let continuation):
                self.state.written(.pipeline(continuation, replies: commands.count), deadline: request.deadline)
                for command in commands {
                    context.write(self.wrapOutboundOut(command), promise: nil)
                }
            case .encoded(let command, let count, let continuation):
                self.state.written(.pipeline(continuation, replies: count), deadline: request.deadline)
                context.write(self.wrapOutboundOut(command), promise: nil)
            }
        }
        // Failed writes need no promise: they close the channel, and channelInactive
        // fails everything in flight.
        context.flush()
    }

    /// Stops accepting commands and closes once the ones in flight have their replies
    /// (or time out).
    func closeGracefully() {
        guard let context else { return }
        self.drainInbox()
        for request in self.inbox.close(reason: "connection closing") {
            request.fail(.unavailable("connection closing"))
        }
        if self.state.closeGracefully() {
            context.close(promise: nil)
        }
    }

    private func close(context: ChannelHandlerContext, failure: RedisClientError) {
        self.state.fail(failure)
        for request in self.inbox.close(reason: "connection closing") {
            request.fail(.unavailable("connection closing"))
        }
        context.close(promise: nil)
    }

    private func failEverything() {
        for request in self.inbox.close(reason: "connection closed") {
            request.fail(.unavailable("connection closed"))
        }
        let (error, waiters) = self.state.channelClosed()
        for waiter in waiters {
            switch waiter {
            case .single(let continuation): continuation.resume(throwing: error)
            case .pipeline(let continuation, _): continuation.resume(throwing: error)
            }
        }
    }

    private func scheduleTimeoutCheck(context: ChannelHandlerContext) {
        self.timeoutCheck = context.eventLoop.assumeIsolated().scheduleTask(in: Self.timeoutCheckInterval) {
            self.checkTimeout()
        }
    }

    private func checkTimeout() {
        guard let context else { return }
        switch self.state.checkTimeout(now: context.eventLoop.now) {
        case .scheduleNextCheck:
            self.scheduleTimeoutCheck(context: context)
        case .close(let inFlight):
            self.logger.warning(
                "Redis command timed out; dropping the connection",
                metadata: ["in_flight": "\(inFlight)"]
            )
            self.close(context: context, failure: .timeout)
        }
    }
}

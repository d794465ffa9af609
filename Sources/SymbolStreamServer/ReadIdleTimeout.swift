import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// Closes a connection from which nothing was read for `timeout`.
///
/// Hummingbird's WebSocket-capable server adds its HTTP idle timeout only
/// once a request head has arrived, so without this a client that connects
/// and sends nothing (or half a request line) would hold its connection, and
/// graceful shutdown, forever. It sits right after the request decoder, so it
/// counts decoded request parts, not bytes: headers trickled a byte at a time
/// (slowloris) do not keep a connection open. `/stream` removes it once
/// upgraded, as WebSocket connections have their own idle timeout
/// (`StreamConfiguration.idleTimeout`). Time is the event loop's, so tests
/// run it on an embedded loop and advance that.
final class ReadIdleTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    static let name = "symbolstream.read-idle-timeout"

    private let timeout: TimeAmount
    /// Set when the timer starts (the channel is active), then by every read.
    private var lastRead = NIODeadline.uptimeNanoseconds(0)
    private var check: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        if check == nil { start(context) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastRead = context.eventLoop.now
        context.fireChannelRead(data)
    }

    private func start(_ context: ChannelHandlerContext) {
        lastRead = context.eventLoop.now
        schedule(context, in: timeout)
    }

    private func schedule(_ context: ChannelHandlerContext, in delay: TimeAmount) {
        check = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            let idle = context.eventLoop.now - lastRead
            if idle >= timeout {
                // As if the client had stopped sending: the upgrade handler then
                // ends quietly (a bare close makes hummingbird-websocket log an error).
                context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
                context.close(promise: nil)
            } else {
                schedule(context, in: timeout - idle)
            }
        }
    }
}

/// A server child channel with a `ReadIdleTimeoutHandler` right after the
/// request decoder that `inner` sets up.
struct ReadIdleTimeoutChannel<Inner: ServerChildChannel>: ServerChildChannel {
    let inner: Inner
    let timeout: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Inner.Value> {
        inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            try channel.pipeline.syncOperations.addHandlerAfterRequestDecoder(
                ReadIdleTimeoutHandler(timeout: timeout), name: ReadIdleTimeoutHandler.name)
            return value
        }
    }

    func handle(value: Inner.Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import SymbolStreamCore

/// Refuses, with the JSON error shape, what never reaches a route: a request
/// line and headers over the decoder's limits (431), bytes that are not
/// HTTP/1.1 (400), and a declared body larger than any route takes (413,
/// before a byte of it is read). Each is counted per reason, like every
/// reject; Hummingbird alone would answer the first two with a bare 400 and
/// would read and discard an oversized body.
///
/// It sits right after NIO's request decoder, where it sees the decoder's
/// errors before Hummingbird does, and every request head, the first one
/// included (see `RequestGuardChannel`).
final class HTTPRequestGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    struct Limits: Sendable {
        var maximumBody: Int
        var maximumHeaderBytes: Int
        var maximumHeaderCount: Int
    }

    /// After an answer of ours, how long the client has to close before we do.
    static let closeGracePeriod: TimeAmount = .seconds(2)

    private let limits: Limits
    private let counters: ServiceCounters
    /// Requests passed on whose response has not ended: an answer of ours
    /// cannot go out while one is being written.
    private var open = 0
    /// Answered here: the rest of the connection's input is dropped.
    private var refused = false
    /// No request has got past: on the WebSocket-capable server the upgrade
    /// handler still waits for the connection's first request head.
    private var firstRequest = true
    /// Switched to another protocol: everything passes unread.
    private var upgraded = false

    init(limits: Limits, counters: ServiceCounters) {
        self.limits = limits
        self.counters = counters
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if upgraded {
            context.fireChannelRead(data)
            return
        }
        guard !refused else { return }
        if case .head(let head) = unwrapInboundIn(data) {
            if let declared = head.headers.first(name: "content-length"), let length = Int(declared), length > limits.maximumBody {
                refuse(
                    context, status: .payloadTooLarge, reason: .bodyTooLarge,
                    message: "body: \(length) bytes declared; no route takes more than \(limits.maximumBody)")
                return
            }
            open += 1
            firstRequest = false
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if upgraded {
            context.write(data, promise: promise)
            return
        }
        switch unwrapOutboundIn(data) {
        case .end:
            open -= 1
        case .head(let head) where head.status == .switchingProtocols:
            // An upgrade (WebSocket): what follows is not HTTP. Pass it all
            // on, and leave once the answer is out (leaving in the middle of
            // the upgrade handler's write-and-flush loses the flush).
            upgraded = true
            let written = promise ?? context.eventLoop.makePromise()
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            written.futureResult.whenComplete { _ in
                loopBound.value.pipeline.syncOperations.removeHandler(context: loopBound.value, promise: nil)
            }
            context.write(data, promise: written)
            return
        default:
            break
        }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // After our answer the decoder keeps reporting the bytes it drops.
        guard !refused else { return }
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        switch parserError {
        case .invalidEOFState:
            // The connection ended (the idle timeout, or the client went)
            // inside a request: nobody to answer, but a reject all the same.
            refused = true
            counters.rejected(.incompleteRequest)
        case .headerOverflow:
            refuse(
                context, status: .requestHeaderFieldsTooLarge, reason: .headersTooLarge,
                message:
                    "headers: the request line and headers take more than \(limits.maximumHeaderBytes) bytes or \(limits.maximumHeaderCount) fields"
            )
        default:
            refuse(context, status: .badRequest, reason: .malformedRequest, message: "request: not valid HTTP/1.1 (\(parserError))")
        }
    }

    private func refuse(_ context: ChannelHandlerContext, status: HTTPResponseStatus, reason: RejectReason, message: String) {
        refused = true
        counters.rejected(reason)
        guard open == 0 else {
            // A response is being written: no room for ours in between.
            end(context)
            return
        }
        let body = context.channel.allocator.buffer(string: #"{"error":"# + JSONValue.quoted(message) + "}")
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json; charset=utf-8")
        headers.add(name: "content-length", value: String(body.readableBytes))
        headers.add(name: "connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        // Close our side once the answer is out, but keep reading (and
        // dropping) what the client still sends: closing with unread input
        // would reset the connection and could destroy the answer before the
        // client reads it. The client closes, or we do after a grace period.
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            let (handler, context) = loopBound.value
            context.close(mode: .output, promise: nil)
            context.eventLoop.assumeIsolated().scheduleTask(in: Self.closeGracePeriod) { handler.end(context) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if refused { endUpgrade(context) }
        context.fireChannelInactive()
    }

    private func end(_ context: ChannelHandlerContext) {
        endUpgrade(context)
        context.close(promise: nil)
    }

    /// Tells an upgrade handler still waiting for the first request that
    /// none will come, as a client that stops sending would: it then ends
    /// quietly instead of logging a failed upgrade at error level.
    private func endUpgrade(_ context: ChannelHandlerContext) {
        guard firstRequest else { return }
        firstRequest = false
        context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
    }
}

/// A server child channel with an `HTTPRequestGuard` right after the request
/// decoder that `inner` sets up.
///
/// Hummingbird's `additionalChannelHandlers` go in after its own codec, where
/// decoder errors are already a bare 400, and, on the WebSocket-capable
/// server, only once the first request head has gone by: a guard installed
/// there would miss that request and miscount the responses in flight.
struct RequestGuardChannel<Inner: ServerChildChannel>: ServerChildChannel {
    let inner: Inner
    let limits: HTTPRequestGuard.Limits
    let counters: ServiceCounters

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Inner.Value> {
        inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            try channel.pipeline.syncOperations.addHandlerAfterRequestDecoder(HTTPRequestGuard(limits: limits, counters: counters))
            return value
        }
    }

    func handle(value: Inner.Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

extension HTTPRequestGuard.Limits {
    init(_ configuration: AppConfiguration) {
        self.init(
            maximumBody: AppRequestContext.uploadLimit, maximumHeaderBytes: configuration.maximumHeaderBytes,
            maximumHeaderCount: configuration.maximumHeaderCount)
    }
}

/// Idle timeout and request head limits for HTTP/1.1 connections.
func httpConfiguration(_ configuration: AppConfiguration) -> HTTP1Channel.Configuration {
    HTTP1Channel.Configuration(
        idleTimeout: .seconds(configuration.idleTimeout.components.seconds),
        httpDecoderConfiguration: .init(
            maxHeaderFieldSize: configuration.maximumHeaderBytes, maxHeaderListSize: configuration.maximumHeaderBytes,
            maxHeaderFieldCount: configuration.maximumHeaderCount))
}

extension JSONValue {
    /// A JSON string literal of `text`.
    static func quoted(_ text: String) -> String {
        var output = ""
        writeString(text, into: &output)
        return output
    }
}

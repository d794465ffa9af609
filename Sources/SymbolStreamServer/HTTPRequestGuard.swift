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
/// errors before Hummingbird does (see `HTTPRequestGuard.installer`).
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

    private let limits: Limits
    private let counters: ServiceCounters
    /// Requests passed on whose response has not ended: an answer of ours
    /// cannot go out while one is being written.
    private var open = 0
    /// Answered here: the rest of the connection's input is dropped.
    private var refused = false

    init(limits: Limits, counters: ServiceCounters) {
        self.limits = limits
        self.counters = counters
    }

    /// Hummingbird adds its `additionalChannelHandlers` after its own codec,
    /// where decoder errors have already been turned into a bare 400; this
    /// stand-in puts the guard right after the decoder instead and leaves.
    static func installer(limits: Limits, counters: ServiceCounters, logger: Logger) -> any RemovableChannelHandler {
        Installer(guard: HTTPRequestGuard(limits: limits, counters: counters), logger: logger)
    }

    private final class Installer: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = NIOAny
        let requestGuard: HTTPRequestGuard
        let logger: Logger

        init(guard: HTTPRequestGuard, logger: Logger) {
            self.requestGuard = `guard`
            self.logger = logger
        }

        func handlerAdded(context: ChannelHandlerContext) {
            let pipeline = context.pipeline.syncOperations
            do {
                let decoder = try pipeline.context(handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self)
                try pipeline.addHandler(requestGuard, position: .after(decoder.handler))
            } catch {
                logger.error("cannot install the HTTP request guard", metadata: ["error": "\(error)"])
            }
            pipeline.removeHandler(context: context, promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        if case .head(let head) = unwrapInboundIn(data) {
            if let declared = head.headers.first(name: "content-length"), let length = Int(declared), length > limits.maximumBody {
                refuse(
                    context, status: .payloadTooLarge, reason: .bodyTooLarge,
                    message: "body: \(length) bytes declared; no route takes more than \(limits.maximumBody)")
                return
            }
            open += 1
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .end:
            open -= 1
        case .head(let head) where head.status == .switchingProtocols:
            // An upgrade (WebSocket): what follows is not HTTP, and this
            // handler reads only HTTP parts. Leave before the switch.
            context.write(data, promise: promise)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
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
            context.close(promise: nil)
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
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            let context = loopBound.value
            context.close(mode: .output, promise: nil)
            context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(2)) { context.close(promise: nil) }
        }
    }
}

/// Idle timeout, request head limits, and the guard that answers what the
/// HTTP decoder refuses (`HTTPRequestGuard`).
func httpConfiguration(_ configuration: AppConfiguration, counters: ServiceCounters, logger: Logger) -> HTTP1Channel.Configuration {
    let limits = HTTPRequestGuard.Limits(
        maximumBody: AppRequestContext.uploadLimit, maximumHeaderBytes: configuration.maximumHeaderBytes,
        maximumHeaderCount: configuration.maximumHeaderCount)
    return HTTP1Channel.Configuration(
        additionalChannelHandlers: [HTTPRequestGuard.installer(limits: limits, counters: counters, logger: logger)],
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

import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import SymbolStreamCore

/// The edge of the HTTP service: it sees every request right after NIO's
/// request decoder and every response right before the encoder.
///
/// **Requests.** A request is passed on only once it is complete, its body
/// read to the end (at most `maximumBody` bytes): no route, and not the
/// WebSocket upgrade, ever sees a request whose body might still fail to
/// arrive or to parse, so an event is taken only from a whole request, and a
/// request is either answered by a route or refused here, never both. Refused
/// here, with the JSON error shape and counted per reason (Hummingbird alone
/// would answer some with a bare 400, and store from others): what the head
/// alone condemns (`RequestHeadCheck`: a transfer coding other than chunked
/// 501, contradictory framing 400, a body declared over the limit 413 before
/// a byte of it is read, a WebSocket handshake that is not one 400 or comes
/// from a page not allowed 403), a body found over the limit (413), a request
/// line and headers over the decoder's limits (431), bytes that are not
/// HTTP/1.1 or a body whose framing breaks (400). A connection that ends
/// inside a request is counted (`incomplete_request`) and stores nothing.
///
/// **Responses.** Every response head gets `X-Content-Type-Options: nosniff`.
/// A request that does not keep its connection (HTTP/1.0 without
/// `Connection: keep-alive`, or `Connection: close`) is the connection's
/// last: its response says `Connection: close` and the connection is closed
/// once it is out. An HTTP/1.0 request that keeps it gets `Connection:
/// keep-alive`, so that the client knows.
///
/// **Upgrade.** After the upgrade's `101` it hands the connection's bytes to
/// `ClientFrameMaskCheck` and leaves.
///
/// It sits right after NIO's request decoder (behind only the read idle
/// timeout, which watches; see `RequestGuardChannel`), so it sees the
/// decoder's errors before Hummingbird does, and every request head, the
/// first one included.
final class HTTPRequestGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    struct Limits: Sendable {
        var maximumBody: Int
        var maximumHeaderBytes: Int
        var maximumHeaderCount: Int
        /// Which pages may open `/stream`.
        var origins = OriginPolicy()
    }

    /// After the connection's last answer, how long the client has to close
    /// before we do.
    static let closeGracePeriod: TimeAmount = .seconds(2)

    /// On every response (the browser must take a body for the type it is
    /// labelled with, never guess one).
    static let noSniff = ("x-content-type-options", "nosniff")

    private enum Mode {
        /// Reading requests.
        case http
        /// A WebSocket handshake was passed on. NIO's decoder parses nothing
        /// after it, so all that can come until its answer are raw bytes the
        /// client sent too early (before the `101`): kept, unopened, for the
        /// mask check, or dropped if the upgrade does not happen.
        case upgradePending
        /// Switched protocols: responses pass; what comes in is held until the
        /// upgrade is complete (see `switchProtocols`), then this handler leaves.
        case upgraded
        /// No more requests on this connection (refused here, or the last one
        /// was passed on): input is dropped.
        case closing
    }

    /// A request passed on whose response has not ended.
    private struct Exchange {
        var keepsConnection: Bool
        var isHTTP10: Bool
        /// Its response is the connection's last.
        var closesConnection = false
    }

    private let limits: Limits
    private let check: RequestHeadCheck
    private let counters: ServiceCounters
    private var mode = Mode.http
    /// The request being received, passed on once its end is here.
    private var held: [HTTPServerRequestPart] = []
    private var heldBodyBytes = 0
    /// Raw bytes that came after a WebSocket handshake, before the upgrade
    /// was complete (see `Mode`).
    private var early: [NIOAny] = []
    /// Oldest first (HTTP/1.1 pipelining): responses go out in this order.
    private var exchanges: [Exchange] = []
    /// Our answer to a request refused while earlier ones were still being
    /// answered: it goes out after them.
    private var pendingRefusal: Refusal?
    /// No request has got past: on the WebSocket-capable server the upgrade
    /// handler still waits for the connection's first request head.
    private var firstRequest = true
    /// A request was refused here (or ended inside): the upgrade handler may
    /// need telling that no request will come (`endUpgrade`).
    private var refused = false

    init(limits: Limits, counters: ServiceCounters) {
        self.limits = limits
        self.check = RequestHeadCheck(maximumBody: limits.maximumBody, origins: limits.origins)
        self.counters = counters
    }

    // MARK: Requests

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch mode {
        case .http: read(context, unwrapInboundIn(data))
        case .upgradePending, .upgraded: early.append(data)
        case .closing: break
        }
    }

    private func read(_ context: ChannelHandlerContext, _ part: HTTPServerRequestPart) {
        switch part {
        case .head(let head):
            if let refusal = check.refusal(of: head) {
                refuse(context, refusal)
                return
            }
            held = [part]
            heldBodyBytes = 0
            if exchanges.isEmpty, Self.expectsContinue(head) {
                // The client waits for this before it sends the body.
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
            }
        case .body(let bytes):
            heldBodyBytes += bytes.readableBytes
            guard heldBodyBytes <= limits.maximumBody else {
                refuse(
                    context,
                    Refusal(
                        status: .payloadTooLarge, reason: .bodyTooLarge,
                        message: "body: request body larger than \(limits.maximumBody) bytes"))
                return
            }
            held.append(part)
        case .end:
            held.append(part)
            pass(context)
        }
    }

    /// Passes the held request on, whole.
    private func pass(_ context: ChannelHandlerContext) {
        guard case .head(let head) = held.first else { return }
        let parts = held
        held = []
        firstRequest = false
        exchanges.append(Exchange(keepsConnection: head.isKeepAlive, isHTTP10: head.version == .http1_0))
        // Set before the parts go: the upgrade may run while they do.
        if RequestHeadCheck.asksForWebSocket(head) || RequestHeadCheck.endsHTTP(head) {
            mode = RequestHeadCheck.asksForWebSocket(head) && RequestHeadCheck.endsHTTP(head) ? .upgradePending : .closing
        } else if !head.isKeepAlive {
            mode = .closing
        }
        for part in parts { context.fireChannelRead(wrapInboundOut(part)) }
    }

    static func expectsContinue(_ head: HTTPRequestHead) -> Bool {
        head.headers[canonicalForm: "expect"].contains { $0.lowercased() == "100-continue" }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // After an answer of ours (or the connection's last request), the
        // decoder keeps reporting the bytes it drops.
        if case .closing = mode { return }
        guard let parserError = error as? HTTPParserError, case .http = mode else {
            context.fireErrorCaught(error)
            return
        }
        switch parserError {
        case .invalidEOFState:
            // The connection ended (the idle timeout, or the client went)
            // inside a request: nobody to answer, but a reject all the same.
            held = []
            mode = .closing
            refused = true
            counters.rejected(.incompleteRequest)
        case .headerOverflow:
            refuse(
                context,
                Refusal(
                    status: .requestHeaderFieldsTooLarge, reason: .headersTooLarge,
                    message:
                        "headers: the request line and headers take more than \(limits.maximumHeaderBytes) bytes or \(limits.maximumHeaderCount) fields"
                ))
        default:
            refuse(context, Refusal(status: .badRequest, reason: .malformedRequest, message: "request: not valid HTTP/1.1 (\(parserError))"))
        }
    }

    /// Answers `refusal` (after the responses still being written, if any)
    /// and ends the connection; counts it.
    private func refuse(_ context: ChannelHandlerContext, _ refusal: Refusal) {
        held = []
        mode = .closing
        refused = true
        if let reason = refusal.reason { counters.rejected(reason) }
        if exchanges.isEmpty {
            answer(context, refusal)
        } else {
            pendingRefusal = refusal
        }
    }

    private func answer(_ context: ChannelHandlerContext, _ refusal: Refusal) {
        let body = context.channel.allocator.buffer(string: #"{"error":"# + JSONValue.quoted(refusal.message) + "}")
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json; charset=utf-8")
        headers.add(name: "content-length", value: String(body.readableBytes))
        headers.add(name: "connection", value: "close")
        headers.add(name: Self.noSniff.0, value: Self.noSniff.1)
        for (name, value) in refusal.headers.sorted(by: { $0.key < $1.key }) { headers.add(name: name, value: value) }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: refusal.status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        close(context, after: context.writeAndFlush(wrapOutboundOut(.end(nil))))
    }

    // MARK: Responses

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .upgraded = mode {
            context.write(data, promise: promise)
            return
        }
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status == .switchingProtocols:
            switchProtocols(context, data, promise: promise)
        case .head(var head):
            if case .upgradePending = mode {
                // No upgrade, and the decoder has stopped: nothing more to read.
                mode = .closing
                early = []
                if !exchanges.isEmpty { exchanges[0].closesConnection = true }
            }
            Self.secure(&head.headers)
            if !exchanges.isEmpty {
                let exchange = exchanges[0]
                if !exchange.keepsConnection || exchange.closesConnection
                    || head.headers[canonicalForm: "connection"].contains(where: { $0.lowercased() == "close" })
                {
                    exchanges[0].closesConnection = true
                    head.headers.replaceOrAdd(name: "connection", value: "close")
                } else if exchange.isHTTP10, !head.headers.contains(name: "connection") {
                    head.headers.add(name: "connection", value: "keep-alive")
                }
            }
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            guard !exchanges.isEmpty, exchanges[0].closesConnection else {
                context.write(data, promise: promise)
                if !exchanges.isEmpty { exchanges.removeFirst() }
                if exchanges.isEmpty, let refusal = pendingRefusal {
                    pendingRefusal = nil
                    answer(context, refusal)
                }
                return
            }
            // The connection's last response.
            exchanges.removeFirst()
            mode = .closing
            pendingRefusal = nil
            let written = promise ?? context.eventLoop.makePromise()
            context.write(data, promise: written)
            close(context, after: written.futureResult)
        }
    }

    static func secure(_ headers: inout HTTPHeaders) {
        headers.replaceOrAdd(name: noSniff.0, value: noSniff.1)
    }

    /// The upgrade's answer: from here on the bytes are WebSocket frames. The
    /// mask check goes in behind this handler; once the answer is out, the
    /// upgrade handler finishes the upgrade in the same turn of the event
    /// loop (HTTP encoder out, frame codec in), and right after it this
    /// handler passes on, in order, what it held (bytes the client sent too
    /// early, and any that came meanwhile: through the mask check like every
    /// later byte, into the WebSocket codec) and leaves.
    private func switchProtocols(_ context: ChannelHandlerContext, _ data: NIOAny, promise: EventLoopPromise<Void>?) {
        mode = .upgraded
        do {
            try context.pipeline.syncOperations.addHandler(ClientFrameMaskCheck(), position: .after(self))
        } catch {
            context.fireErrorCaught(error)
            context.close(promise: nil)
            return
        }
        let written = promise ?? context.eventLoop.makePromise()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        written.futureResult.whenComplete { result in
            let (handler, context) = loopBound.value
            guard case .success = result else {
                handler.early = []
                context.close(promise: nil)
                return
            }
            context.eventLoop.assumeIsolated().execute { handler.handOver(context) }
        }
        context.write(data, promise: written)
    }

    private func handOver(_ context: ChannelHandlerContext) {
        let held = early
        early = []
        for bytes in held { context.fireChannelRead(bytes) }
        // Outside a read cycle: without this the WebSocket layer would not see
        // them until the next read.
        if !held.isEmpty { context.fireChannelReadComplete() }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    // MARK: Closing

    /// Closes our side once `written` (the connection's last answer) is out,
    /// but keeps reading (and dropping) what the client still sends: closing
    /// with unread input would reset the connection and could destroy the
    /// answer before the client reads it. The client closes, or we do after a
    /// grace period.
    private func close(_ context: ChannelHandlerContext, after written: EventLoopFuture<Void>) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        written.whenComplete { _ in
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
            maximumHeaderCount: configuration.maximumHeaderCount, origins: configuration.stream.allowedOrigins)
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

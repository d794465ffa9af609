import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import NIOCore

/// The context of a WebSocket upgrade request: Hummingbird's WebSocket
/// context plus the channel, so that a client that never answers a close can
/// be dropped.
package struct StreamRequestContext: RequestContext, WebSocketRequestContext {
    package var coreContext: CoreRequestContextStorage
    package let webSocket: WebSocketHandlerReference<Self>
    let channel: any Channel

    package init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.webSocket = .init()
        self.channel = source.channel
    }
}

/// The routes that may upgrade to a WebSocket: `/stream` only (any other
/// upgrade request is refused with a plain 400 by hummingbird-websocket).
package func buildStreamRouter(_ dependencies: RouteDependencies, _ configuration: StreamConfiguration) -> Router<StreamRequestContext> {
    let router = Router(context: StreamRequestContext.self)
    let connection = StreamConnection(
        ingest: StreamIngest(dependencies: dependencies, maximumEvents: configuration.maximumEvents), configuration: configuration,
        logger: dependencies.logger)
    router.ws("/stream") { inbound, outbound, context in
        try await connection.run(inbound: inbound, outbound: outbound, channel: context.requestContext.channel)
    }
    return router
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with the `/stream` WebSocket upgrade: the server `serve` runs.
    /// Plain HTTP requests go to the application's router as before; a
    /// connection that reads nothing for `http1.idleTimeout` is closed, as
    /// with `.http1(configuration:)`, also before its first request. Requests
    /// over `limits`, and bytes that are not HTTP, are answered by an
    /// `HTTPRequestGuard` before they reach a router.
    static func symbolStream(
        _ dependencies: RouteDependencies, stream: StreamConfiguration, http1: HTTP1Channel.Configuration,
        limits: HTTPRequestGuard.Limits
    ) -> HTTPServerBuilder {
        let webSocketResponder = buildStreamRouter(dependencies, stream).buildResponder()
        let idle = http1.idleTimeout ?? .seconds(30)
        let configuration = HTTP1WebSocketUpgradeChannel.Configuration(
            http1: http1,
            // The frame limit is the message limit: a bigger frame is a bigger
            // message. No pings: the idle timeout also ends dead connections.
            ws: .init(maxFrameSize: stream.maximumMessageBytes, autoPing: .disabled, closeTimeout: stream.closeTimeout))
        // The idle timeout right after the decoder, the guard behind it: the
        // timeout sees every request part as it arrives, also those the guard
        // holds until their request is complete.
        return HTTPServerBuilder { responder in
            ReadIdleTimeoutChannel(
                inner: RequestGuardChannel(
                    inner: HTTP1WebSocketUpgradeChannel(responder: responder, webSocketResponder: webSocketResponder, configuration: configuration),
                    limits: limits, counters: dependencies.counters),
                timeout: idle)
        }
    }
}

extension SymbolStreamRoutes {
    /// `GET /stream` without the WebSocket handshake.
    @Sendable func streamWithoutUpgrade(_ request: Request, context: AppRequestContext) async throws -> Response {
        .error(
            "Upgrade: /stream is a WebSocket; connect with a WebSocket client (Upgrade: websocket)", status: .upgradeRequired,
            headers: [.upgrade: "websocket"])
    }
}

import NIOHTTP1
import SymbolStreamCore

/// An answer `HTTPRequestGuard` gives instead of passing a request on: the
/// JSON error shape, counted under `reason` (nil: not a reject, as a 404).
struct Refusal: Sendable, Hashable {
    var status: HTTPResponseStatus
    var reason: RejectReason?
    var message: String
    var headers: [String: String] = [:]
}

/// What a request head alone decides, before a byte of its body is read and
/// before any route or the WebSocket upgrade runs: how the body is framed,
/// whether it can fit, and whether a WebSocket handshake may go on.
struct RequestHeadCheck: Sendable {
    /// No route takes a larger body (413 when more is declared).
    var maximumBody: Int
    /// The path of the one WebSocket route.
    var streamPath = "/stream"
    /// Which pages may open it.
    var origins = OriginPolicy()

    func refusal(of head: HTTPRequestHead) -> Refusal? {
        framing(head) ?? webSocketHandshake(head)
    }

    /// RFC 9112 §6: chunked is the only transfer coding there is to decode
    /// (any other is a 501: the body could not be read as sent); chunked
    /// exactly once, never with Content-Length (the two would disagree about
    /// where the request ends: request smuggling) and never in HTTP/1.0.
    private func framing(_ head: HTTPRequestHead) -> Refusal? {
        if head.headers.contains(name: "transfer-encoding") {
            let codings = head.headers[canonicalForm: "transfer-encoding"].map { $0.lowercased() }
            if let unknown = codings.first(where: { $0 != "chunked" && !$0.isEmpty }) {
                return Refusal(
                    status: .notImplemented, reason: .unsupportedTransferCoding,
                    message: "transfer-encoding: '\(unknown.prefix(40))' is not supported; send the body as it is (Content-Length) or chunked")
            }
            guard codings == ["chunked"] else {
                return malformed("transfer-encoding: must be chunked, given once")
            }
            guard head.version.major == 1, head.version.minor >= 1 else {
                return malformed("transfer-encoding: not allowed in an HTTP/1.0 request")
            }
            guard !head.headers.contains(name: "content-length") else {
                return malformed("content-length: not allowed with Transfer-Encoding")
            }
        }
        let lengths = head.headers["content-length"]
        if Set(lengths).count > 1 {
            return malformed("content-length: given more than once with different values")
        }
        if let declared = lengths.first, let length = Int(declared), length > maximumBody {
            return Refusal(
                status: .payloadTooLarge, reason: .bodyTooLarge,
                message: "body: \(length) bytes declared; no route takes more than \(maximumBody)")
        }
        return nil
    }

    /// RFC 6455 §4.2.1-2, for a request that asks for a WebSocket: the one
    /// route that has one, a GET over HTTP/1.1 with `Connection: Upgrade`, a
    /// key, version 13, and an origin the policy allows (403 otherwise,
    /// before the upgrade).
    private func webSocketHandshake(_ head: HTTPRequestHead) -> Refusal? {
        guard Self.asksForWebSocket(head) else { return nil }
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? head.uri
        guard path == streamPath else {
            return Refusal(status: .notFound, reason: nil, message: "no WebSocket at \(path.prefix(100)); the one WebSocket route is \(streamPath)")
        }
        guard head.method == .GET, head.version.major == 1, head.version.minor >= 1 else {
            return invalidUpgrade(.badRequest, "upgrade: a WebSocket handshake is a GET over HTTP/1.1")
        }
        guard head.headers[canonicalForm: "connection"].contains(where: { $0.lowercased() == "upgrade" }) else {
            return invalidUpgrade(.badRequest, "connection: a WebSocket handshake needs Connection: Upgrade")
        }
        guard let key = head.headers.first(name: "sec-websocket-key"), !key.isEmpty else {
            return invalidUpgrade(.badRequest, "sec-websocket-key: missing; a WebSocket handshake needs one")
        }
        guard head.headers["sec-websocket-version"] == ["13"] else {
            var refusal = invalidUpgrade(
                .upgradeRequired, "sec-websocket-version: '\((head.headers.first(name: "sec-websocket-version") ?? "").prefix(20))' is not 13, the one version served")
            refusal.headers["sec-websocket-version"] = "13"
            return refusal
        }
        let origin = head.headers.first(name: "origin")
        guard origins.allows(origin: origin, host: head.headers.first(name: "host")) else {
            return Refusal(
                status: .forbidden, reason: .forbiddenOrigin,
                message:
                    "origin: '\((origin ?? "").prefix(100))' may not open \(streamPath): only this server's own pages and clients without an Origin may, and those --stream-allowed-origins lists"
            )
        }
        return nil
    }

    /// A request naming `websocket` among the protocols it wants: what NIO's
    /// upgrade handler would try to upgrade.
    static func asksForWebSocket(_ head: HTTPRequestHead) -> Bool {
        head.headers[canonicalForm: "upgrade"].contains { $0.lowercased() == "websocket" }
    }

    /// Whether NIO's request decoder stops parsing after this request (llhttp
    /// takes what follows as another protocol): an `Upgrade` header with
    /// `Connection: upgrade`, or CONNECT. No further request can be read on
    /// such a connection.
    static func endsHTTP(_ head: HTTPRequestHead) -> Bool {
        head.method == .CONNECT
            || (head.headers.contains(name: "upgrade")
                && head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" })
    }

    private func malformed(_ message: String) -> Refusal {
        Refusal(status: .badRequest, reason: .malformedRequest, message: message)
    }

    private func invalidUpgrade(_ status: HTTPResponseStatus, _ message: String) -> Refusal {
        Refusal(status: status, reason: .invalidUpgrade, message: message)
    }
}

import NIOCore
import NIOEmbedded
import NIOHTTP1
import SymbolStreamCore
import Testing

@testable import SymbolStreamServer

/// `HTTPRequestGuard` behind NIO's real request decoder, on an embedded
/// channel: raw bytes in, what a route would see and what the client would
/// get out. Issue 13 (items 4, 5, 6, 9): framing, unfinished bodies,
/// WebSocket handshakes, connections that must close, response headers.
@Suite struct HTTPEdgeTests {
    /// Stands for Hummingbird: records the request parts that get past the
    /// guard, and answers when told to.
    final class Route: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        var parts: [HTTPServerRequestPart] = []
        private var context: ChannelHandlerContext?

        func handlerAdded(context: ChannelHandlerContext) { self.context = context }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            parts.append(unwrapInboundIn(data))
        }

        var heads: [HTTPRequestHead] {
            parts.compactMap { if case .head(let head) = $0 { head } else { nil } }
        }

        func respond(_ status: HTTPResponseStatus = .ok, body: String = "True", headers: HTTPHeaders = ["content-type": "text/plain"]) {
            guard let context else { return }
            var headers = headers
            headers.add(name: "content-length", value: String(body.utf8.count))
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    typealias HalfClose = ChannelHandlerTimingTests.HalfClose

    struct Edge {
        let channel: EmbeddedChannel
        let route: Route
        let halfClose: HalfClose
        let counters: ServiceCounters

        func send(_ text: String) throws {
            try channel.writeInbound(ByteBuffer(string: text))
        }

        /// The client stops sending (EOF).
        func endInput() {
            channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        }

        /// Every response written so far: head and body text.
        func responses() throws -> [(head: HTTPResponseHead, body: String)] {
            var responses: [(head: HTTPResponseHead, body: String)] = []
            while let part = try channel.readOutbound(as: HTTPServerResponsePart.self) {
                switch part {
                case .head(let head): responses.append((head, ""))
                case .body(.byteBuffer(let buffer)): responses[responses.count - 1].body += String(buffer: buffer)
                case .body: break
                case .end: break
                }
            }
            return responses
        }

        var rejected: [RejectReason: Int64] { counters.snapshot.rejected }
    }

    static func edge(maximumBody: Int = 16 * 1024, origins: OriginPolicy = OriginPolicy()) throws -> Edge {
        let channel = EmbeddedChannel()
        let route = Route()
        let halfClose = HalfClose()
        let counters = ServiceCounters()
        let limits = HTTPRequestGuard.Limits(maximumBody: maximumBody, maximumHeaderBytes: 8 * 1024, maximumHeaderCount: 64, origins: origins)
        try channel.pipeline.syncOperations.addHandlers([
            halfClose, ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)),
            HTTPRequestGuard(limits: limits, counters: counters), route,
        ])
        channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 5000), promise: nil)
        return Edge(channel: channel, route: route, halfClose: halfClose, counters: counters)
    }

    static let uuid = "6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f"

    func expectRefusal(
        _ edge: Edge, _ status: HTTPResponseStatus, _ reason: RejectReason, naming parameter: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let responses = try edge.responses()
        #expect(responses.count == 1, sourceLocation: sourceLocation)
        guard let response = responses.first else { return }
        #expect(response.head.status == status, sourceLocation: sourceLocation)
        #expect(response.head.headers["content-type"] == ["application/json; charset=utf-8"], sourceLocation: sourceLocation)
        #expect(response.head.headers["connection"] == ["close"], sourceLocation: sourceLocation)
        #expect(response.head.headers["x-content-type-options"] == ["nosniff"], sourceLocation: sourceLocation)
        #expect(response.body.hasPrefix(#"{"error":"\#(parameter):"#), "\(response.body)", sourceLocation: sourceLocation)
        #expect(edge.route.parts.isEmpty, "a route saw a refused request", sourceLocation: sourceLocation)
        #expect(edge.rejected == [reason: 1], sourceLocation: sourceLocation)
        #expect(edge.halfClose.outputClosed, sourceLocation: sourceLocation)
    }

    // MARK: Framing (item 4)

    @Test(arguments: ["gzip", "xchunked", "gzip, chunked", "identity"])
    func aTransferCodingOtherThanChunkedIs501BeforeAnyRoute(coding: String) throws {
        let edge = try Self.edge()
        try edge.send(
            "POST /initial?uuid=\(Self.uuid)&symbol=e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \(coding)\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        try expectRefusal(edge, .notImplemented, .unsupportedTransferCoding, naming: "transfer-encoding")
        // What the client still sends, and its leaving, count nothing more.
        try edge.send("garbage\r\n\r\n")
        edge.endInput()
        #expect(edge.rejected == [.unsupportedTransferCoding: 1])
        #expect(edge.route.parts.isEmpty)
    }

    @Test(arguments: [
        ("chunked", "zz\r\nuuid=x\r\n0\r\n\r\n", "request"),  // a bad chunk size
        ("chunked", "5\r\nuuid=x\r\n0\r\n\r\n", "request"),  // a chunk longer than its size
        // Chunked not last, or twice: NIO's decoder refuses these before the head is out.
        ("chunked, gzip", "0\r\n\r\n", "request"),
        ("chunked, chunked", "0\r\n\r\n", "request"),
    ])
    func brokenChunkedFramingIs400AndNothingGetsThrough(coding: String, body: String, parameter: String) throws {
        let edge = try Self.edge()
        try edge.send("POST /followup?uuid=\(Self.uuid) HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \(coding)\r\n\r\n" + body)
        try expectRefusal(edge, .badRequest, .malformedRequest, naming: parameter)
        edge.endInput()
        #expect(edge.rejected == [.malformedRequest: 1])
    }

    @Test(arguments: [
        // NIO's decoder refuses this one before the head is out.
        ("HTTP/1.1", "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "request"),
        ("HTTP/1.0", "Transfer-Encoding: chunked\r\n", "transfer-encoding"),
    ])
    func contradictoryFramingIs400(version: String, headers: String, parameter: String) throws {
        let edge = try Self.edge()
        try edge.send("POST /followup?uuid=\(Self.uuid) \(version)\r\nHost: x\r\n\(headers)\r\n0\r\n\r\n")
        try expectRefusal(edge, .badRequest, .malformedRequest, naming: parameter)
    }

    @Test(arguments: [
        // Declared 100, 3 sent: the parameters were all in the query string.
        "POST /initial?uuid=\(uuid)&symbol=e HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",
        // A form declared 70 bytes long, cut short: what came must not count.
        "POST /initial HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 70\r\n\r\nuuid=\(uuid)&symbol=e",
        // A chunked body that never ends.
        "POST /followup?uuid=\(uuid) HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
    ])
    func aBodyCutShortReachesNoRouteAndCountsOnce(request: String) throws {
        let edge = try Self.edge()
        try edge.send(request)
        #expect(edge.route.parts.isEmpty, "a route saw a request before its body was complete")
        edge.endInput()
        #expect(edge.route.parts.isEmpty)
        #expect(try edge.responses().isEmpty)
        #expect(edge.rejected == [.incompleteRequest: 1])
    }

    @Test func aRequestIsPassedOnWholeOnceItsBodyHasArrived() throws {
        let edge = try Self.edge()
        try edge.send("POST /initial HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 50\r\n\r\nuuid=")
        #expect(edge.route.parts.isEmpty)
        try edge.send("\(Self.uuid)&symbol=e")
        #expect(edge.route.heads.map(\.uri) == ["/initial"])
        let body = edge.route.parts.compactMap { part -> String? in if case .body(let bytes) = part { String(buffer: bytes) } else { nil } }
        #expect(body.joined() == "uuid=\(Self.uuid)&symbol=e")
        #expect(edge.route.parts.last == .end(nil))
        #expect(edge.rejected.isEmpty)
    }

    @Test func aChunkedBodyOverTheLimitIs413() throws {
        let edge = try Self.edge(maximumBody: 16)
        try edge.send("POST /followup HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n")
        #expect(try edge.responses().isEmpty)  // 16 bytes: still fine
        try edge.send("1\r\nx\r\n")
        try expectRefusal(edge, .payloadTooLarge, .bodyTooLarge, naming: "body")
    }

    @Test func aRefusalWaitsForTheAnswersToTheRequestsBeforeIt() throws {
        let edge = try Self.edge()
        try edge.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        try edge.send("POST /initial HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n")
        #expect(edge.route.heads.map(\.uri) == ["/health"])
        #expect(try edge.responses().isEmpty, "an answer of ours in the middle of another")
        edge.route.respond(body: "ok")
        let responses = try edge.responses()
        #expect(responses.map(\.head.status) == [.ok, .notImplemented])
        #expect(responses.last?.body.hasPrefix(#"{"error":"transfer-encoding:"#) == true)
        #expect(edge.rejected == [.unsupportedTransferCoding: 1])
    }

    @Test func a100ContinueIsSentToAClientThatWaitsForIt() throws {
        let edge = try Self.edge()
        try edge.send("POST /followup HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        #expect(try edge.responses().map(\.head.status) == [.continue])
        try edge.send("abcd")
        #expect(edge.route.heads.count == 1)
    }

    // MARK: Connections that end with their response (item 6)

    @Test(arguments: [
        ("HTTP/1.0", "", true),
        ("HTTP/1.0", "Connection: keep-alive\r\n", false),
        ("HTTP/1.1", "Connection: close\r\n", true),
        ("HTTP/1.1", "", false),
    ])
    func aRequestThatDoesNotKeepItsConnectionIsItsLast(version: String, header: String, closes: Bool) throws {
        let edge = try Self.edge()
        try edge.send("GET /health \(version)\r\nHost: x\r\n\(header)\r\n")
        // A second request behind it is read only if the connection stays.
        try edge.send("GET /pipeline \(version)\r\nHost: x\r\n\(header)\r\n")
        #expect(edge.route.heads.map(\.uri) == (closes ? ["/health"] : ["/health", "/pipeline"]))
        edge.route.respond(body: "{}")
        let response = try #require(try edge.responses().first)
        switch (closes, version) {
        case (true, _): #expect(response.head.headers["connection"] == ["close"])
        case (false, "HTTP/1.0"): #expect(response.head.headers["connection"] == ["keep-alive"])
        default: #expect(response.head.headers["connection"] == [])
        }
        #expect(edge.halfClose.outputClosed == closes)
        if closes {
            // The client has a grace period to close first; then we do.
            edge.channel.embeddedEventLoop.advanceTime(by: HTTPRequestGuard.closeGracePeriod)
            #expect(!edge.channel.isActive)
        }
        #expect(edge.rejected.isEmpty)
    }

    // MARK: Response headers (item 9)

    @Test func everyResponseSaysNoSniff() throws {
        let edge = try Self.edge()
        for status in [HTTPResponseStatus.ok, .notFound, .methodNotAllowed] {
            try edge.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
            edge.route.respond(status, body: "{}", headers: ["content-type": "application/json"])
        }
        let responses = try edge.responses()
        #expect(responses.count == 3)
        #expect(responses.allSatisfy { $0.head.headers["x-content-type-options"] == ["nosniff"] })
    }

    // MARK: WebSocket handshakes (item 5)

    static func handshake(path: String = "/stream", _ headers: [String: String?]) -> String {
        var fields: [String: String?] = [
            "Host": "localhost:5000", "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
        ]
        fields.merge(headers) { $1 }
        let lines = fields.sorted { $0.key < $1.key }.compactMap { name, value in value.map { "\(name): \($0)\r\n" } }
        return "GET \(path) HTTP/1.1\r\n" + lines.joined() + "\r\n"
    }

    @Test(arguments: [
        (["Sec-WebSocket-Key": nil], HTTPResponseStatus.badRequest, RejectReason.invalidUpgrade, "sec-websocket-key"),
        (["Sec-WebSocket-Key": ""], .badRequest, .invalidUpgrade, "sec-websocket-key"),
        (["Connection": "keep-alive"], .badRequest, .invalidUpgrade, "connection"),
        (["Sec-WebSocket-Version": "8"], .upgradeRequired, .invalidUpgrade, "sec-websocket-version"),
        (["Origin": "https://attacker.example"], .forbidden, .forbiddenOrigin, "origin"),
        (["Origin": "http://localhost:5001"], .forbidden, .forbiddenOrigin, "origin"),
        (["Origin": "null"], .forbidden, .forbiddenOrigin, "origin"),
    ] as [([String: String?], HTTPResponseStatus, RejectReason, String)])
    func aHandshakeThatMayNotGoOnIsRefusedBeforeTheUpgrade(
        headers: [String: String?], status: HTTPResponseStatus, reason: RejectReason, parameter: String
    ) throws {
        let edge = try Self.edge()
        try edge.send(Self.handshake(headers))
        try expectRefusal(edge, status, reason, naming: parameter)
    }

    @Test func aWrongVersionIsToldTheVersionServed() throws {
        let edge = try Self.edge()
        try edge.send(Self.handshake(["Sec-WebSocket-Version": "8"]))
        #expect(try edge.responses().first?.head.headers["sec-websocket-version"] == ["13"])
    }

    @Test(arguments: [
        (nil, OriginPolicy()),  // not a browser
        ("ws://localhost", OriginPolicy()),  // not a page either (swift-websocket's client)
        ("http://localhost:5000", OriginPolicy()),  // the service's own page
        ("HTTP://LOCALHOST:5000", OriginPolicy()),
        ("https://dash.example.com", try! OriginPolicy(parsing: "https://dash.example.com, http://localhost:8080")),
        ("https://dash.example.com:443", try! OriginPolicy(parsing: "https://dash.example.com")),
        ("https://anything.example", try! OriginPolicy(parsing: "*")),
    ] as [(String?, OriginPolicy)])
    func anAllowedHandshakeGoesOn(origin: String?, policy: OriginPolicy) throws {
        let edge = try Self.edge(origins: policy)
        try edge.send(Self.handshake(["Origin": origin]))
        #expect(edge.route.heads.map(\.uri) == ["/stream"])
        #expect(edge.rejected.isEmpty)
    }

    @Test func anUpgradeToAnotherPathIsAJSON404() throws {
        let edge = try Self.edge()
        try edge.send(Self.handshake(path: "/initial", [:]))
        let response = try #require(try edge.responses().first)
        #expect(response.head.status == .notFound)
        #expect(response.body.hasPrefix(#"{"error":"no WebSocket at /initial"#))
        #expect(edge.route.parts.isEmpty)
        #expect(edge.rejected.isEmpty)
    }

    @Test func theOriginPolicyReadsOriginsAndRefusesWhatIsNotOne() throws {
        let policy = try OriginPolicy(parsing: " https://A.example.com ,http://b.example:8080,")
        #expect(policy.listed == ["https://a.example.com:443", "http://b.example:8080"])
        #expect(policy.allows(origin: "https://a.example.com", host: "service.example"))
        #expect(!policy.allows(origin: "http://a.example.com", host: "service.example"))
        // Same origin: Origin's host and port are the Host header's (without a port, the scheme's).
        #expect(OriginPolicy().allows(origin: "http://[::1]:5000", host: "[::1]:5000"))
        #expect(OriginPolicy().allows(origin: "https://service.example", host: "service.example"))
        #expect(!OriginPolicy().allows(origin: "http://service.example", host: nil))
        for bad in ["example.com", "https://example.com/path", "https://", "ftp//x", "https://a.example:99999"] {
            #expect(throws: OriginPolicyError.self) { try OriginPolicy(parsing: bad) }
        }
    }

    // MARK: The mask check (item 5)

    static func frame(_ payload: [UInt8], opcode: UInt8 = 0x1, masked: Bool) -> [UInt8] {
        var frame: [UInt8] = [0x80 | opcode]
        let mask: UInt8 = masked ? 0x80 : 0
        switch payload.count {
        case ..<126: frame.append(mask | UInt8(payload.count))
        case ..<65536: frame += [mask | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
        default: frame += [mask | 127] + (0..<8).reversed().map { UInt8(truncatingIfNeeded: payload.count >> ($0 * 8)) }
        }
        if masked {
            let key: [UInt8] = [1, 2, 3, 4]
            return frame + key + payload.enumerated().map { $0.element ^ key[$0.offset % 4] }
        }
        return frame + payload
    }

    @Test(arguments: [0, 5, 125, 126, 300, 65535, 65536, 70000])
    func theScannerFollowsMaskedFramesOfEveryLengthSplitAnywhere(length: Int) {
        let stream = Self.frame(Array(repeating: 0x41, count: length), masked: true) + Self.frame([], opcode: 0x9, masked: true)
            + Self.frame(Array("[]".utf8), masked: true)
        // Byte by byte only where it is cheap: the machine running the tests is shared.
        for split in stream.count < 1024 ? [1, 2, 3, 7] : [7, 4096, 65536] {
            var scanner = WebSocketFrameScanner()
            var found: Int?
            var start = 0
            while start < stream.count, found == nil {
                found = scanner.firstUnmaskedByte(in: stream[start..<min(stream.count, start + split)])
                start += split
            }
            #expect(found == nil, "split \(split)")
        }
    }

    @Test(arguments: [(0x1 as UInt8, 0), (0x9, 10), (0x8, 125), (0x2, 70000)])
    func theScannerFindsAnUnmaskedFrameAfterMaskedOnes(opcode: UInt8, before: Int) {
        let first = before == 0 ? [] : Self.frame(Array(repeating: 0x20, count: before), masked: true)
        let stream = first + Self.frame(Array("hi".utf8), opcode: opcode, masked: false)
        var scanner = WebSocketFrameScanner()
        #expect(scanner.firstUnmaskedByte(in: stream) == first.count + 1)
        // Split anywhere (a byte at a time for short streams): found at the same place of the stream.
        let split = stream.count < 1024 ? 1 : 4093
        var inParts = WebSocketFrameScanner()
        var position: Int?
        for start in stride(from: 0, to: stream.count, by: split) where position == nil {
            position = inParts.firstUnmaskedByte(in: stream[start..<min(stream.count, start + split)]).map { start + $0 }
        }
        #expect(position == first.count + 1)
    }
}

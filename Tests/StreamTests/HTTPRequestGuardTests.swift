import Hummingbird
import HummingbirdTesting
import SymbolStreamCore
import Testing

@testable import SymbolStreamServer

/// The guard in front of the routes on the server `serve` runs: requests it
/// refuses are answered with a JSON error, on the first request of a
/// connection as on a later one, and counted per reason.
@Suite struct HTTPRequestGuardTests {
    typealias T = StreamTesting

    static let limits = HTTPRequestGuard.Limits(maximumBody: 16 * 1024, maximumHeaderBytes: 8 * 1024, maximumHeaderCount: 64)

    static func app(_ dependencies: RouteDependencies) -> some ApplicationProtocol {
        Application(
            router: buildRouter(dependencies),
            server: .symbolStream(dependencies, stream: T.stream(), http1: .init(idleTimeout: .seconds(30)), limits: limits),
            logger: T.logger)
    }

    static func oversizedPost(_ uuid: String) -> [UInt8] {
        Array("POST /initial?uuid=\(uuid)&symbol=e HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n".utf8)
            + [UInt8](repeating: UInt8(ascii: "x"), count: 20000)
    }

    @Test(arguments: [0, 1, 3])
    func anOversizedBodyIsRefusedAfterAnyNumberOfRequests(answeredBefore: Int) async throws {
        let store = RecordingStore()
        let counters = ServiceCounters()
        try await Self.app(T.dependencies(store: store, counters: counters)).test(.live) { client in
            let connection = try await RawHTTPConnection(port: try #require(client.port))
            for _ in 0..<answeredBefore {
                try await connection.send("GET /dashboard/symbol/a HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
                #expect(try await connection.response()?.status == 200)
            }
            try await connection.send(Self.oversizedPost(T.uuid(1)))
            let refused = try #require(try await connection.response())
            #expect(refused.status == 413)
            #expect(refused.body == #"{"error":"body: 20000 bytes declared; no route takes more than 16384"}"#)
            await connection.close()
        }
        #expect(counters.snapshot.rejected == [.bodyTooLarge: 1])
        #expect(store.batches.isEmpty && store.singleCalls == 0)
    }

    @Test(arguments: [0, 2])
    func bytesThatAreNotHTTPAreAnsweredWithAJSONError(answeredBefore: Int) async throws {
        let counters = ServiceCounters()
        try await Self.app(T.dependencies(store: RecordingStore(), counters: counters)).test(.live) { client in
            let connection = try await RawHTTPConnection(port: try #require(client.port))
            for _ in 0..<answeredBefore {
                try await connection.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
                #expect(try await connection.response()?.status == 200)
            }
            try await connection.send("G(T /health HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
            let refused = try #require(try await connection.response())
            #expect(refused.status == 400)
            #expect(refused.body.hasPrefix(#"{"error":"request: not valid HTTP/1.1"#))
            await connection.close()
        }
        #expect(counters.snapshot.rejected == [.malformedRequest: 1])
    }

    // MARK: Issue 13: framing, connections, headers, WebSocket handshakes

    /// A complete head with a body framed in a way the service cannot read:
    /// answered before any route runs, nothing stored, counted once.
    @Test(arguments: [
        ("POST /initial?uuid=\(T.uuid(7))&symbol=e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, RejectReason.unsupportedTransferCoding),
        ("POST /initial?uuid=\(T.uuid(7))&symbol=e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n", 501, .unsupportedTransferCoding),
        ("POST /followup?uuid=\(T.uuid(7)) HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400, .malformedRequest),
    ] as [(String, Int, RejectReason)])
    func badBodyFramingIsAnsweredAndStoresNothing(request: String, status: Int, reason: RejectReason) async throws {
        let store = RecordingStore()
        let counters = ServiceCounters()
        try await Self.app(T.dependencies(store: store, counters: counters)).test(.live) { client in
            let connection = try await RawHTTPConnection(port: try #require(client.port))
            try await connection.send(request.utf8)
            let refused = try #require(try await connection.response())
            #expect(refused.status == status)
            #expect(refused.body.hasPrefix(#"{"error":""#))
            #expect(refused.headers["x-content-type-options"] == "nosniff")
            try await connection.waitUntilClosed()
            await connection.close()
        }
        #expect(store.isEmpty && store.singleCalls == 0 && store.batches.isEmpty)
        let snapshot = counters.snapshot
        #expect(snapshot.rejected == [reason: 1])
        #expect(snapshot.initials == 0 && snapshot.followups == 0)
    }

    /// A body declared and never completed: no answer (the client left), and
    /// nothing stored from what came, even with the parameters all in the
    /// query string or the part of a form that arrived.
    @Test(arguments: [
        "POST /initial?uuid=\(T.uuid(8))&symbol=e HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",
        "POST /initial HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 70\r\n\r\nuuid=\(T.uuid(8))&symbol=e",
    ])
    func aBodyCutShortStoresNothing(request: String) async throws {
        let store = RecordingStore()
        let counters = ServiceCounters()
        try await Self.app(T.dependencies(store: store, counters: counters)).test(.live) { client in
            let connection = try await RawHTTPConnection(port: try #require(client.port))
            try await connection.send(request.utf8)
            try await connection.closeOutput()
            #expect(try await connection.response() == nil)
            await connection.close()
        }
        #expect(store.isEmpty && store.singleCalls == 0 && store.batches.isEmpty)
        #expect(counters.snapshot.initials == 0)
    }

    /// HTTP/1.0 without keep-alive: `Connection: close`, and the connection
    /// ends with the response (it used to stay open for the idle timeout).
    @Test func anHTTP10RequestEndsItsConnection() async throws {
        try await Self.app(T.dependencies(store: RecordingStore())).test(.live) { client in
            let connection = try await RawHTTPConnection(port: try #require(client.port))
            try await connection.send("GET /health HTTP/1.0\r\n\r\n".utf8)
            let answer = try #require(try await connection.response())
            #expect(answer.status == 200)
            #expect(answer.headers["connection"] == "close")
            try await connection.waitUntilClosed()
            await connection.close()

            let kept = try await RawHTTPConnection(port: try #require(client.port))
            for _ in 0..<2 {
                try await kept.send("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".utf8)
                let answer = try #require(try await kept.response())
                #expect(answer.status == 200 && answer.headers["connection"] == "keep-alive")
            }
            await kept.close()
        }
    }

    /// `X-Content-Type-Options: nosniff` on every kind of answer.
    @Test func everyResponseSaysNoSniff() async throws {
        try await Self.app(T.dependencies(store: RecordingStore())).test(.live) { client in
            let connection = try await RawHTTPConnection(port: try #require(client.port))
            for (request, status) in [
                ("POST /initial?uuid=\(T.uuid(3))&symbol=e", 200), ("GET /health", 200), ("GET /dashboard", 200),
                ("GET /dashboard/assets/dashboard.js", 200), ("GET /nowhere", 404), ("DELETE /health", 405),
                ("GET /dashboard/symbol/%zz", 400),
            ] {
                try await connection.send("\(request) HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
                let answer = try #require(try await connection.response())
                #expect(answer.status == status, "\(request)")
                #expect(answer.headers["x-content-type-options"] == "nosniff", "\(request)")
            }
            try await connection.send("POST /initial HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n".utf8)
            #expect(try await connection.response()?.headers["x-content-type-options"] == "nosniff")
            await connection.close()
        }
    }

    /// The handshake's refusals come before the upgrade, as JSON.
    @Test(arguments: [
        ("Sec-WebSocket-Version: 13\r\n", 400, "sec-websocket-key"),
        ("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://attacker.example\r\n", 403, "origin"),
    ])
    func aHandshakeThatMayNotGoOnIsAnswered(headers: String, status: Int, parameter: String) async throws {
        try await Self.app(T.dependencies(store: RecordingStore())).test(.live) { client in
            let port = try #require(client.port)
            let connection = try await RawHTTPConnection(port: port)
            try await connection.send(
                "GET /stream HTTP/1.1\r\nHost: localhost:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\(headers)\r\n".utf8)
            let answer = try #require(try await connection.response())
            #expect(answer.status == status)
            #expect(answer.body.hasPrefix(#"{"error":"\#(parameter):"#))
            await connection.close()
        }
    }

    static let handshake = "GET /stream HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

    /// The first server frame after the handshake's answer: opcode and payload.
    static func serverFrame(_ connection: RawHTTPConnection) async throws -> (opcode: UInt8, payload: [UInt8])? {
        guard let header = try await connection.bytes(2) else { return nil }
        var length = Int(header[1] & 0x7f)
        if length == 126 {
            guard let extended = try await connection.bytes(2) else { return nil }
            length = Int(extended[0]) << 8 | Int(extended[1])
        }
        guard let payload = try await connection.bytes(length) else { return nil }
        return (header[0] & 0x0f, payload)
    }

    static func unmaskedTextFrame(_ text: String) -> [UInt8] {
        [0x81, UInt8(text.utf8.count)] + Array(text.utf8)
    }

    /// An unmasked client frame closes the connection with 1002 before anything
    /// reads it. Frames sent with the handshake, before its answer (which
    /// used to reach the guard as raw bytes), are checked like the rest:
    /// a masked one is served, an unmasked one closes.
    @Test(arguments: [false, true])
    func anUnmaskedClientFrameClosesWith1002(earlyMaskedFrame: Bool) async throws {
        let store = RecordingStore()
        let message = T.message(T.initial(T.uuid(4), "e"))
        try await Self.app(T.dependencies(store: store)).test(.live) { client in
            let connection = try await RawHTTPConnection(port: try #require(client.port))
            let masked = Array(RawWebSocket.maskedTextFrame(message).readableBytesView)
            try await connection.send(Array(Self.handshake.utf8) + (earlyMaskedFrame ? masked : []))
            #expect(try await connection.response()?.status == 101)
            if !earlyMaskedFrame { try await connection.send(masked) }
            let reply = try #require(try await Self.serverFrame(connection))
            #expect(reply.opcode == 0x1 && String(decoding: reply.payload, as: UTF8.self) == #"[{"guess":true}]"#)
            try await connection.send(Self.unmaskedTextFrame(message))
            let close = try #require(try await Self.serverFrame(connection))
            #expect(close.opcode == 0x8)
            #expect(close.payload.count >= 2 && Int(close.payload[0]) << 8 | Int(close.payload[1]) == 1002)
            try await connection.waitUntilClosed()
            await connection.close()
        }
        #expect(store.batches == [1])
    }

    @Test func anUnmaskedFrameSentWithTheHandshakeIsNeverRead() async throws {
        let store = RecordingStore()
        let message = T.message(T.initial(T.uuid(5), "e"))
        try await Self.app(T.dependencies(store: store)).test(.live) { client in
            let connection = try await RawHTTPConnection(port: try #require(client.port))
            try await connection.send(Array(Self.handshake.utf8) + Self.unmaskedTextFrame(message))
            #expect(try await connection.response()?.status == 101)
            let close = try #require(try await Self.serverFrame(connection))
            #expect(close.opcode == 0x8)
            #expect(close.payload.count >= 2 && Int(close.payload[0]) << 8 | Int(close.payload[1]) == 1002)
            try await connection.waitUntilClosed()
            await connection.close()
        }
        #expect(store.batches.isEmpty)
    }
}

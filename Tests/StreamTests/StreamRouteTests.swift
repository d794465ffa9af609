import Foundation
import Hummingbird
import HummingbirdTesting
import HummingbirdWSTesting
import HummingbirdWebSocket
import NIOCore
import NIOWebSocket
import Synchronization
import SymbolStreamCore
import Testing
import TestSupport

@testable import SymbolStreamServer

/// `/stream` over a real WebSocket on the server `serve` runs: replies,
/// limits, close codes, outages and back-pressure.
@Suite struct StreamRouteTests {
    typealias T = StreamTesting
    let a = T.uuid(1), b = T.uuid(2)

    @Test func aSessionGetsOneReplyPerMessageInOrder() async throws {
        let store = RecordingStore()
        let (a, b) = (self.a, self.b)
        try await T.app(T.dependencies(store: store)).test(.live) { client in
            let close = try await client.stream { (session) async throws in
                #expect(try await session.send(T.message(T.initial(a, "e"), T.followup(a))) == #"[{"guess":true},{"ok":true}]"#)
                #expect(try await session.send(T.message(T.followup(b))) == #"[{"ok":true}]"#)
                #expect(try await session.send(T.message(T.initial(b, "Z"), T.initial(a, "e"))) == #"[{"guess":false},{"guess":true}]"#)
            }
            #expect(close?.closeCode == .normalClosure)
            // The HTTP routes see the streamed events.
            try await client.execute(uri: "/dashboard/symbol/z", method: .get) { response in
                #expect(String(buffer: response.body) == #"{"symbol":"z","count":1,"earliest":"2017-06-29 13:15:01.173538","latest":"2017-06-29 13:15:01.173538","followups":1}"#)
            }
        }
        #expect(store.batches == [2, 1, 2])
    }

    @Test func plainHTTPOnStreamIsAClearError() async throws {
        try await T.app(T.dependencies(store: RecordingStore())).test(.live) { client in
            try await client.execute(uri: "/stream", method: .get) { response in
                #expect(response.status == .upgradeRequired)
                #expect(response.headers[.upgrade] == "websocket")
                #expect(String(buffer: response.body).hasPrefix(#"{"error":"Upgrade: /stream is a WebSocket"#))
            }
            try await client.execute(uri: "/stream", method: .post) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET")
            }
            // The rest of the HTTP service is unchanged on this server.
            try await client.execute(uri: "/initial?uuid=\(T.uuid(9))&symbol=a", method: .post) { #expect(String(buffer: $0.body) == "True") }
            // Only /stream upgrades.
            await #expect(throws: (any Error).self) { try await client.ws("/initial") { _, _, _ in } }
        }
    }

    /// Frames that end the connection, with their close codes; none stores anything.
    @Test(arguments: [
        ("binary", WebSocketErrorCode.unacceptableData, "binary"),
        ("invalid UTF-8", .dataInconsistentWithMessage, "UTF-8"),
        ("one frame over the limit", .messageTooLarge, ""),
        ("fragments over the limit", .messageTooLarge, "message over 4096 bytes"),
        ("continuation first", .protocolError, "continuation"),
    ])
    func badFramesCloseTheConnection(_ kind: String, _ code: WebSocketErrorCode, _ reason: String) async throws {
        let store = RecordingStore()
        let counters = ServiceCounters()
        let event = T.initial(a, "e")
        try await T.app(T.dependencies(store: store, counters: counters), stream: T.stream(maximumMessageBytes: 4096)).test(.live) { client in
            let close = try await client.stream { (session) async throws in
                func frame(_ opcode: WebSocketOpcode, _ bytes: [UInt8], fin: Bool = true) async throws {
                    try await session.outbound.write(.custom(WebSocketFrame(fin: fin, opcode: opcode, data: ByteBuffer(bytes: bytes))))
                }
                let valid = Array("[\(event)]".utf8)
                switch kind {
                case "binary": try await frame(.binary, valid)
                case "invalid UTF-8": try await frame(.text, Array(valid.dropLast(2)) + [0xc3, 0x28, UInt8(ascii: "]")])
                case "one frame over the limit": try await frame(.text, Array(("[" + Array(repeating: event, count: 60).joined(separator: ",") + "]").utf8))
                case "fragments over the limit":
                    try await frame(.text, Array("[".utf8), fin: false)
                    for _ in 0..<60 { try await frame(.continuation, Array("\(event),".utf8), fin: false) }
                    try await frame(.continuation, Array("\(event)]".utf8))
                default: try await frame(.continuation, valid)
                }
                #expect(try await session.receive() == nil)
            }
            #expect(close?.closeCode == code)
            #expect(close?.reason?.contains(reason) ?? reason.isEmpty, "\(String(describing: close?.reason))")
        }
        #expect(store.batches.isEmpty && store.isEmpty)
        #expect(counters.snapshot == ServiceCounters.Snapshot())
    }

    @Test func fragmentedMessagesAreJoined() async throws {
        let store = RecordingStore()
        let a = self.a
        try await T.app(T.dependencies(store: store)).test(.live) { client in
            try await client.stream { (session) async throws in
                let text = Array(T.message(T.initial(a, "e"), T.followup(a)).utf8)
                let middle = text.count / 2
                try await session.outbound.write(.custom(WebSocketFrame(fin: false, opcode: .text, data: ByteBuffer(bytes: text[..<middle]))))
                try await session.outbound.write(.custom(WebSocketFrame(fin: true, opcode: .continuation, data: ByteBuffer(bytes: text[middle...]))))
                #expect(try await session.receive() == #"[{"guess":true},{"ok":true}]"#)
            }
        }
        #expect(store.batches == [2])
    }

    @Test func unusableMessagesAreAnsweredUntilTooManyInARow() async throws {
        let store = RecordingStore()
        var stream = T.stream(maximumEvents: 2)
        stream.maximumRefusedInARow = 3
        let a = self.a
        try await T.app(T.dependencies(store: store), stream: stream).test(.live) { client in
            let close = try await client.stream { (session) async throws in
                // Refused whole, but the connection stays usable…
                #expect(try await session.send("hello").hasPrefix(#"{"error":"message: expected a JSON array"#))
                #expect(try await session.send("[]") == #"{"error":"message: empty array; send 1 to 2 events","status":400}"#)
                // …a good message resets the count…
                #expect(try await session.send(T.message(T.followup(a))) == #"[{"ok":true}]"#)
                #expect(try await session.send(T.message(T.followup(a), T.followup(a), T.followup(a)))
                    == #"{"error":"message: more than 2 events; send at most 2 per message","status":413}"#)
                #expect(try await session.send("{}").hasPrefix(#"{"error":"message: "#))
                // …and the third unusable message in a row is answered, then ends it.
                #expect(try await session.send("[[]]").hasPrefix(#"{"error":"message: element 1"#))
                #expect(try await session.receive() == nil)
            }
            #expect(close?.closeCode == .policyViolation)
            #expect(close?.reason == "3 unusable messages in a row")
        }
        #expect(store.batches == [1])
    }

    /// The idle timeout runs on the stream's clock, here a manual one: the
    /// connection is closed when, and only when, that much of it has passed.
    @Test(.timeLimit(.minutes(5))) func idleConnectionsAreClosed() async throws {
        let clock = ManualClock()
        var stream = T.stream(idle: .seconds(1))
        stream.clock = clock
        try await T.app(T.dependencies(store: RecordingStore()), stream: stream).test(.live) { client in
            let close = try await client.stream { (session) async throws in
                await clock.waitForSleepers(1)
                #expect(clock.sleeps == [.seconds(1)])
                clock.advance(by: .milliseconds(999))
                #expect(clock.sleeperCount == 1, "still waiting")
                clock.advance(by: .milliseconds(1))
                #expect(try await session.receive() == nil)  // sends nothing, waits for the server to close
            }
            #expect(close?.closeCode == .normalClosure)
            #expect(close?.reason == "idle timeout: no message for 1 s")
        }
    }

    /// A message (received and answered) starts the idle timeout afresh.
    @Test(.timeLimit(.minutes(5))) func aMessagePutsTheIdleTimeoutOff() async throws {
        let clock = ManualClock()
        var stream = T.stream(idle: .seconds(1))
        stream.clock = clock
        let a = self.a
        try await T.app(T.dependencies(store: RecordingStore()), stream: stream).test(.live) { client in
            let close = try await client.stream { (session) async throws in
                await clock.waitForSleepers(1)
                clock.advance(by: .milliseconds(600))
                #expect(try await session.send(T.message(T.followup(a))) == #"[{"ok":true}]"#)
                // At the first deadline the connection was idle for 400 ms: 600 more to go.
                clock.advance(by: .milliseconds(400))
                await clock.waitForSleepers(1)
                #expect(clock.sleeps == [.seconds(1), .milliseconds(600)])
                clock.advance(by: .milliseconds(600))
                #expect(try await session.receive() == nil)
            }
            #expect(close?.reason == "idle timeout: no message for 1 s")
        }
    }

    /// The HTTP idle timeout holds on the WebSocket-capable server too, even
    /// before a first request; a WebSocket outlives it (it has its own).
    /// When exactly it closes is `ReadIdleTimeoutHandler`'s, tested on an
    /// embedded loop (`ChannelHandlerTimingTests`); here the server closes
    /// each of these connections by itself (the time limit ends a hang).
    @Test(.timeLimit(.minutes(5))) func silentAndHalfSentConnectionsAreClosedAfterTheHTTPIdleTimeout() async throws {
        let dependencies = T.dependencies(store: RecordingStore())
        let app = Application(
            router: buildRouter(dependencies), server: .symbolStream(
                dependencies, stream: T.stream(), http1: .init(idleTimeout: .seconds(2)), limits: HTTPRequestGuardTests.limits),
            logger: T.logger)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            async let silent: Void = RawConnection.waitUntilClosed(port: port, sending: "")
            async let halfSent: Void = RawConnection.waitUntilClosed(port: port, sending: "GET /health HTTP/1.1\r\nHo")
            // Headers trickled a byte every 0.3 s (slowloris): each byte is a
            // read, but no request part, so the timeout runs all the same.
            async let trickled: Void = RawConnection.waitUntilClosed(
                port: port, sending: "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: \(String(repeating: "z", count: 100))",
                trickle: .milliseconds(300))
            _ = try await (silent, halfSent, trickled)
            try await client.stream { (session) async throws in
                try await Task.sleep(for: .seconds(3))
                #expect(try await session.send(T.message(T.followup(T.uuid(3)))) == #"[{"ok":true}]"#)
            }
        }
    }

    @Test func anOutageIsAnsweredPerMessageAndTheConnectionSurvivesIt() async throws {
        let store = RecordingStore()
        let counters = ServiceCounters()
        let (a, b) = (self.a, self.b)
        try await T.app(T.dependencies(store: store, counters: counters)).test(.live) { client in
            let close = try await client.stream { (session) async throws in
                store.set(.unavailable)
                let down = try await session.send(T.message(T.initial(a, "e"), T.initial(b, "")))
                #expect(down == #"[{"error":"service unavailable: redis is not reachable; retry shortly","status":503},{"error":"symbol: '' is not a single letter a-z","status":400}]"#)
                store.set(.normal)
                #expect(try await session.send(T.message(T.initial(a, "e"))) == #"[{"guess":true}]"#)
            }
            #expect(close?.closeCode == .normalClosure)
        }
        #expect(counters.snapshot == ServiceCounters.Snapshot(initials: 1, rejected: [.invalidSymbol: 1], unavailable: 1))
    }

    @Test func internalErrorsClose1011() async throws {
        let store = RecordingStore()
        store.set(.broken)
        let a = self.a
        try await T.app(T.dependencies(store: store)).test(.live) { client in
            let close = try await client.stream { (session) async throws in
                try await session.outbound.write(.text(T.message(T.initial(a, "e"))))
                #expect(try await session.receive() == nil)
            }
            #expect(close?.closeCode == .unexpectedServerError)
            #expect(close?.reason == "internal error")
        }
    }

    /// A client that sends without reading, while the store is stuck: the
    /// connection holds one message in flight and the client is stalled (by
    /// TCP, once NIO stops reading and the kernel's buffers are full) before it
    /// gets its whole load out; released, the store gets the messages one at a
    /// time, in order. (That the server's memory stays flat meanwhile is
    /// checked end to end, on the server process, by Tests/e2e/test_stream.py.)
    @Test func aFastClientIsHeldBackNotBuffered() async throws {
        let store = RecordingStore()
        store.close()
        // 240 followups padded to 60 KB (unknown keys are read and ignored).
        let event = #"{"type":"followup","uuid":"\#(T.uuid(7))","pad":"\#(String(repeating: "x", count: 180))"}"#
        let message = "[" + Array(repeating: event, count: 240).joined(separator: ",") + "]"
        let load = 4 * Self.socketBufferLimit() / message.utf8.count + 50
        let sent = Shared(0)
        try await T.app(T.dependencies(store: store)).test(.live) { client in
            let socket = try await RawWebSocket.connect(port: try #require(client.port))
            let frame = RawWebSocket.maskedTextFrame(message)
            try await socket.run { outbound, inbound in
                let writer = Task {
                    for _ in 0..<load {
                        try await outbound.write(frame)
                        sent.update { $0 += 1 }
                    }
                }
                // Wait until the client can send no more: its count stops moving.
                var last = -1
                while sent.current != last {
                    last = sent.current
                    try await Task.sleep(for: .seconds(1))
                }
                #expect(last < load, "the server read \(last * message.utf8.count >> 20) MiB ahead of a stuck store")
                #expect(store.batches.count == 1, "one message in flight at a time")
                // Released, the store gets the messages one after another.
                store.open()
                // Replies are unmasked text frames: 0x81, 126, a 16-bit length, the payload.
                var received = ByteBuffer()
                var replies = 0
                while replies < 5, var part = try await inbound.next() {
                    received.writeBuffer(&part)
                    while received.readableBytes >= 4, let length = received.getInteger(at: received.readerIndex + 2, as: UInt16.self),
                        received.readableBytes >= 4 + Int(length)
                    {
                        #expect(received.readBytes(length: 2) == [0x81, 126])
                        received.moveReaderIndex(forwardBy: 2)
                        #expect(received.readString(length: Int(length))?.hasPrefix(#"[{"ok":true},"#) == true)
                        replies += 1
                    }
                }
                #expect(replies >= 5)
                writer.cancel()
            }
        }
        #expect(store.batches.count >= 5 && store.batches.allSatisfy { $0 == 240 })
        #expect(store.maximumInFlight == 1)
    }

    /// The most a loopback connection can hold in its receive plus send
    /// buffers (Linux autotuning limits), or 64 MiB where unknown.
    static func socketBufferLimit() -> Int {
        func maximum(_ path: String) -> Int? {
            (try? String(contentsOfFile: path, encoding: .utf8))?.split(whereSeparator: \.isWhitespace).last.flatMap { Int($0) }
        }
        guard let receive = maximum("/proc/sys/net/ipv4/tcp_rmem"), let send = maximum("/proc/sys/net/ipv4/tcp_wmem") else { return 64 << 20 }
        return receive + send
    }
}

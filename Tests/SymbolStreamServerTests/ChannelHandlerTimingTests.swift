import NIOCore
import NIOEmbedded
import NIOHTTP1
import SymbolStreamCore
import Testing
import TestSupport

@testable import SymbolStreamServer

/// The server's own channel handlers and the pipeline sampler, timed on
/// clocks the tests move: an embedded event loop (`advanceTime`) or a
/// `ManualClock`. Nothing here waits for real time to pass.
@Suite struct ChannelHandlerTimingTests {
    /// Records the user events that reach the end of the pipeline.
    final class UserEvents: ChannelInboundHandler {
        typealias InboundIn = NIOAny
        var inputClosed = false

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case .some(.inputClosed) = event as? ChannelEvent { inputClosed = true }
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// A socket's half-close, which an embedded channel does not have: an
    /// output close is recorded and goes no further; a full close goes on.
    final class HalfClose: ChannelOutboundHandler {
        typealias OutboundIn = NIOAny
        var outputClosed = false

        func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
            guard mode == .output else { return context.close(mode: mode, promise: promise) }
            outputClosed = true
            promise?.succeed(())
        }
    }

    // MARK: ReadIdleTimeoutHandler

    /// An active channel with NIO's request decoder and the idle timeout
    /// behind it, as the server sets them up.
    static func idleChannel(timeout: TimeAmount = .seconds(2)) throws -> (EmbeddedChannel, UserEvents) {
        let channel = EmbeddedChannel()
        let events = UserEvents()
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(ByteToMessageHandler(HTTPRequestDecoder()))
        try pipeline.addHandler(ReadIdleTimeoutHandler(timeout: timeout), name: ReadIdleTimeoutHandler.name)
        try pipeline.addHandler(events)
        channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 5000), promise: nil)
        #expect(channel.isActive)
        return (channel, events)
    }

    @Test(arguments: ["", "GET /health HTTP/1.1\r\nHo"])
    func aConnectionWithoutARequestIsClosedAfterTheTimeout(sending bytes: String) throws {
        let (channel, events) = try Self.idleChannel()
        if !bytes.isEmpty { try channel.writeInbound(ByteBuffer(string: bytes)) }
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1999))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!channel.isActive)
        // Closed as if the client had stopped sending (the upgrade handler then ends quietly).
        #expect(events.inputClosed)
    }

    @Test func headersTrickledAByteAtATimeDoNotHoldTheConnection() throws {
        let (channel, _) = try Self.idleChannel()
        // A byte every 300 ms (slowloris): each is a read, but no request part.
        for byte in "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: zzzz".utf8.prefix(6) {
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
            channel.embeddedEventLoop.advanceTime(by: .milliseconds(300))
        }
        #expect(channel.isActive)  // 1.8 s
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(200))
        #expect(!channel.isActive)  // 2 s after the connection opened
    }

    @Test func aRequestPartStartsTheTimeoutAfresh() throws {
        let (channel, _) = try Self.idleChannel()
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1500))
        try channel.writeInbound(ByteBuffer(string: "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1999))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!channel.isActive)
    }

    @Test func removedOnUpgradeItClosesNothing() throws {
        let (channel, _) = try Self.idleChannel()
        try channel.pipeline.removeHandler(name: ReadIdleTimeoutHandler.name).wait()
        channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(channel.isActive)
        _ = try channel.finish()
    }

    // MARK: HTTPRequestGuard

    static let limits = HTTPRequestGuard.Limits(maximumBody: 16 * 1024, maximumHeaderBytes: 8 * 1024, maximumHeaderCount: 64)

    static func guardedChannel(_ counters: ServiceCounters) throws -> (EmbeddedChannel, HalfClose) {
        let channel = EmbeddedChannel()
        let halfClose = HalfClose()
        try channel.pipeline.syncOperations.addHandlers([halfClose, HTTPRequestGuard(limits: limits, counters: counters)])
        channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 5000), promise: nil)
        return (channel, halfClose)
    }

    static func head(contentLength: Int) -> HTTPServerRequestPart {
        .head(HTTPRequestHead(version: .http1_1, method: .POST, uri: "/initial", headers: ["content-length": "\(contentLength)"]))
    }

    @Test func aRefusedRequestIsAnsweredThenTheConnectionClosesAfterAGracePeriod() throws {
        let counters = ServiceCounters()
        let (channel, halfClose) = try Self.guardedChannel(counters)
        try channel.writeInbound(Self.head(contentLength: 20_000))
        guard case .head(let head) = try channel.readOutbound(as: HTTPServerResponsePart.self) else {
            Issue.record("no response head")
            return
        }
        #expect(head.status == .payloadTooLarge)
        #expect(head.headers["connection"] == ["close"])
        guard case .body(.byteBuffer(let body)) = try channel.readOutbound(as: HTTPServerResponsePart.self) else {
            Issue.record("no response body")
            return
        }
        #expect(String(buffer: body) == #"{"error":"body: 20000 bytes declared; no route takes more than 16384"}"#)
        guard case .end = try channel.readOutbound(as: HTTPServerResponsePart.self) else {
            Issue.record("no response end")
            return
        }
        #expect(counters.snapshot.rejected == [.bodyTooLarge: 1])

        // Our side is closed at once; what the client still sends is read and dropped.
        #expect(halfClose.outputClosed)
        try channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(string: "xxxx")))
        #expect(try channel.readInbound(as: HTTPServerRequestPart.self) == nil)
        channel.embeddedEventLoop.advanceTime(by: HTTPRequestGuard.closeGracePeriod - .milliseconds(1))
        #expect(channel.isActive)
        // The client did not close within the grace period: we do.
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!channel.isActive)
    }

    @Test func aParserErrorIsAnsweredWithJSON() throws {
        let counters = ServiceCounters()
        let (channel, _) = try Self.guardedChannel(counters)
        channel.pipeline.syncOperations.fireErrorCaught(HTTPParserError.headerOverflow)
        guard case .head(let head) = try channel.readOutbound(as: HTTPServerResponsePart.self) else {
            Issue.record("no response head")
            return
        }
        #expect(head.status == .requestHeaderFieldsTooLarge)
        #expect(counters.snapshot.rejected == [.headersTooLarge: 1])
        channel.embeddedEventLoop.advanceTime(by: HTTPRequestGuard.closeGracePeriod)
        #expect(!channel.isActive)
    }

    // MARK: PipelineSampler

    @Test(.timeLimit(.minutes(5))) func theSamplerRecordsOncePerIntervalOfItsClock() async throws {
        let clock = ManualClock()
        let history = PipelineHistory(capacity: 10, interval: .seconds(5))
        let sampler = PipelineSampler(
            history: history, health: RouteTests.StubHealth(), counters: ServiceCounters(), clock: RouteTests.clock(), timing: clock)
        let running = Task { try await sampler.run() }
        // One sample at start, then one each time the interval has passed.
        for count in 1...3 {
            await clock.waitForSleepers(1)
            #expect(history.samples.count == count)
            clock.advance(by: .milliseconds(4999))
            #expect(clock.sleeperCount == 1)
            clock.advance(by: .milliseconds(1))
        }
        await clock.waitForSleepers(1)
        #expect(history.samples.count == 4)
        #expect(clock.sleeps == Array(repeating: .seconds(5), count: 4))
        running.cancel()
        try await running.value
    }
}

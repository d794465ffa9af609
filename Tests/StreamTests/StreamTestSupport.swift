import Hummingbird
import HummingbirdTesting
import HummingbirdWSTesting
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOPosix
import Synchronization
import WSClient
import Foundation
#if canImport(Glibc)
    import Glibc
#endif
import SymbolStreamCore
import Testing

@testable import SymbolStreamServer

enum StreamTesting {
    static let start: Int64 = 1_498_742_101_173_535  // 2017-06-29 13:15:01.173535

    /// A clock ticking one microsecond per event from `start`, the same in
    /// every app built here, so two apps fed the same events agree on times.
    static func clock(start: Int64 = start) -> EventClock {
        let next = Mutex(start)
        return EventClock {
            next.withLock { value in
                defer { value += 1 }
                return value
            }
        }
    }

    struct Health: HealthProbe {
        func report() async -> HealthReport {
            HealthReport(redis: .init(isUp: true), mariadb: .init(isUp: true), eventLog: nil, archiver: nil)
        }
    }

    static let logger: Logger = {
        var logger = Logger(label: "stream-test")
        logger.logLevel = .warning
        return logger
    }()

    static func dependencies(
        store: any EventStore, counters: ServiceCounters = ServiceCounters(), flip: Double = 0, seed: UInt64 = 1
    ) -> RouteDependencies {
        RouteDependencies(
            store: store, health: Health(), guesser: Guesser(model: GuessModel(flipProbability: flip), seed: seed), clock: clock(),
            counters: counters, logger: logger)
    }

    /// The service's HTTP routes and `/stream`, on the server `serve` runs.
    ///
    /// The HTTP idle timeout is far longer than any test: the live test client
    /// opens a connection at once and cannot close it cleanly once the server
    /// has (`I/O on closed channel`), which a slow test on a loaded machine hit
    /// with 30 s. The idle timeouts themselves are tested apart.
    static func app(_ dependencies: RouteDependencies, stream: StreamConfiguration = StreamConfiguration()) -> some ApplicationProtocol {
        Application(
            router: buildRouter(dependencies), server: .symbolStream(
                dependencies, stream: stream, http1: .init(idleTimeout: .seconds(600)), limits: HTTPRequestGuardTests.limits),
            logger: logger)
    }

    static func stream(maximumEvents: Int = 256, maximumMessageBytes: Int = 64 * 1024, idle: Duration = .seconds(60)) -> StreamConfiguration {
        var configuration = StreamConfiguration()
        configuration.maximumEvents = maximumEvents
        configuration.maximumMessageBytes = maximumMessageBytes
        configuration.idleTimeout = idle
        configuration.closeTimeout = .seconds(2)
        return configuration
    }

    static func initial(_ uuid: String, _ symbol: String) -> String {
        #"{"type":"initial","uuid":"\#(uuid)","symbol":"\#(symbol)"}"#
    }

    static func followup(_ uuid: String) -> String {
        #"{"type":"followup","uuid":"\#(uuid)"}"#
    }

    static func message(_ events: String...) -> String {
        "[" + events.joined(separator: ",") + "]"
    }

    static func uuid(_ n: Int) -> String {
        let hex = String(n, radix: 16)
        return "00000000-0000-4000-8000-" + String(repeating: "0", count: 12 - hex.count) + hex
    }
}

/// The client side of one `/stream` connection, inside `TestClient.ws`.
final class StreamSession {
    let outbound: WebSocketOutboundWriter
    private var messages: WebSocketInboundMessageStream.AsyncIterator

    init(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) {
        self.outbound = outbound
        self.messages = inbound.messages(maxSize: 1 << 22).makeAsyncIterator()
    }

    /// Sends a text message and returns the reply.
    func send(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        try await outbound.write(.text(text))
        return try await #require(try await receive(), sourceLocation: sourceLocation)
    }

    /// The next text message; nil once the server closed.
    func receive() async throws -> String? {
        switch try await messages.next() {
        case .text(let text): return text
        case .binary: Issue.record("binary reply"); return nil
        case nil: return nil
        }
    }
}

extension TestClientProtocol {
    /// Opens `/stream`, runs `body`, closes; returns the server's close frame.
    @discardableResult
    func stream(_ body: @escaping @Sendable (StreamSession) async throws -> Void) async throws -> WebSocketCloseFrame? {
        try await ws("/stream", configuration: .init(maxFrameSize: 1 << 22), logger: StreamTesting.logger) { inbound, outbound, _ in
            try await body(StreamSession(inbound: inbound, outbound: outbound))
        }
    }
}

/// An `EventStore` that forwards to the in-memory one and records every call,
/// and can be made to fail or to hold calls until released.
final class RecordingStore: EventStore {
    enum Mode { case normal, unavailable, broken }
    let inner = InMemoryEventStore()
    private let state = Mutex<(batches: [Int], singles: Int, mode: Mode, inFlight: Int, maxInFlight: Int)>(([], 0, .normal, 0, 0))
    private let gate = Mutex<(closed: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

    var batches: [Int] { state.withLock { $0.batches } }
    var singleCalls: Int { state.withLock { $0.singles } }
    var maximumInFlight: Int { state.withLock { $0.maxInFlight } }
    func set(_ mode: Mode) { state.withLock { $0.mode = mode } }

    /// Until `open()`, ingest calls wait.
    func close() { gate.withLock { $0.closed = true } }
    func open() {
        let waiting = gate.withLock { gate in
            gate.closed = false
            defer { gate.waiting = [] }
            return gate.waiting
        }
        for continuation in waiting { continuation.resume() }
    }

    private func check() throws {
        switch state.withLock({ $0.mode }) {
        case .normal: return
        case .unavailable: throw StoreUnavailableError(dependency: "redis", reason: "connection refused")
        case .broken: throw RecordingStoreError.broken
        }
    }

    func recordInitial(_ event: InitialEvent) async throws -> InitialOutcome {
        state.withLock { $0.singles += 1 }
        try check()
        return try await inner.recordInitial(event)
    }

    func recordFollowup(_ event: FollowupEvent) async throws -> FollowupOutcome {
        state.withLock { $0.singles += 1 }
        try check()
        return try await inner.recordFollowup(event)
    }

    func ingest(_ events: [IngestEvent]) async throws -> [IngestResult] {
        state.withLock { state in
            state.batches.append(events.count)
            state.inFlight += 1
            state.maxInFlight = max(state.maxInFlight, state.inFlight)
        }
        defer { state.withLock { $0.inFlight -= 1 } }
        await withCheckedContinuation { continuation in
            let wait = gate.withLock { gate in
                if gate.closed { gate.waiting.append(continuation) }
                return gate.closed
            }
            if !wait { continuation.resume() }
        }
        try check()
        return try await inner.ingest(events)
    }

    func summary(of symbol: Symbol) async throws -> SymbolSummary { try await inner.summary(of: symbol) }
    func summaries(in range: TimeRange) async throws -> [SymbolSummary] { try await inner.summaries(in: range) }
    func request(_ id: SymbolStreamCore.RequestUUID) async throws -> RequestRecord? { try await inner.request(id) }
    func rankings() async throws -> Rankings { try await inner.rankings() }

    /// Nothing stored at all.
    var isEmpty: Bool {
        let snapshot = inner.snapshot
        return snapshot.records.isEmpty && snapshot.orphans.isEmpty && snapshot.rollups.isEmpty
    }
}

enum RecordingStoreError: Error { case broken }

/// A value shared with the client's handler closure.
final class Shared<Value: Sendable>: Sendable {
    private let value: Mutex<Value>

    init(_ value: Value) { self.value = Mutex(value) }

    func update(_ body: (inout Value) -> Void) { value.withLock { body(&$0) } }
    var current: Value { value.withLock { $0 } }
}

/// A bare WebSocket client on a NIO socket, for the back-pressure test: its
/// writes wait while the socket cannot take more, with no library buffer
/// in between (it sends masked text frames and reads raw bytes).
struct RawWebSocket {
    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>

    static func connect(port: Int) async throws -> RawWebSocket {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        return RawWebSocket(channel: channel)
    }

    /// Runs `body` with the upgraded connection's writer and reader.
    func run<T: Sendable>(
        _ body: (_ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, _ inbound: inout NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator) async throws -> T
    ) async throws -> T {
        try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(
                ByteBuffer(
                    string: "GET /stream HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
            var iterator = inbound.makeAsyncIterator()
            var head = ByteBuffer()
            while head.readableBytesView.firstRange(of: Array("\r\n\r\n".utf8)) == nil {
                guard var part = try await iterator.next() else { throw RawWebSocketError.closed }
                head.writeBuffer(&part)
            }
            guard String(buffer: head).hasPrefix("HTTP/1.1 101") else { throw RawWebSocketError.notUpgraded(String(buffer: head)) }
            return try await body(outbound, &iterator)
        }
    }

    static func maskedTextFrame(_ text: String) -> ByteBuffer {
        let payload = Array(text.utf8)
        var frame = ByteBuffer()
        frame.writeInteger(UInt8(0x81))
        switch payload.count {
        case ..<126: frame.writeInteger(UInt8(0x80 | payload.count))
        case ..<65536:
            frame.writeInteger(UInt8(0x80 | 126))
            frame.writeInteger(UInt16(payload.count))
        default:
            frame.writeInteger(UInt8(0x80 | 127))
            frame.writeInteger(UInt64(payload.count))
        }
        let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        frame.writeBytes(mask)
        frame.writeBytes(payload.enumerated().map { $0.element ^ mask[$0.offset & 3] })
        return frame
    }
}

enum RawWebSocketError: Error {
    case closed
    case notUpgraded(String)
}

/// A plain TCP client that sends `payload` (maybe nothing, maybe half a
/// request) and waits for the server to close the connection.
enum RawConnection {
    /// Sends `payload` (a byte at a time, `trickle` apart, when given) and
    /// returns once the server has closed the connection (a reset, when bytes
    /// were still on their way, counts as closed).
    static func waitUntilClosed(port: Int, sending payload: String, trickle: Duration? = nil) async throws {
        do {
            try await closedByServer(port: port, sending: payload, trickle: trickle)
        } catch let error as IOError where error.errnoCode == ECONNRESET {}
    }

    private static func closedByServer(port: Int, sending payload: String, trickle: Duration?) async throws {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        try await channel.executeThenClose { inbound, outbound in
            try await withThrowingTaskGroup(of: Void.self) { sending in
                sending.addTask {
                    if let trickle {
                        for byte in payload.utf8 {
                            try await outbound.write(ByteBuffer(bytes: [byte]))
                            try await Task.sleep(for: trickle)
                        }
                    } else if !payload.isEmpty {
                        try await outbound.write(ByteBuffer(string: payload))
                    }
                }
                do {
                    for try await _ in inbound {}
                } catch {}
                sending.cancelAll()
            }
        }
    }
}

/// A keep-alive HTTP/1.1 connection driven byte by byte, for what a client
/// library would not send: requests one after another on one connection, with
/// bodies larger than they declare or than the server takes.
final class RawHTTPConnection {
    private let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    private var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private var received = ByteBuffer()

    init(port: Int) async throws {
        channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        inbound = channel.inbound.makeAsyncIterator()
        outbound = channel.outbound
    }

    func send(_ bytes: some Sequence<UInt8>) async throws {
        try await outbound.write(ByteBuffer(bytes: Array(bytes)))
    }

    /// The next response's status, headers (names lower-cased) and body (by
    /// its Content-Length), or nil when the connection ends first.
    func response() async throws -> (status: Int, headers: [String: String], body: String)? {
        while true {
            let text = String(buffer: received)
            if let headEnd = text.range(of: "\r\n\r\n") {
                let head = text[..<headEnd.lowerBound]
                var headers: [String: String] = [:]
                for line in head.split(separator: "\r\n").dropFirst() {
                    let parts = line.split(separator: ":", maxSplits: 1)
                    guard parts.count == 2 else { continue }
                    headers[parts[0].lowercased()] = parts[1].trimmingCharacters(in: .whitespaces)
                }
                let length = headers["content-length"].flatMap { Int($0) } ?? 0
                let headBytes = text.utf8.distance(from: text.utf8.startIndex, to: headEnd.upperBound)
                if received.readableBytes >= headBytes + length {
                    let status = Int(head.split(separator: " ")[1]) ?? 0
                    received.moveReaderIndex(forwardBy: headBytes)
                    let body = received.readString(length: length) ?? ""
                    received.discardReadBytes()
                    return (status, headers, body)
                }
            }
            guard try await receiveMore() else { return nil }
        }
    }

    /// Reads more bytes into `received`; false once the connection has ended.
    private func receiveMore() async throws -> Bool {
        do {
            guard var chunk = try await inbound.next() else { return false }
            received.writeBuffer(&chunk)
            return true
        } catch {
            return false
        }
    }

    /// The next `count` bytes as they came (after a response's head, a
    /// WebSocket's frames), or nil when the connection ends first.
    func bytes(_ count: Int) async throws -> [UInt8]? {
        while received.readableBytes < count {
            guard try await receiveMore() else { return nil }
        }
        defer { received.discardReadBytes() }
        return received.readBytes(length: count)
    }

    /// Waits until the server closes the connection, dropping what it sends.
    func waitUntilClosed() async throws {
        while try await receiveMore() { received.clear() }
    }

    /// Stops sending (the server reads the end of the input), as a client that
    /// goes away in the middle of a request.
    func closeOutput() async throws {
        outbound.finish()
        try await channel.channel.close(mode: .output)
    }

    func close() async {
        outbound.finish()
        try? await channel.channel.close()
    }
}

import HummingbirdWebSocket
import Logging
import NIOWebSocket
import NIOCore
import ServiceLifecycle
import Synchronization
import SymbolStreamCore

/// One `/stream` WebSocket connection: reads a message, answers it, then
/// reads the next. Never more than one message in flight per connection, so a
/// client that sends faster than Redis takes its events is held back by TCP
/// (NIO stops reading once a few frames are buffered) instead of being
/// buffered without bound.
///
/// Close codes: 1000 when the client closes or after `idleTimeout` without a
/// message; 1002 broken fragmentation; 1003 a binary message; 1007 text that
/// is not UTF-8; 1008 `maximumRefusedInARow` unusable messages in a row; 1009
/// a message over `maximumMessageBytes`; 1011 an internal error.
struct StreamConnection: Sendable {
    let ingest: StreamIngest
    let configuration: StreamConfiguration
    let logger: Logger

    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, channel: any Channel) async throws {
        // The HTTP read timeout gives way to the stream's own idle timeout.
        try? await channel.pipeline.removeHandler(name: ReadIdleTimeoutHandler.name).get()
        let activity = ActivityClock(configuration.clock)
        let closeTimeout = TimeAmount.nanoseconds(configuration.closeTimeout.nanoseconds)
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await closeWhenIdle(activity, outbound: outbound, channel: channel) }
                defer { group.cancelAll() }
                try await serve(inbound: inbound, outbound: outbound, activity: activity)
            }
        } onGracefulShutdown: {
            // hummingbird-websocket sends the close frame; a client that does not
            // answer it must not hold up the shutdown.
            channel.eventLoop.scheduleTask(in: closeTimeout) { channel.close(promise: nil) }
        }
    }

    private func serve(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, activity: ActivityClock) async throws {
        var frames = inbound.makeAsyncIterator()
        var refusedInARow = 0
        while let message = try await Self.nextMessage(&frames, maximumBytes: configuration.maximumMessageBytes) {
            activity.touch()
            let text: String
            switch message {
            case .text(let received):
                text = received
            case .binary:
                return try await outbound.close(.unacceptableData, reason: "binary messages are not accepted; send JSON text")
            case .invalidUTF8:
                return try await outbound.close(.dataInconsistentWithMessage, reason: "text message is not valid UTF-8")
            case .tooLarge:
                return try await outbound.close(.messageTooLarge, reason: "message over \(configuration.maximumMessageBytes) bytes")
            case .brokenFragments:
                return try await outbound.close(.protocolError, reason: "continuation frame out of place")
            }
            let reply: StreamIngest.Reply
            do {
                reply = try await ingest.reply(to: text)
            } catch {
                logger.error("stream message failed", metadata: ["error": "\(error)"])
                return try await outbound.close(.unexpectedServerError, reason: "internal error")
            }
            try await outbound.writeTextMessage(reply.text)
            activity.touch()
            refusedInARow = reply.refusedWhole ? refusedInARow + 1 : 0
            if refusedInARow >= configuration.maximumRefusedInARow {
                return try await outbound.close(.policyViolation, reason: "\(refusedInARow) unusable messages in a row")
            }
        }
    }

    enum InboundMessage: Sendable, Hashable {
        case text(String)
        case binary
        case invalidUTF8
        case tooLarge
        case brokenFragments
    }

    /// The next whole message, its frames joined; nil when the client closed.
    /// (A single frame over the limit never gets here: NIO's frame decoder,
    /// limited to the same size, closes the connection with 1009 itself.)
    static func nextMessage(_ frames: inout WebSocketInboundStream.AsyncIterator, maximumBytes: Int) async throws -> InboundMessage? {
        guard let first = try await frames.next() else { return nil }
        switch first.opcode {
        case .text: break
        case .binary: return .binary
        case .continuation: return .brokenFragments
        }
        var data = first.data
        var finished = first.fin
        while !finished {
            guard let frame = try await frames.next() else { return nil }
            guard frame.opcode == .continuation else { return .brokenFragments }
            guard data.readableBytes + frame.data.readableBytes <= maximumBytes else { return .tooLarge }
            var part = frame.data
            data.writeBuffer(&part)
            finished = frame.fin
        }
        guard data.readableBytes <= maximumBytes else { return .tooLarge }
        guard let text = data.withUnsafeReadableBytes({ String(validating: $0, as: UTF8.self) }) else { return .invalidUTF8 }
        return .text(text)
    }

    /// Closes the connection once no message came for `idleTimeout`; drops it
    /// if the client does not answer the close within `closeTimeout`.
    private func closeWhenIdle(_ activity: ActivityClock, outbound: WebSocketOutboundWriter, channel: any Channel) async {
        let limit = UInt64(max(1, configuration.idleTimeout.nanoseconds))
        while !Task.isCancelled {
            let idle = activity.idleNanoseconds
            guard idle >= limit else {
                try? await configuration.clock.sleep(for: .nanoseconds(Int64(limit - idle)))
                continue
            }
            logger.debug("closing an idle stream connection")
            let seconds = configuration.idleTimeout.components.seconds
            try? await outbound.close(.normalClosure, reason: "idle timeout: no message for \(seconds) s")
            try? await configuration.clock.sleep(for: configuration.closeTimeout)
            if !Task.isCancelled { channel.close(promise: nil) }
            return
        }
    }
}

/// When the connection last received or answered a message, on the
/// configuration's clock (monotonic).
final class ActivityClock: Sendable {
    private let stopwatch: Stopwatch
    /// Nanoseconds from the stopwatch's start to the last activity.
    private let last = Atomic<Int64>(0)

    init(_ clock: any Clock<Duration>) {
        stopwatch = Stopwatch(clock)
    }

    func touch() {
        last.store(stopwatch.elapsed.nanoseconds, ordering: .relaxed)
    }

    var idleNanoseconds: UInt64 {
        let idle = stopwatch.elapsed.nanoseconds - last.load(ordering: .relaxed)
        return idle > 0 ? UInt64(idle) : 0
    }
}

extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}

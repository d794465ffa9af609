import NIOConcurrencyHelpers
import NIOCore

// Every request is resumed exactly once: failed where it is rejected, or taken into the
// command handler's FIFO and resumed when its reply comes or the connection closes.
// Debug builds (and so the tests) check that with CheckedContinuation; release builds
// save its allocation per command, which measurably matters at 100k+ commands/s.
#if DEBUG
typealias ReplyContinuation<Value> = CheckedContinuation<Value, any Error>
#else
typealias ReplyContinuation<Value> = UnsafeContinuation<Value, any Error>
#endif

@inline(__always)
func withReplyContinuation<Value>(
    isolation: isolated (any Actor)? = #isolation,
    _ body: (ReplyContinuation<Value>) -> Void
) async throws -> sending Value {
    #if DEBUG
    try await withCheckedThrowingContinuation(isolation: isolation, body)
    #else
    try await withUnsafeThrowingContinuation(isolation: isolation, body)
    #endif
}

/// A command, or a pipeline of commands, on its way to the event loop.
struct RedisRequest: Sendable {
    enum Payload: Sendable {
        case single(RedisCommand, ReplyContinuation<RESPValue>)
        case pipeline([RedisCommand], ReplyContinuation<[RESPValue]>)
        /// Pre-encoded commands (one `isEncoded` command) and how many replies they get.
        case encoded(RedisCommand, count: Int, ReplyContinuation<[RESPValue]>)
    }

    var payload: Payload
    /// When the reply is overdue; fixed at submission, so time spent queued counts too.
    var deadline: NIODeadline

    func fail(_ error: RedisClientError) {
        switch self.payload {
        case .single(_, let continuation): continuation.resume(throwing: error)
        case .pipeline(_, let continuation): continuation.resume(throwing: error)
        case .encoded(_, _, let continuation): continuation.resume(throwing: error)
        }
    }
}

/// Where tasks leave requests for a connection's event loop.
///
/// Submitting costs a lock and an array append; only the first request after a drain
/// pays for `EventLoop.execute`. Everything submitted before the drain runs goes out in
/// one write and one flush, which is what makes many concurrent callers cheap.
final class RequestInbox: Sendable {
    private struct State {
        var requests: [RedisRequest] = []
        var drainScheduled = false
        /// Set once the connection is closing or closed: nothing more is accepted.
        var closedReason: String? = nil
    }

    enum EnqueueResult {
        /// The caller must schedule a drain on the event loop.
        case scheduleDrain
        /// A drain is already scheduled and will pick this request up.
        case queued
        /// The connection no longer accepts commands; the request was not taken.
        case rejected(reason: String)
    }

    private let state = NIOLockedValueBox(State())

    init() {}

    func enqueue(_ request: RedisRequest) -> EnqueueResult {
        self.state.withLockedValue { state in
            if let reason = state.closedReason { return .rejected(reason: reason) }
            state.requests.append(request)
            if state.drainScheduled { return .queued }
            state.drainScheduled = true
            return .scheduleDrain
        }
    }

    /// Takes every queued request; the next `enqueue` schedules a new drain.
    func takeAll() -> [RedisRequest] {
        self.state.withLockedValue { state in
            state.drainScheduled = false
            guard !state.requests.isEmpty else { return [] }
            let requests = state.requests
            state.requests = []
            return requests
        }
    }

    /// Stops accepting requests and returns those not yet taken (never sent).
    func close(reason: String) -> [RedisRequest] {
        self.state.withLockedValue { state in
            if state.closedReason == nil { state.closedReason = reason }
            let requests = state.requests
            state.requests = []
            return requests
        }
    }

    var isClosed: Bool {
        self.state.withLockedValue { $0.closedReason != nil }
    }
}

import Synchronization

/// Groups concurrent requests into shared calls: whoever arrives while a call
/// is in flight joins the next one. Idle, a request goes out alone at once;
/// under load the batches grow by themselves (group commit), which is what
/// lets one Redis round trip serve dozens of HTTP requests.
///
/// A request is always answered by a call that started after it arrived, so
/// batching never serves a stale read or reorders a write before its caller
/// asked for it.
///
/// Requests queue by lane, one per event loop that has a Redis connection:
/// a batch then starts, goes out, and resumes its callers on the thread they
/// run on, with no other thread to wake on the way.
final class RequestBatcher<Request: Sendable, Reply: Sendable>: Sendable {
    typealias Send = @Sendable ([Request]) async throws -> [Reply]

    private struct Waiter {
        var request: Request
        var continuation: CheckedContinuation<Reply, any Error>
    }

    private struct State {
        var queue: [Waiter] = []
        var senders = 0
    }

    private final class Lane: Sendable {
        let state = Mutex(State())
    }

    private let lanes: [Lane]
    private let currentLane: @Sendable () -> Int
    private let maximumSenders: Int
    private let maximumBatch: Int
    private let send: Send

    /// - Parameters:
    ///   - lanes: independent queues (one per event loop).
    ///   - currentLane: the caller's lane, in `0..<lanes`.
    ///   - maximumSenders: calls in flight at once per lane (about one per connection).
    ///   - maximumBatch: requests per call at most.
    ///   - send: answers a batch, one reply per request in the same order.
    init(
        lanes: Int = 1, currentLane: @escaping @Sendable () -> Int = { 0 }, maximumSenders: Int, maximumBatch: Int,
        send: @escaping Send
    ) {
        precondition(lanes > 0 && maximumSenders > 0 && maximumBatch > 0)
        self.lanes = (0..<lanes).map { _ in Lane() }
        self.currentLane = currentLane
        self.maximumSenders = maximumSenders
        self.maximumBatch = maximumBatch
        self.send = send
    }

    func submit(_ request: Request) async throws -> Reply {
        let lane = lanes[min(max(currentLane(), 0), lanes.count - 1)]
        return try await withCheckedThrowingContinuation { continuation in
            let startSender = lane.state.withLock { state in
                state.queue.append(Waiter(request: request, continuation: continuation))
                guard state.senders < maximumSenders else { return false }
                state.senders += 1
                return true
            }
            if startSender {
                // An unstructured task on purpose: the sender is the group
                // commit, and serves whoever queues while it runs, so it
                // outlives the caller that started it; as a child of that
                // caller it would hold its reply back until the lane ran
                // dry. It cannot leak: it ends once the queue is empty, and
                // every waiter it took is resumed (replies or the error).
                Task { await self.sendUntilEmpty(lane) }
            }
        }
    }

    private func sendUntilEmpty(_ lane: Lane) async {
        while true {
            let batch = lane.state.withLock { state -> [Waiter] in
                if state.queue.count <= maximumBatch {
                    defer { state.queue = [] }
                    if state.queue.isEmpty { state.senders -= 1 }
                    return state.queue
                }
                defer { state.queue.removeFirst(maximumBatch) }
                return Array(state.queue.prefix(maximumBatch))
            }
            if batch.isEmpty { return }
            do {
                let replies = try await send(batch.map(\.request))
                precondition(replies.count == batch.count, "a batch must answer every request")
                for (waiter, reply) in zip(batch, replies) { waiter.continuation.resume(returning: reply) }
            } catch {
                for waiter in batch { waiter.continuation.resume(throwing: error) }
            }
        }
    }
}

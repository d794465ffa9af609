import Synchronization
import SymbolStreamCore

/// Groups concurrent ingests into shared calls: whoever arrives while a call
/// is in flight joins the next one. Idle, a request goes out alone at once;
/// under load the batches grow by themselves (group commit), which is what
/// lets Redis take tens of thousands of events a second.
final class IngestBatcher: Sendable {
    typealias Send = @Sendable ([IngestEvent]) async throws -> [IngestOutcome]

    private struct Waiter {
        var event: IngestEvent
        var continuation: CheckedContinuation<IngestOutcome, any Error>
    }

    private struct State {
        var queue: [Waiter] = []
        var senders = 0
    }

    private let state = Mutex(State())
    private let maximumSenders: Int
    private let maximumBatch: Int
    private let send: Send

    /// - Parameters:
    ///   - maximumSenders: calls in flight at once (about one per connection).
    ///   - maximumBatch: events per call at most.
    init(maximumSenders: Int, maximumBatch: Int, send: @escaping Send) {
        precondition(maximumSenders > 0 && maximumBatch > 0)
        self.maximumSenders = maximumSenders
        self.maximumBatch = maximumBatch
        self.send = send
    }

    func submit(_ event: IngestEvent) async throws -> IngestOutcome {
        try await withCheckedThrowingContinuation { continuation in
            let startSender = state.withLock { state in
                state.queue.append(Waiter(event: event, continuation: continuation))
                guard state.senders < maximumSenders else { return false }
                state.senders += 1
                return true
            }
            if startSender {
                Task { await self.sendUntilEmpty() }
            }
        }
    }

    private func sendUntilEmpty() async {
        while true {
            let batch = state.withLock { state -> [Waiter] in
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
                let outcomes = try await send(batch.map(\.event))
                for (waiter, outcome) in zip(batch, outcomes) { waiter.continuation.resume(returning: outcome) }
            } catch {
                for waiter in batch { waiter.continuation.resume(throwing: error) }
            }
        }
    }
}

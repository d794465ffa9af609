import NIOConcurrencyHelpers

/// When the cluster client re-reads its slot map. One loop does the reading
/// (``RedisClusterClient``'s refresh loop); requests only ask for a re-read,
/// which costs a lock and a flag, so a thousand `MOVED` replies at once still
/// make one re-read (coalesced), and the loop's own pause between reads
/// bounds how often they happen (rate-limited).
final class ClusterRefreshSchedule: Sendable {
    private struct State {
        /// A re-read was asked for since the loop last looked.
        var requested = false
        /// The loop, waiting for a request or its timer.
        var loop: (token: UInt64, continuation: CheckedContinuation<Void, Never>)? = nil
        var nextToken: UInt64 = 0
        /// Set when the client stops: the loop waits no more.
        var isClosed = false
    }

    private let state = NIOLockedValueBox(State())
    /// The loop's timer runs on it (tests pass a manual one).
    private let clock: any Clock<Duration>

    init(clock: any Clock<Duration> = ContinuousClock()) {
        self.clock = clock
    }

    /// Asks for a re-read soon.
    func request() {
        let loop = self.state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            guard let loop = state.loop else {
                state.requested = true
                return nil
            }
            state.loop = nil
            return loop.continuation
        }
        loop?.resume()
    }

    /// For the loop: waits until a re-read is asked for, or `timeout` passes,
    /// or the task is cancelled.
    func waitForRequest(timeout: Duration) async {
        let token: UInt64? = self.state.withLockedValue { state in
            if state.requested {
                state.requested = false
                return nil
            }
            state.nextToken += 1
            return state.nextToken
        }
        guard let token else { return }
        await withTaskGroup(of: Void.self) { group in
            // The timer: wakes the loop unless a request did first. Cancelling
            // the group (below, or the loop's task) ends its sleep early.
            group.addTask {
                try? await self.clock.sleep(for: timeout)
                self.wakeLoop(token: token)
            }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = self.state.withLockedValue { state -> Bool in
                    if state.requested || state.isClosed || Task.isCancelled {
                        state.requested = false
                        return true
                    }
                    state.loop = (token, continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
            group.cancelAll()
        }
    }

    private func wakeLoop(token: UInt64) {
        let loop = self.state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            guard let loop = state.loop, loop.token == token else { return nil }
            state.loop = nil
            return loop.continuation
        }
        loop?.resume()
    }

    /// For the loop: a read begins, which answers every request so far.
    func readStarting() {
        self.state.withLockedValue { $0.requested = false }
    }

    /// The client stopped: wakes the loop, and it waits no more.
    func close() {
        let loop = self.state.withLockedValue { state in
            state.isClosed = true
            defer { state.loop = nil }
            return state.loop
        }
        loop?.continuation.resume()
    }

    /// The client starts (again): the loop waits from now on.
    func open() {
        self.state.withLockedValue { state in
            state.isClosed = false
            state.requested = false
        }
    }
}

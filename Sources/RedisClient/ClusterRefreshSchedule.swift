import NIOConcurrencyHelpers

/// When the cluster client re-reads its slot map. One loop does the reading
/// (``RedisClusterClient``'s refresh loop); requests only ask for a re-read,
/// which costs a lock and a flag, so a thousand `MOVED` replies at once still
/// make one re-read (coalesced), and the loop's own pause between reads
/// bounds how often they happen (rate-limited).
///
/// A request that cannot go on without a fresher map (a `MOVED` to a node it
/// has no connections to) waits with ``waitForRefresh()`` for a read that
/// *starts* after it asked: one already under way may predate the change.
final class ClusterRefreshSchedule: Sendable {
    private struct Waiter {
        var id: UInt64
        /// Resumed once this attempt (or a later one) has finished.
        var attempt: UInt64
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        /// A re-read was asked for since the loop last looked.
        var requested = false
        /// The loop, waiting for a request or its timer.
        var loop: (token: UInt64, continuation: CheckedContinuation<Void, Never>)? = nil
        var nextToken: UInt64 = 0
        /// Attempts started so far; attempt n is the n-th.
        var attemptsStarted: UInt64 = 0
        var waiters: [Waiter] = []
        /// Set when the client stops: nobody waits any more.
        var isClosed = false
    }

    private let state = NIOLockedValueBox(State())

    init() {}

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

    /// Asks for a re-read and waits until one that started after this call
    /// has finished, whatever it found; returns at once once the client stopped.
    func waitForRefresh() async {
        let id = self.state.withLockedValue { state -> UInt64 in
            state.nextToken += 1
            return state.nextToken
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = self.state.withLockedValue { state -> Bool in
                    if state.isClosed || Task.isCancelled { return true }
                    state.waiters.append(Waiter(id: id, attempt: state.attemptsStarted + 1, continuation: continuation))
                    return false
                }
                if resumeNow {
                    continuation.resume()
                } else {
                    self.request()
                }
            }
        } onCancel: {
            let waiter = self.state.withLockedValue { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume()
        }
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
                try? await Task.sleep(for: timeout)
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

    /// For the loop: an attempt begins; pass its number to `attemptFinished`.
    func attemptStarting() -> UInt64 {
        self.state.withLockedValue { state in
            state.attemptsStarted += 1
            // Whatever was asked for until now, this attempt answers.
            state.requested = false
            return state.attemptsStarted
        }
    }

    /// For the loop: resumes every request waiting for this attempt.
    func attemptFinished(_ attempt: UInt64) {
        let done = self.state.withLockedValue { state -> [Waiter] in
            let done = state.waiters.filter { $0.attempt <= attempt }
            state.waiters.removeAll { $0.attempt <= attempt }
            return done
        }
        for waiter in done { waiter.continuation.resume() }
    }

    /// The client stopped: resumes every waiter, now and from now on.
    func close() {
        let (waiters, loop) = self.state.withLockedValue { state in
            state.isClosed = true
            defer {
                state.waiters = []
                state.loop = nil
            }
            return (state.waiters, state.loop)
        }
        for waiter in waiters { waiter.continuation.resume() }
        loop?.continuation.resume()
    }

    /// The client starts (again): waits are real from now on.
    func open() {
        self.state.withLockedValue { state in
            state.isClosed = false
            state.requested = false
        }
    }
}

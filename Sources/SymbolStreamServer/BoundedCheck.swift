import Synchronization

/// One dependency's health check with a deadline, and never more than one
/// of it running.
///
/// A hung server must not hang `/health`: a caller waits at most `deadline`
/// from the start of the check it is given, then hears that it is late. The
/// check itself is not abandoned (a MariaDB ping blocks a pool thread until
/// its read timeout, and cannot be cancelled); instead, while it runs, no
/// other starts: later callers share it, and once its deadline has passed
/// they hear at once how long it has been waiting, so repeated probes of a
/// hung server neither pile up on it nor make anyone wait again. The first
/// call after it returns starts a fresh one.
final class BoundedCheck<Value: Sendable, C: Clock>: Sendable where C.Duration == Duration {
    enum Outcome: Sendable {
        /// The check's answer, within the deadline.
        case answered(Value)
        /// No answer yet: the running check started `waiting` ago.
        case late(waiting: Duration)
    }

    private struct Waiter {
        var continuation: CheckedContinuation<Outcome, Never>
        var timer: Task<Void, Never>?
    }

    /// The check in progress and who waits for it.
    private struct Flight {
        var started: C.Instant
        var waiters: [Int: Waiter] = [:]
    }

    private struct State {
        var flight: Flight?
        var nextWaiter = 0
    }

    let deadline: Duration
    private let clock: C
    private let check: @Sendable () async -> Value
    private let state = Mutex(State())

    init(deadline: Duration, clock: C, check: @escaping @Sendable () async -> Value) {
        self.deadline = deadline
        self.clock = clock
        self.check = check
    }

    /// The answer of the running check, or of a new one if none runs, if it
    /// comes before the running check's deadline.
    func run() async -> Outcome {
        await withCheckedContinuation { continuation in
            let (id, started, isNew) = state.withLock { state in
                let id = state.nextWaiter
                state.nextWaiter += 1
                let isNew = state.flight == nil
                if isNew { state.flight = Flight(started: clock.now) }
                state.flight!.waiters[id] = Waiter(continuation: continuation)
                return (id, state.flight!.started, isNew)
            }
            if isNew {
                // Unstructured on purpose: the check outlives a caller that
                // stops waiting for it, and answers whoever waits when it ends.
                Task { self.finish(await self.check()) }
            }
            let timer = Task { [clock, deadline] in
                do { try await clock.sleep(until: started.advanced(by: deadline), tolerance: nil) } catch { return }
                self.expire(id)
            }
            let kept = state.withLock { state in
                guard state.flight?.waiters[id] != nil else { return false }
                state.flight!.waiters[id]!.timer = timer
                return true
            }
            if !kept { timer.cancel() }  // answered already
        }
    }

    /// Whether a check is running now (tests).
    var isRunning: Bool { state.withLock { $0.flight != nil } }

    private func finish(_ value: Value) {
        let waiters = state.withLock { state in
            defer { state.flight = nil }
            return state.flight.map { Array($0.waiters.values) } ?? []
        }
        for waiter in waiters {
            waiter.timer?.cancel()
            waiter.continuation.resume(returning: .answered(value))
        }
    }

    private func expire(_ id: Int) {
        let (waiter, waiting) = state.withLock { state -> (Waiter?, Duration) in
            guard let flight = state.flight else { return (nil, .zero) }
            return (state.flight!.waiters.removeValue(forKey: id), flight.started.duration(to: clock.now))
        }
        waiter?.continuation.resume(returning: .late(waiting: waiting))
    }
}

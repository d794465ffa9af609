import NIOCore

/// What `RedisCommandHandler` knows about its connection, without the I/O
/// (after postgres-nio's `ConnectionStateMachine`): the handler reports what
/// happened (commands written, a reply, an error, its timeout check, the
/// channel closing) and performs the action the machine returns. Tests drive
/// it with plain values as waiters, no channel needed.
///
/// Generic over the waiters so that tests need no continuations; the handler
/// uses `ReplyContinuation`s, and the specialised machine is a ring buffer
/// of enums: nothing is allocated per command.
struct RedisCommandStateMachine<SingleWaiter, PipelineWaiter> {
    /// Whoever waits for the replies of one request.
    enum Waiter {
        /// One command: its reply, or its error reply as ``RedisClientError/server(_:)``.
        case single(SingleWaiter)
        /// Several commands: all their replies, error replies in place.
        case pipeline(PipelineWaiter, replies: Int)
    }

    private struct InFlight {
        var waiter: Waiter
        /// When the reply is overdue.
        var deadline: NIODeadline
    }

    private enum State {
        /// Commands are written and replies matched.
        case open
        /// A graceful close: nothing more is written, and the connection
        /// closes once every command in flight has its reply.
        case closingWhenIdle
        /// Closing (or closed) for this reason, which the commands still in
        /// flight get; the first reason wins.
        case failed(RedisClientError)
    }

    private var state = State.open
    /// Redis answers in order, so a FIFO of waiters is all the matching needs.
    private var inFlight = CircularBuffer<InFlight>(initialCapacity: 64)
    /// Replies collected so far for the pipeline at the head of `inFlight`.
    private var pipelineReplies: [RESPValue] = []

    init() {}

    /// Commands in flight (written, reply not yet matched).
    var inFlightCount: Int { inFlight.count }

    /// Whether requests taken from the inbox may be written; if not, they
    /// were never sent and fail as unavailable.
    var acceptsCommands: Bool {
        if case .open = state { true } else { false }
    }

    /// A request went out: its replies come after those of every request before it.
    mutating func written(_ waiter: Waiter, deadline: NIODeadline) {
        inFlight.append(InFlight(waiter: waiter, deadline: deadline))
    }

    enum ReplyAction {
        /// Resume a single command's waiter; close the channel afterwards if
        /// `thenClose` (the last reply a graceful close waited for).
        case succeed(SingleWaiter, RESPValue, thenClose: Bool)
        case fail(SingleWaiter, RedisClientError, thenClose: Bool)
        /// Resume a pipeline's waiter with all its replies.
        case succeedPipeline(PipelineWaiter, [RESPValue], thenClose: Bool)
        /// The pipeline at the head has more replies to come.
        case wait
        /// A reply nobody waits for: the connection is out of step. Close it
        /// (the failure is recorded).
        case close(RedisClientError)
    }

    mutating func replyReceived(_ reply: RESPValue) -> ReplyAction {
        guard let head = inFlight.first else {
            let failure = RedisClientError.protocolError("reply without a command in flight: \(reply)")
            fail(failure)
            return .close(failure)
        }
        switch head.waiter {
        case .single(let waiter):
            inFlight.removeFirst()
            if case .error(let message) = reply {
                return .fail(waiter, .server(message), thenClose: isIdleAndClosing)
            }
            return .succeed(waiter, reply, thenClose: isIdleAndClosing)
        case .pipeline(let waiter, let count):
            if pipelineReplies.isEmpty {
                pipelineReplies.reserveCapacity(count)
            }
            pipelineReplies.append(reply)
            guard pipelineReplies.count == count else { return .wait }
            inFlight.removeFirst()
            let replies = pipelineReplies
            pipelineReplies = []
            return .succeedPipeline(waiter, replies, thenClose: isIdleAndClosing)
        }
    }

    private var isIdleAndClosing: Bool {
        if case .closingWhenIdle = state { inFlight.isEmpty } else { false }
    }

    /// Records why the connection is being closed (an error, a command that
    /// could not be encoded); the handler closes the channel. The first
    /// reason is the one the commands in flight get.
    mutating func fail(_ failure: RedisClientError) {
        if case .failed = state { return }
        state = .failed(failure)
    }

    /// Stops writing; returns whether to close now (nothing in flight),
    /// else the last reply closes (see ``ReplyAction``).
    mutating func closeGracefully() -> Bool {
        if case .open = state { state = .closingWhenIdle }
        return inFlight.isEmpty
    }

    enum TimeoutCheckAction: Equatable {
        /// Check again after the interval.
        case scheduleNextCheck
        /// The oldest command is overdue: close the connection (the commands
        /// in flight then fail with ``RedisClientError/timeout``).
        case close(inFlight: Int)
    }

    /// Only the oldest command can be the first overdue one, as replies come
    /// in order; commands behind a blocking command wait for it by design.
    mutating func checkTimeout(now: NIODeadline) -> TimeoutCheckAction {
        guard let oldest = inFlight.first, oldest.deadline < now else { return .scheduleNextCheck }
        fail(.timeout)
        return .close(inFlight: inFlight.count)
    }

    /// The channel closed (or the handler left): every waiter in flight is
    /// to fail with the returned error, the recorded failure if any.
    mutating func channelClosed() -> (error: RedisClientError, waiters: [Waiter]) {
        let error: RedisClientError
        if case .failed(let failure) = state {
            error = failure
        } else {
            error = .connectionClosed
            state = .failed(.connectionClosed)
        }
        pipelineReplies = []
        var waiters: [Waiter] = []
        waiters.reserveCapacity(inFlight.count)
        while let entry = inFlight.popFirst() { waiters.append(entry.waiter) }
        return (error, waiters)
    }
}

extension RedisCommandStateMachine.Waiter: Equatable where SingleWaiter: Equatable, PipelineWaiter: Equatable {}
extension RedisCommandStateMachine.ReplyAction: Equatable where SingleWaiter: Equatable, PipelineWaiter: Equatable {}

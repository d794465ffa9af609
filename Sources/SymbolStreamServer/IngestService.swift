import SymbolStreamCore

/// The one ingest use case behind `POST /initial`, `POST /followup` and every
/// event of a `/stream` message: check that the stores can hold the event,
/// give it its guess and receive time, store it, count what happened.
/// Validating the raw input is the caller's (form parameters or a JSON
/// message, each with `Validate`); the rules from here on are one.
struct IngestService: Sendable {
    let store: any EventStore
    let guesser: Guesser
    let clock: EventClock
    let admission: any EventAdmission
    let counters: ServiceCounters

    /// The event the server records for `request`: the guess and the receive
    /// time are added here, and only here.
    func event(for request: IngestRequest) -> IngestEvent {
        switch request {
        case .initial(let id, let symbol):
            .initial(InitialEvent(id: id, symbol: symbol, guess: guesser.guess(symbol), receivedAt: clock.now()))
        case .followup(let id, let key):
            .followup(FollowupEvent(id: id, receivedAt: clock.now(), idempotencyKey: key))
        }
    }

    /// One request (the HTTP routes): shares a store call with concurrent
    /// ones. Throws a `InputError` for a uuid the stores cannot hold,
    /// `UUIDConflictError` for a 409, `StoreUnavailableError` for a 503
    /// (those are counted where they become responses).
    func record(_ request: IngestRequest) async throws -> IngestOutcome {
        try admission.check(request.id)
        let outcome: IngestOutcome
        switch event(for: request) {
        case .initial(let initial): outcome = .initial(try await store.recordInitial(initial))
        case .followup(let followup): outcome = .followup(try await store.recordFollowup(followup))
        }
        counters.record(outcome)
        if case .initial(.conflict(let existing)) = outcome { throw UUIDConflictError(id: request.id, existing: existing) }
        return outcome
    }

    /// What became of one event of a batch.
    enum Result: Sendable, Hashable {
        case stored(IngestOutcome)
        case rejected(InputError)
        /// The store was unreachable: the event may be sent again.
        case unavailable(StoreUnavailableError)
    }

    /// The events of one `/stream` message, in order: the valid ones go to
    /// the store in ONE call (one atomic `ss_ingest` per shard on Redis, all
    /// in one round trip per server), receive times given in message order;
    /// rejects are counted here.
    func record(_ requests: [Swift.Result<IngestRequest, InputError>]) async throws -> [Result] {
        var results = [Result?](repeating: nil, count: requests.count)
        var events = [IngestEvent]()
        var positions = [Int]()
        events.reserveCapacity(requests.count)
        positions.reserveCapacity(requests.count)
        for (position, request) in requests.enumerated() {
            do throws(InputError) {
                let request = try request.get()
                try admission.check(request.id)
                events.append(event(for: request))
                positions.append(position)
            } catch {
                counters.rejected(error.reason)
                results[position] = .rejected(error)
            }
        }
        if !events.isEmpty {
            let stored: [IngestResult]
            do {
                stored = try await store.ingest(events)
            } catch let error as StoreUnavailableError {
                stored = Array(repeating: .failure(error), count: events.count)
            }
            guard stored.count == events.count else { throw IngestServiceError.outcomeCount(events.count, stored.count) }
            var outcomes = [IngestOutcome]()
            outcomes.reserveCapacity(stored.count)
            var unavailable = 0
            for (position, result) in zip(positions, stored) {
                switch result {
                case .success(let outcome):
                    outcomes.append(outcome)
                    results[position] = .stored(outcome)
                case .failure(let error):
                    unavailable += 1
                    results[position] = .unavailable(error)
                }
            }
            counters.record(stream: outcomes)
            if unavailable > 0 { counters.unavailable(events: unavailable) }
        }
        return results.map { $0! }
    }
}

enum IngestServiceError: Error {
    /// The store answered a different number of outcomes than events sent.
    case outcomeCount(Int, Int)
    /// The store answered an initial's outcome for a followup or vice versa.
    case outcomeKind
}

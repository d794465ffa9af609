import SymbolStreamCore

/// One `/stream` text message in, its reply out: the events are validated like
/// the HTTP routes' parameters, each valid one gets its guess and receive time
/// (in message order), all of them go to the store in ONE `ingest` call (one
/// atomic `ss_ingest` for up to `RedisEventStore.maximumBatch` events), and the
/// reply holds one result per event, in order.
///
/// Replies:
/// - a JSON array with, per event, `{"guess":true|false}` (initial, a retry
///   answers the original guess), `{"ok":true}` (followup), or
///   `{"error":"…","status":N}` with the HTTP route's status for the same
///   input: 400 bad field, 409 uuid conflict, 503 store unavailable (retry);
/// - a JSON object `{"error":"message: …","status":400|413}` when the message
///   as a whole is not a JSON array of 1…`maximumEvents` event objects.
struct StreamIngest: Sendable {
    let dependencies: RouteDependencies
    let maximumEvents: Int

    struct Reply: Sendable, Hashable {
        var text: String
        /// The message as a whole was refused (not an array of events).
        var refusedWhole: Bool
    }

    /// Throws only for failures that are not the client's nor a known outage
    /// (the connection then closes with 1011).
    func reply(to text: String) async throws -> Reply {
        let items: [StreamMessage.Item]
        switch StreamMessage.parse(text, maximumEvents: maximumEvents) {
        case .success(let parsed):
            items = parsed
        case .failure(let error):
            dependencies.counters.rejected(error.reason)
            var reply = ""
            Self.appendError(error.message, status: Self.status(of: error.reason), to: &reply)
            return Reply(text: reply, refusedWhole: true)
        }

        var events = [IngestEvent]()
        events.reserveCapacity(items.count)
        for item in items {
            switch item {
            case .success(.initial(let id, let symbol)):
                events.append(
                    .initial(
                        InitialEvent(id: id, symbol: symbol, guess: dependencies.guesser.guess(symbol), receivedAt: dependencies.clock.now())))
            case .success(.followup(let id)):
                events.append(.followup(FollowupEvent(id: id, receivedAt: dependencies.clock.now())))
            case .failure(let error):
                dependencies.counters.rejected(error.reason)
            }
        }

        var outcomes: [IngestOutcome] = []
        var unavailable: StoreUnavailableError?
        if !events.isEmpty {
            do {
                outcomes = try await dependencies.store.ingest(events)
                guard outcomes.count == events.count else { throw StreamIngestError.outcomeCount(events.count, outcomes.count) }
                dependencies.counters.record(stream: outcomes)
            } catch let error as StoreUnavailableError {
                dependencies.counters.unavailable(events: events.count)
                dependencies.logger.warning("dependency unavailable", metadata: ["dependency": "\(error.dependency)", "reason": "\(error.reason)"])
                unavailable = error
            }
        }

        var reply = "["
        reply.reserveCapacity(2 + 16 * items.count)
        var next = 0
        for (position, item) in items.enumerated() {
            if position > 0 { reply += "," }
            switch item {
            case .failure(let error):
                Self.appendError(error.message, status: Self.status(of: error.reason), to: &reply)
            case .success(let request):
                defer { next += 1 }
                if let unavailable {
                    Self.appendError(unavailable.clientMessage, status: 503, to: &reply)
                    continue
                }
                switch outcomes[next] {
                case .initial(.accepted(let guess)), .initial(.retry(let guess)):
                    reply += guess ? #"{"guess":true}"# : #"{"guess":false}"#
                case .initial(.conflict(let existing)):
                    guard case .initial(let id, _) = request else { throw StreamIngestError.outcomeKind }
                    Self.appendError(UUIDConflictError(id: id, existing: existing).message, status: 409, to: &reply)
                case .followup:
                    reply += #"{"ok":true}"#
                }
            }
        }
        reply += "]"
        return Reply(text: reply, refusedWhole: false)
    }

    /// The status `POST /initial` would answer for the same fault.
    static func status(of reason: RejectReason) -> Int {
        switch reason {
        case .uuidConflict: 409
        case .bodyTooLarge: 413
        default: 400
        }
    }

    static func appendError(_ message: String, status: Int, to reply: inout String) {
        reply += #"{"error":"#
        JSONValue.writeString(message, into: &reply)
        reply += #","status":"#
        reply += String(status)
        reply += "}"
    }
}

enum StreamIngestError: Error {
    /// The store answered a different number of outcomes than events sent.
    case outcomeCount(Int, Int)
    /// The store answered an initial's outcome for a followup or vice versa.
    case outcomeKind
}

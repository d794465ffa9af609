import Logging
import SymbolStreamCore

/// One `/stream` text message in, its reply out: the message is parsed and
/// its events validated like the HTTP routes' parameters, then recorded by
/// the same `IngestService` in ONE store call (one atomic `ss_ingest` for up
/// to `RedisEventStore.maximumBatch` events), and the reply holds one result
/// per event, in order.
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

        let results = try await dependencies.ingest.record(items)
        var reply = "["
        reply.reserveCapacity(2 + 16 * items.count)
        var loggedOutage = false
        for (position, (item, result)) in zip(items, results).enumerated() {
            if position > 0 { reply += "," }
            switch result {
            case .rejected(let error):
                Self.appendError(error.message, status: Self.status(of: error.reason), to: &reply)
            case .unavailable(let error):
                if !loggedOutage {
                    loggedOutage = true
                    dependencies.logger.warning(
                        "dependency unavailable", metadata: ["dependency": "\(error.dependency)", "reason": "\(error.reason)"])
                }
                Self.appendError(error.message, status: 503, to: &reply)
            case .stored(.initial(.accepted(let guess))), .stored(.initial(.retry(let guess))):
                reply += guess ? #"{"guess":true}"# : #"{"guess":false}"#
            case .stored(.initial(.conflict(let existing))):
                guard case .success(let request) = item else { throw IngestServiceError.outcomeKind }
                Self.appendError(UUIDConflictError(id: request.id, existing: existing).message, status: 409, to: &reply)
            case .stored(.followup):
                reply += #"{"ok":true}"#
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

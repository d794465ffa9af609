import Foundation
import SymbolStreamCore
import Testing

@testable import SymbolStreamServer

/// One message in, one reply out, without a socket: results per event in
/// order, one store call per message, counters, and the malformed-message
/// suite (nothing stored, only the reject counted).
@Suite struct StreamIngestTests {
    typealias T = StreamTesting
    let a = T.uuid(1), b = T.uuid(2), c = T.uuid(3)

    func ingest(_ store: RecordingStore, _ counters: ServiceCounters = ServiceCounters(), maximumEvents: Int = 256) -> StreamIngest {
        StreamIngest(dependencies: T.dependencies(store: store, counters: counters), maximumEvents: maximumEvents)
    }

    @Test func resultsInOrderFromOneStoreCall() async throws {
        let store = RecordingStore()
        let counters = ServiceCounters()
        let reply = try await ingest(store, counters).reply(
            to: T.message(
                T.followup(c),  // before its initial: kept
                T.initial(a, "e"), T.followup(a), T.initial(b, "bb"),  // a bad symbol among good events
                T.initial(a.uppercased(), "E"),  // a retry
                T.initial(a, "x"),  // the same uuid with another symbol
                T.initial(c, "b"), T.initial(b, "q")))
        #expect(!reply.refusedWhole)
        #expect(
            reply.text
                == #"[{"ok":true},{"guess":true},{"ok":true},{"error":"symbol: 'bb' is not a single letter a-z","status":400},{"guess":true},"#
                + #"{"error":"uuid: \#(a) was already used with symbol 'e'; a retry must repeat the same symbol","status":409},{"guess":false},{"guess":false}]"#
        )
        #expect(store.batches == [7])
        #expect(store.singleCalls == 0)
        let counts = counters.snapshot
        #expect(counts.initials == 3 && counts.retries == 1 && counts.followups == 2)
        #expect(counts.rejected == [.invalidSymbol: 1, .uuidConflict: 1])

        // Times in message order, one tick per valid event; c's early followup attributed.
        let model = store.inner.snapshot
        let start = Timestamp(microseconds: T.start)
        #expect(model.request(RequestUUID(parsing: a)!)?.receivedAt == start.advanced(1))
        #expect(model.request(RequestUUID(parsing: a)!)?.followups == [start.advanced(2)])
        #expect(model.request(RequestUUID(parsing: c)!) == RequestRecord(
            id: RequestUUID(parsing: c)!, symbol: Symbol(parsing: "b"), guess: false, receivedAt: start.advanced(5), followups: [start]))
        #expect(model.request(RequestUUID(parsing: b)!)?.symbol == Symbol(parsing: "q"))
        #expect(model.summary(of: Symbol(parsing: "b")!).followups == 1)
    }

    /// A followup resent with its `idempotency_key` (in the same message or a
    /// later one) counts once and gets the same reply; a bad key is that
    /// event's 400 alone.
    @Test func keyedFollowupsCountOnce() async throws {
        let store = RecordingStore()
        let counters = ServiceCounters()
        let keyed = #"{"type":"followup","uuid":"\#(a)","idempotency_key":"k-1"}"#
        let first = try await ingest(store, counters).reply(
            to: T.message(T.initial(a, "e"), keyed, keyed, #"{"type":"followup","uuid":"\#(a)","idempotency_key":"bad key"}"#, T.followup(a)))
        #expect(first.text == #"[{"guess":true},{"ok":true},{"ok":true},{"error":"idempotency_key: 'bad key' has characters other than A-Z a-z 0-9 - _ . : ~ + / =; expected 1 to 255 of A-Z a-z 0-9 - _ . : ~ + / = (a UUID, say)","status":400},{"ok":true}]"#)
        let again = try await ingest(store, counters).reply(to: T.message(keyed))
        #expect(again.text == #"[{"ok":true}]"#)
        #expect(store.inner.snapshot.summary(of: Symbol(parsing: "e")!).followups == 2)
        let counts = counters.snapshot
        #expect(counts.followups == 2 && counts.followupReplays == 2 && counts.rejected == [.invalidIdempotencyKey: 1])
    }

    @Test func aMessageOfOnlyBadEventsStoresNothing() async throws {
        let store = RecordingStore()
        let counters = ServiceCounters()
        let reply = try await ingest(store, counters).reply(
            to: T.message(#"{"type":"initial","uuid":"nope","symbol":"e"}"#, #"{"type":"followup"}"#, #"{"type":"other"}"#, "{}"))
        #expect(!reply.refusedWhole)
        let results = try #require(try JSONSerialization.jsonObject(with: Data(reply.text.utf8)) as? [[String: Any]])
        #expect(results.map { $0["status"] as? Int } == [400, 400, 400, 400])
        #expect(results.map { ($0["error"] as? String)?.prefix(5) } == ["uuid:", "uuid:", "type:", "type:"])
        #expect(store.batches.isEmpty && store.isEmpty)
        #expect(counters.snapshot.rejected == [.invalidUUID: 1, .missingParameter: 2, .invalidMessage: 1])
        #expect(counters.snapshot.initials + counters.snapshot.followups + counters.snapshot.retries == 0)
    }

    /// Messages that are not a JSON array of 1…N event objects: one error for
    /// the whole message, nothing stored, only `invalid_message` (or
    /// `body_too_large`) counted.
    @Test(arguments: [
        ("not json", "message: expected a JSON array", RejectReason.invalidMessage),
        ("", "message: expected a JSON array", .invalidMessage),
        (#"{"type":"initial","uuid":"00000000-0000-4000-8000-000000000001","symbol":"e"}"#, "message: expected a JSON array", .invalidMessage),
        ("[]", "message: empty array; send 1 to 4 events", .invalidMessage),
        ("[1,2]", "message: element 1 of the array is not an event object", .invalidMessage),
        (#"[{"type":"followup","uuid":"00000000-0000-4000-8000-000000000001"},"followup"]"#, "message: element 2 of the array", .invalidMessage),
        (#"[{"type":"followup","uuid":"00000000-0000-4000-8000-000000000001"}"#, "message: not valid JSON at byte 66: expected ',' or ']', found the end", .invalidMessage),
        (#"[{"type":"followup","uuid":"00000000-0000-4000-8000-000000000001"},]"#, "message: not valid JSON", .invalidMessage),
        (#"[{"type":"followup","uuid":"00000000-0000-4000-8000-000000000001"}] trailing"#, "message: not valid JSON", .invalidMessage),
        (#"[{"type":"followup","uuid":"00000000-0000-4000-8000-000000000001","n":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}]"#, "message: nested deeper", .invalidMessage),
        (#"[{"type":"initial","uuid":"00000000-0000-4000-8000-000000000001","symbol":"\ud800"}]"#, "message: not valid JSON", .invalidMessage),
        ("[" + Array(repeating: #"{"type":"followup","uuid":"00000000-0000-4000-8000-000000000001"}"#, count: 5).joined(separator: ",") + "]",
         "message: more than 4 events; send at most 4 per message", .bodyTooLarge),
        (#"[{"type":"initial","uuid":""# + String(repeating: "é", count: 30_000), "message: not valid JSON", .invalidMessage),
    ])
    func malformedMessagesAreRefusedWholeAndStoreNothing(_ text: String, _ expected: String, _ reason: RejectReason) async throws {
        let store = RecordingStore()
        let counters = ServiceCounters()
        let reply = try await ingest(store, counters, maximumEvents: 4).reply(to: text)
        #expect(reply.refusedWhole)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(reply.text.utf8)) as? [String: Any])
        #expect((object["error"] as? String)?.hasPrefix(expected) == true, "\(reply.text)")
        #expect(object["status"] as? Int == (reason == .bodyTooLarge ? 413 : 400))
        #expect(object.count == 2)
        #expect(store.batches.isEmpty && store.isEmpty)
        #expect(counters.snapshot == ServiceCounters.Snapshot(rejected: [reason: 1]))
    }

    @Test func storeDownAnswers503PerEventAndCountsThemUnavailable() async throws {
        let store = RecordingStore()
        store.set(.unavailable)
        let counters = ServiceCounters()
        let reply = try await ingest(store, counters).reply(to: T.message(T.initial(a, "e"), T.initial(b, "!"), T.followup(a)))
        let unavailable = #"{"error":"service unavailable: redis is not reachable; retry shortly","status":503}"#
        #expect(reply.text == "[\(unavailable),{\"error\":\"symbol: '!' is not a single letter a-z\",\"status\":400},\(unavailable)]")
        #expect(store.isEmpty)
        #expect(counters.snapshot == ServiceCounters.Snapshot(rejected: [.invalidSymbol: 1], unavailable: 2))
    }

    @Test func otherStoreFailuresAreNotTheClientsFault() async throws {
        let store = RecordingStore()
        store.set(.broken)
        await #expect(throws: RecordingStoreError.self) { try await ingest(store).reply(to: T.message(T.initial(a, "e"))) }
    }
}

extension Timestamp {
    func advanced(_ microseconds: Int64) -> Timestamp { Timestamp(microseconds: self.microseconds + microseconds) }
}

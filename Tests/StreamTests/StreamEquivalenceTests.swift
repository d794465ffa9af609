import Foundation
import Hummingbird
import HummingbirdTesting
import HummingbirdWSTesting
import HummingbirdWebSocket
import RedisClient
import StoreTestSupport
import SymbolStreamCore
import Testing

@testable import RedisStore
@testable import SymbolStreamServer

/// The same events, sent over HTTP to one Redis key prefix and over `/stream`
/// to another, on the real Redis: identical answers per event, dashboards,
/// request records, counters and event log (what the archiver copies to
/// MariaDB). Both apps get the same deterministic clock and guess seed, so
/// even receive times and flipped guesses must agree.
@Suite struct StreamEquivalenceTests {
    /// One event as a client would send it; nil fields are left out.
    struct Action: Sendable {
        var initial: Bool
        var uuid: String?
        var symbol: String?

        var httpURI: String {
            var query: [String] = []
            func encode(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: .alphanumerics)! }
            if let uuid { query.append("uuid=" + encode(uuid)) }
            if initial, let symbol { query.append("symbol=" + encode(symbol)) }
            return (initial ? "/initial" : "/followup") + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        }

        var json: String {
            var members = [(String, JSONValue)]()
            members.append(("type", .string(initial ? "initial" : "followup")))
            if let uuid { members.append(("uuid", .string(uuid))) }
            if initial, let symbol { members.append(("symbol", .string(symbol))) }
            return JSONValue.object(members).serialized
        }
    }

    /// What either path answered for one event.
    enum Answer: Hashable, CustomStringConvertible {
        case guess(Bool)
        case ok
        case error(String, status: Int)

        var description: String {
            switch self {
            case .guess(let guess): "guess \(guess)"
            case .ok: "ok"
            case .error(let message, let status): "\(status) \(message)"
            }
        }
    }

    /// Realistic traffic with every case the HTTP routes distinguish.
    static func actions(count: Int, seed: UInt64) -> [Action] {
        var generator = SplitMix64(seed: seed)
        var seen: [(String, String)] = []
        var waiting: [String] = []
        var next = 0
        func fresh() -> String {
            next += 1
            return StreamTesting.uuid(next * 7919)
        }
        func letter() -> String { String(UnicodeScalar(UInt8(ascii: "a") + UInt8.random(in: 0..<26, using: &generator))) }
        let badUUIDs = ["", "nope", "6f1c2a4e8b3d4c5e9f701a2b3c4d5e6f", "' OR 1=1; DROP TABLE events; --", "é", String(repeating: "x", count: 900)]
        let badSymbols = ["", "ab", "7", "é", "ａ", " e", "\u{0}"]
        var actions = [Action]()
        while actions.count < count {
            let roll = Int.random(in: 0..<100, using: &generator)
            switch roll {
            case 0..<40:
                let uuid = fresh(), symbol = letter()
                seen.append((uuid, symbol))
                let upper = Int.random(in: 0..<10, using: &generator) == 0
                actions.append(Action(initial: true, uuid: upper ? uuid.uppercased() : uuid, symbol: upper ? symbol.uppercased() : symbol))
            case 40..<55 where !seen.isEmpty:
                actions.append(Action(initial: false, uuid: seen.randomElement(using: &generator)!.0))
            case 55..<63:
                let uuid = fresh()
                waiting.append(uuid)
                actions.append(Action(initial: false, uuid: uuid))
            case 63..<72 where !waiting.isEmpty:
                let uuid = waiting.removeFirst(), symbol = letter()
                seen.append((uuid, symbol))
                actions.append(Action(initial: true, uuid: uuid, symbol: symbol))
            case 72..<78 where !seen.isEmpty:
                let (uuid, symbol) = seen.randomElement(using: &generator)!
                actions.append(Action(initial: true, uuid: uuid.uppercased(), symbol: symbol))  // retry
            case 78..<82 where !seen.isEmpty:
                let (uuid, symbol) = seen.randomElement(using: &generator)!
                let other = String(UnicodeScalar((symbol.unicodeScalars.first!.value - 97 + 1) % 26 + 97)!)
                actions.append(Action(initial: true, uuid: uuid, symbol: other))  // conflict
            case 82..<86:
                actions.append(Action(initial: true, uuid: nil, symbol: letter()))
            case 86..<90:
                actions.append(Action(initial: true, uuid: fresh(), symbol: nil))
            case 90..<94:
                actions.append(Action(initial: true, uuid: badUUIDs.randomElement(using: &generator)!, symbol: letter()))
            case 94..<97:
                actions.append(Action(initial: true, uuid: fresh(), symbol: badSymbols.randomElement(using: &generator)!))
            default:
                actions.append(Action(initial: false, uuid: Bool.random(using: &generator) ? nil : badUUIDs.randomElement(using: &generator)!))
            }
        }
        return actions
    }

    static func answer(http response: TestResponse) throws -> Answer {
        let body = String(buffer: response.body)
        if response.status == .ok {
            switch body {
            case "True": return .guess(true)
            case "False": return .guess(false)
            case "hooray": return .ok
            default: throw AnswerError.unexpected(body)
            }
        }
        let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        guard let message = object?["error"] as? String else { throw AnswerError.unexpected(body) }
        return .error(message, status: Int(response.status.code))
    }

    static func answers(stream reply: String) throws -> [Answer] {
        guard let items = try JSONSerialization.jsonObject(with: Data(reply.utf8)) as? [[String: Any]] else { throw AnswerError.unexpected(reply) }
        return try items.map { item in
            if let guess = item["guess"] as? Bool, item.count == 1 { return .guess(guess) }
            if item["ok"] as? Bool == true, item.count == 1 { return .ok }
            if let message = item["error"] as? String, let status = item["status"] as? Int, item.count == 2 { return .error(message, status: status) }
            throw AnswerError.unexpected(reply)
        }
    }

    enum AnswerError: Error { case unexpected(String) }

    /// The event logs as the archiver would copy them, shard by shard,
    /// without the entry ids.
    static func loggedEvents(_ store: RedisEventStore) async throws -> [LoggedEvent] {
        var items = [RESPValue]()
        for shard in store.layout.shards {
            items += try await store.client.send(RedisCommand("XRANGE", RedisArgument(shard.stream), "-", "+")).array ?? []
        }
        var events = [LoggedEvent]()
        for item in items {
            guard case .events(_, let batch) = try RedisEventLog.entry(item) else { throw AnswerError.unexpected("\(item)") }
            events += batch.map { event in
                var event = event
                event.streamID = ""
                return event
            }
        }
        return events
    }

    @Test func streamAndHTTPGiveIdenticalResults() async throws {
        let actions = Self.actions(count: 700, seed: 0xE0)
        try await TestStores.withRedisStore { httpStore in
            try await TestStores.withRedisStore { streamStore in
                let httpCounters = ServiceCounters(), streamCounters = ServiceCounters()
                let httpApp = Application(
                    router: buildRouter(StreamTesting.dependencies(store: httpStore, counters: httpCounters, flip: 0.25, seed: 42)))
                let streamApp = StreamTesting.app(StreamTesting.dependencies(store: streamStore, counters: streamCounters, flip: 0.25, seed: 42))
                try await httpApp.test(.router) { http in
                    try await streamApp.test(.live) { live in
                        // Every event over HTTP, one request each.
                        var viaHTTP = [Answer]()
                        for action in actions {
                            viaHTTP.append(try await http.execute(uri: action.httpURI, method: .post) { try Self.answer(http: $0) })
                        }
                        // The same events over /stream, in messages of 1 to 12 events.
                        let viaStream = Shared<[Answer]>([])
                        try await live.stream { (session) async throws in
                            var generator = SplitMix64(seed: 7)
                            var start = 0
                            while start < actions.count {
                                let end = min(actions.count, start + Int.random(in: 1...12, using: &generator))
                                let reply = try await session.send("[" + actions[start..<end].map(\.json).joined(separator: ",") + "]")
                                let answers = try Self.answers(stream: reply)
                                #expect(answers.count == end - start)
                                viaStream.update { $0 += answers }
                                start = end
                            }
                        }
                        let streamed = viaStream.current
                        #expect(streamed.count == actions.count)
                        for (index, (overHTTP, overStream)) in zip(viaHTTP, streamed).enumerated() where overHTTP != overStream {
                            Issue.record("event \(index) \(actions[index].json): HTTP \(overHTTP), stream \(overStream)")
                        }
                        // The mix really covers every kind of answer.
                        let statuses = Set(viaHTTP.map { if case .error(_, let status) = $0 { status } else { 200 } })
                        #expect(statuses == [200, 400, 409])
                        #expect(viaHTTP.contains(.guess(true)) && viaHTTP.contains(.guess(false)) && viaHTTP.contains(.ok))

                        // Every read route answers the same bytes.
                        var uris = Symbol.all.map { "/dashboard/symbol/\($0.letter)" }
                        let first = Timestamp(microseconds: StreamTesting.start)
                        uris.append("/dashboard/range/2017-06-29/2017-06-30")
                        for (lower, upper) in [(0, 1), (3, 250), (100, 101), (250, 10_000), (17, 17)] {
                            func bound(_ offset: Int64) -> String {
                                Timestamp(microseconds: first.microseconds + offset).description.replacingOccurrences(of: " ", with: "T")
                            }
                            uris.append("/dashboard/range/\(bound(Int64(lower)))/\(bound(Int64(upper)))")
                        }
                        let ids = Set(actions.compactMap { $0.uuid.flatMap { RequestUUID(parsing: $0) } })
                        uris += ids.map { "/requests/\($0)" }
                        var recordsFound = 0
                        for uri in uris {
                            let (status, viaHTTPBody) = try await http.execute(uri: uri, method: .get) { ($0.status, String(buffer: $0.body)) }
                            let viaStreamBody = try await live.execute(uri: uri, method: .get) { String(buffer: $0.body) }
                            #expect(viaHTTPBody == viaStreamBody, "\(uri)")
                            if uri.hasPrefix("/requests/"), status == .ok { recordsFound += 1 }
                        }
                        #expect(recordsFound > 300)
                    }
                }
                #expect(httpCounters.snapshot == streamCounters.snapshot)
                #expect(httpCounters.snapshot.retries > 0 && httpCounters.snapshot.rejected[.uuidConflict, default: 0] > 0)
                // The same rows will reach MariaDB: the logs hold the same events.
                let httpLog = try await Self.loggedEvents(httpStore)
                let streamLog = try await Self.loggedEvents(streamStore)
                #expect(httpLog.count > 400)
                #expect(httpLog == streamLog)
            }
        }
    }
}

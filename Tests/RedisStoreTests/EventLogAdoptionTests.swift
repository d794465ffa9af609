import RedisClient
import StoreTestSupport
import SymbolStreamCore
import Testing

@testable import RedisStore

/// The event log tells the archiver, with an initial that adopted followups
/// logged before it, those followups' times (field `a`), so that each batch
/// is self-contained; entries from before the field existed still decode.
@Suite struct EventLogAdoptionTests {
    static func packed(_ kind: Character, _ id: RequestUUID, _ symbol: Character, _ guess: Character, _ time: Timestamp, adopted: Int)
        -> [UInt8]
    {
        var bytes = [UInt8(ascii: kind.unicodeScalars.first!)] + id.bytes
        bytes += [UInt8(ascii: symbol.unicodeScalars.first!), UInt8(ascii: guess.unicodeScalars.first!)]
        bytes += time8(time)
        return bytes + [UInt8(adopted >> 8), UInt8(adopted & 0xff)]
    }

    static func time8(_ time: Timestamp) -> [UInt8] {
        let value = UInt64(time.second) << 24 | UInt64(time.offset)
        return (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) }
    }

    let a = RequestUUID(high: 0x1111, low: 1)
    let b = RequestUUID(high: 0x2222, low: 2)
    let t = (0..<6).map { Timestamp(second: 1_790_812_800 + Int64($0), offset: 123_456 + Int64($0)) }

    var entry: [UInt8] {
        Self.packed("i", a, "e", "1", t[3], adopted: 2) + Self.packed("f", b, "-", "-", t[4], adopted: 0)
            + Self.packed("i", b, "q", "0", t[5], adopted: 1)
    }

    @Test func adoptedFollowupsComeWithTheirTimes() throws {
        let events = try #require(LogEntryFormat.decode(streamID: "1-1", events: entry, adoptions: Self.time8(t[0]) + Self.time8(t[1]) + Self.time8(t[2])))
        #expect(events.map(\.adoptedFollowups) == [[t[0], t[1]], [], [t[2]]])
        #expect(events.map(\.receivedAt) == [t[3], t[4], t[5]])
        #expect(events.map(\.symbol) == [Symbol(parsing: "e"), nil, Symbol(parsing: "q")])
        #expect(!events.contains { $0.needsFollowupLookup })
    }

    @Test func entriesFromBeforeTheFieldStillDecode() throws {
        let events = try #require(LogEntryFormat.decode(streamID: "1-1", events: entry, adoptions: nil))
        #expect(events.map(\.adopted) == [2, 0, 1])
        #expect(events.map(\.adoptedFollowups) == [nil, [], nil])
        #expect(events.map(\.needsFollowupLookup) == [true, false, true])
    }

    @Test func timesThatDoNotAddUpAreMalformed() {
        for adoptions in [Self.time8(t[0]) + Self.time8(t[1]), Self.time8(t[0]) + Self.time8(t[1]) + Self.time8(t[2]) + Self.time8(t[3]),
            Self.time8(t[0]) + [1, 2, 3], []]
        {
            #expect(LogEntryFormat.decode(streamID: "1-1", events: entry, adoptions: adoptions) == nil)
        }
        // A followup never adopts.
        #expect(LogEntryFormat.decode(streamID: "1-1", events: Self.packed("f", a, "-", "-", t[0], adopted: 1), adoptions: nil) == nil)
    }

    /// What `ss_ingest` logs: the field only when something was adopted, the
    /// adopted times in arrival order, entry by entry.
    @Test func ingestLogsTheTimesOfAdoptedFollowups() async throws {
        try await TestStores.withRedisStore { store in
            let log = store.log
            var traffic = Traffic(seed: 31)
            var model = AggregateModel()
            let events = traffic.events(3000)
            var expected = [RequestUUID: [Timestamp]]()
            for event in events {
                let before = model.request(event.id)
                if case .initial(.accepted) = model.apply(event), let before, !before.followups.isEmpty {
                    expected[event.id] = before.followups
                }
            }
            try await store.ingest(events, inBatchesOf: 97)
            var entries = [RedisEventLog.Entry]()
            for shard in store.layout.shards {
                entries += try await log.withReader(shard: shard) { reader in
                    try await reader.read(consumer: "test", count: 10_000, pending: false, block: nil)
                }
            }
            var adopted = [RequestUUID: [Timestamp]]()
            for entry in entries {
                guard case .events(_, let logged) = entry else {
                    Issue.record("not events: \(entry)")
                    continue
                }
                for event in logged where event.adopted > 0 {
                    #expect(event.adoptedFollowups?.count == event.adopted)
                    adopted[event.id] = event.adoptedFollowups?.sorted()  // as `request` gives them
                }
            }
            #expect(expected.count > 20)
            #expect(adopted == expected)
        }
    }
}

import NIOCore
import StoreTestSupport
import SymbolStreamCore
import Testing

@testable import RedisStore

/// Every byte layout of the storage format has one encoder and one decoder
/// (`Sources/RedisStore/Format`); each pair reads back what it wrote, and
/// fixed vectors pin the bytes the function library writes.
@Suite struct StorageFormatTests {
    var generator = SplitMix64(seed: 42)

    /// Times the records hold (a record's first byte, the orphan marker
    /// 0xFF, is a second's top byte: years beyond 36,000 cannot be told apart).
    static let times = [
        Timestamp(microseconds: 0), Timestamp(second: 1_700_000_000, offset: 999_999), Timestamp(second: 1_498_742_100, offset: 7),
        Timestamp(second: 253_402_300_799, offset: 999_999),
    ]

    @Test func packedTime() {
        for time in Self.times {
            var bytes = [UInt8]()
            PackedTime.append(time, to: &bytes)
            #expect(bytes.count == PackedTime.byteCount)
            #expect(PackedTime.decode(bytes[...]) == time)
            var buffer = ByteBuffer()
            PackedTime.write(time, to: &buffer)
            #expect(Array(buffer.readableBytesView) == bytes)
        }
        // `>I5 I3`: 5 bytes of seconds, 3 of microseconds.
        var bytes = [UInt8]()
        PackedTime.append(Timestamp(second: 1_700_000_000, offset: 999_999), to: &bytes)
        #expect(bytes == [0x00, 0x65, 0x53, 0xF1, 0x00, 0x0F, 0x42, 0x3F])
        #expect(PackedTime.decodeAll(bytes[...] + bytes) == [Timestamp(second: 1_700_000_000, offset: 999_999), Timestamp(second: 1_700_000_000, offset: 999_999)])
        #expect(PackedTime.decodeAll(bytes.dropLast()) == nil)
    }

    @Test mutating func statsRecord() {
        for _ in 0..<200 {
            let first = Int64.random(in: 0..<(1 << 52), using: &generator)
            let stats = BucketStats(
                count: Int64.random(in: 1..<(1 << 40), using: &generator), followups: Int64.random(in: 0..<(1 << 40), using: &generator),
                earliest: Timestamp(microseconds: first), latest: Timestamp(microseconds: first + Int64.random(in: 0..<1000, using: &generator)),
                answeredTrue: Int64.random(in: 0..<(1 << 40), using: &generator),
                followupsAnsweredTrue: Int64.random(in: 0..<(1 << 40), using: &generator))
            let bytes = StatsRecord.encode(stats)
            #expect(bytes.count == StatsRecord.byteCount)
            #expect(StatsRecord.decode(bytes) == stats)
        }
        // Big-endian doubles: 1.0 is 3ff0000000000000.
        let one = StatsRecord.encode(BucketStats(count: 1, followups: 0, earliest: Timestamp(microseconds: 0), latest: Timestamp(microseconds: 0)))
        #expect(Array(one.prefix(8)) == [0x3f, 0xf0, 0, 0, 0, 0, 0, 0])
        #expect(StatsRecord.decode(Array(one.dropLast())) == nil)
        var half = one
        half[0..<8] = [0x3f, 0xe0, 0, 0, 0, 0, 0, 0][...]  // 0.5 is not a count
        #expect(StatsRecord.decode(half) == nil)
    }

    @Test mutating func uuidRecord() {
        for _ in 0..<200 {
            let id = RequestUUID(high: UInt64.random(in: 0...UInt64.max, using: &generator), low: UInt64.random(in: 0...UInt64.max, using: &generator))
            let followups = (0..<Int.random(in: 0..<4, using: &generator)).map { _ in Self.times.randomElement(using: &generator)! }.sorted()
            let record = AggregateModel.Record(
                symbol: Symbol.all.randomElement(using: &generator)!, guess: Bool.random(using: &generator),
                receivedAt: Self.times.randomElement(using: &generator)!, followups: followups)
            var buffer = ByteBuffer()
            UUIDRecord.write(record, to: &buffer)
            #expect(buffer.readableBytes == UUIDRecord.byteCount(record))
            #expect(
                UUIDRecord.decode(Array(buffer.readableBytesView), id: id)
                    == RequestRecord(id: id, symbol: record.symbol, guess: record.guess, receivedAt: record.receivedAt, followups: followups))
            var orphan = ByteBuffer()
            UUIDRecord.writeOrphan(followups, to: &orphan)
            #expect(orphan.readableBytes == UUIDRecord.orphanByteCount(followups))
            #expect(
                UUIDRecord.decode(Array(orphan.readableBytesView), id: id)
                    == RequestRecord(id: id, symbol: nil, guess: nil, receivedAt: nil, followups: followups))
        }
        // second 1_700_000_000, offset 999_999, symbol e (4), guess 1, then one followup.
        let id = RequestUUID(high: 1, low: 2)
        let second: [UInt8] = [0x00, 0x65, 0x53, 0xF1, 0x00]
        let offset: [UInt8] = [0x0F, 0x42, 0x3F]
        let bytes = second + offset + [4 * 2 + 1] + second + [0, 0, 7]
        let record = UUIDRecord.decode(bytes, id: id)
        #expect(record?.symbol == Symbol(parsing: "e"))
        #expect(record?.guess == true)
        #expect(record?.receivedAt == Timestamp(second: 1_700_000_000, offset: 999_999))
        #expect(record?.followups == [Timestamp(second: 1_700_000_000, offset: 7)])
        #expect(UUIDRecord.decode([UUIDRecord.orphanMarker] + second + [0, 0, 7], id: id)?.followups == [Timestamp(second: 1_700_000_000, offset: 7)])
        #expect(UUIDRecord.decode(Array(bytes.prefix(12)), id: id) == nil)
        #expect(UUIDRecord.decode(second + offset + [26 * 2], id: id) == nil)
    }

    @Test func fineLogEntries() {
        var entries = [FineLogEntry]()
        for offset in [0, 1, 500_000, 999_999] as [Int64] {
            for symbol in Symbol.all {
                for answeredTrue in [false, true] {
                    for isFollowup in [false, true] {
                        entries.append(FineLogEntry(second: 7, offset: offset, symbol: symbol, answeredTrue: answeredTrue, isFollowup: isFollowup))
                    }
                }
            }
        }
        let bytes = FineLogFormat.encode(entries)
        #expect(bytes.count == FineLogFormat.entryByteCount * entries.count)
        #expect(FineLogFormat.decode(bytes, second: 7) == entries)
        // offset << 7 | symbol << 2 | answeredTrue << 1 | isFollowup
        #expect(FineLogFormat.encode([FineLogEntry(second: 0, offset: 3, symbol: Symbol(parsing: "e")!, answeredTrue: true, isFollowup: true)]) == [0, 0, 1, 0x93])
        #expect(FineLogFormat.decode([0, 0, 0], second: 0) == nil)
        #expect(FineLogFormat.decode([0xff, 0xff, 0xff, 0xff], second: 0) == nil)  // offset >= 10^6
        #expect(FineLogFormat.decode([0, 0, 0, 0x7c], second: 0) == nil)  // symbol 31
        #expect(FineLogFormat.decode([], second: 0) == [])
    }

    @Test mutating func ingestArgument() {
        var traffic = Traffic(seed: 5)
        traffic.idempotencyKeys = true
        let events = traffic.events(500)
        let packed = IngestArgument.encode(events)
        #expect(packed.events.count == IngestArgument.eventByteCount * events.count)
        // Keyed followups come back without their keys, at the positions noted;
        // their digests are the second argument, in order.
        let keyed = events.indices.filter { if case .followup(let f) = events[$0] { f.idempotencyKey != nil } else { false } }
        #expect(!keyed.isEmpty)
        let withoutKeys = events.map { event -> IngestEvent in
            guard case .followup(var followup) = event else { return event }
            followup.idempotencyKey = nil
            return .followup(followup)
        }
        #expect(IngestArgument.decode(packed.events).map { $0.events } == withoutKeys)
        #expect(IngestArgument.decode(packed.events).map { $0.keyed } == keyed)
        #expect(packed.events.enumerated().filter { $0.offset % IngestArgument.eventByteCount == 0 && $0.element == UInt8(ascii: "k") }.count == keyed.count)
        let digests = keyed.flatMap { position -> [UInt8] in
            guard case .followup(let f) = events[position] else { return [] }
            return IdempotencyDigest.digest(f.idempotencyKey!, of: f.id)
        }
        #expect(packed.digests == digests)
        #expect(IngestArgument.encode(withoutKeys).digests == [])
        #expect(IngestArgument.decode(Array(packed.events.dropLast())) == nil)
        // The outcomes reply: 2 bytes per event.
        let e = Symbol(parsing: "e")!
        let initial = IngestEvent.initial(InitialEvent(id: RequestUUID(high: 1, low: 1), symbol: e, guess: true, receivedAt: Self.times[1]))
        let followup = IngestEvent.followup(FollowupEvent(id: RequestUUID(high: 1, low: 1), receivedAt: Self.times[2]))
        #expect(
            IngestArgument.decodeOutcomes([1, 0, 2, 0, 3, 4, 4, 4, 5, 0], for: [initial, initial, initial, followup, followup])
                == [.initial(.accepted(guess: true)), .initial(.retry(guess: false)), .initial(.conflict(existing: e)), .followup(.attributed(e)), .followup(.pending)])
        #expect(IngestArgument.decodeOutcomes([4, 4], for: [initial]) == nil)
        #expect(IngestArgument.decodeOutcomes([1, 0], for: [initial, followup]) == nil)
        // A replay is an answer for keyed followups only.
        let keyedFollowup = IngestEvent.followup(FollowupEvent(id: RequestUUID(high: 1, low: 1), receivedAt: Self.times[2], idempotencyKey: IdempotencyKey("k")))
        #expect(IngestArgument.decodeOutcomes([6, 0], for: [keyedFollowup]) == [.followup(.replayed)])
        #expect(IngestArgument.decodeOutcomes([6, 0], for: [followup]) == nil)
    }

    /// FIPS 180-4's examples (and the million a's of the NIST vectors).
    @Test func sha256() {
        func hex(_ bytes: [UInt8]) -> String { bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }
        #expect(hex(SHA256.hash([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            hex(SHA256.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(hex(SHA256.hash([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        // The idempotency digest: the first 16 bytes over the uuid's bytes and the key
        // (as bench/storage_measure.py computes it with Python's hashlib).
        let id = RequestUUID(parsing: "00112233-4455-6677-8899-aabbccddeeff")!
        #expect(hex(IdempotencyDigest.digest(IdempotencyKey("retry-1")!, of: id)) == "9e95138ef56d91bf25d6c7f76ae8fc89")
    }

    @Test func rankingScores() {
        let stats = BucketStats(count: 3, followups: 2, earliest: Timestamp(microseconds: 5), latest: Timestamp(microseconds: 1_700_000_000_123_456))
        #expect(RankingFormat.score(stats, in: .initials) == 3)
        #expect(RankingFormat.score(stats, in: .followups) == 2)
        #expect(RankingFormat.score(stats, in: .recent) == 1_700_000_000_123_456)
        #expect(RankingFormat.score(BucketStats(), in: .initials) == nil)
        #expect(RankingFormat.score(BucketStats(count: 1, latest: Timestamp(microseconds: 9)), in: .followups) == nil)  // a member once it has followups
        // Scores as Redis replies them; a fraction or a non-letter member is not ours.
        #expect(RankingFormat.decodeScore(Array("1700000000123456".utf8)) == 1_700_000_000_123_456)
        #expect(RankingFormat.decodeScore(Array("1.700000000123456e+15".utf8)) == 1_700_000_000_123_456)
        #expect(RankingFormat.decodeScore(Array("2.5".utf8)) == nil)
        #expect(RankingFormat.decodeScore(Array("inf".utf8)) == nil)
        let e = Symbol(parsing: "e")!
        #expect(RankingFormat.decodeMembers([(Array("e".utf8), Array("4".utf8))]) == [e: 4])
        #expect(RankingFormat.decodeMembers([(Array("E".utf8), Array("4".utf8))]) == nil)
        #expect(RankingFormat.decodeMembers([(Array("e".utf8), Array("4".utf8)), (Array("e".utf8), Array("5".utf8))]) == nil)
        var expected = Rankings()
        expected.add(e, count: 4, followups: 1, latest: Timestamp(microseconds: 9))
        #expect(RankingFormat.rankings(initials: [e: 4], followups: [e: 1], recent: [e: 9]) == expected)
        #expect(RankingFormat.names == "initials,followups,recent")
    }

    @Test mutating func logEntries() {
        let times = Self.times
        var events = [LoggedEvent]()
        for index in 0..<300 {
            let id = RequestUUID(high: UInt64.random(in: 0...UInt64.max, using: &generator), low: UInt64(index))
            if Bool.random(using: &generator) {
                let adopted = (0..<Int.random(in: 0..<3, using: &generator)).map { _ in times.randomElement(using: &generator)! }
                events.append(
                    LoggedEvent(
                        streamID: "1-1", kind: .initial, id: id, symbol: Symbol.all.randomElement(using: &generator), guess: Bool.random(using: &generator),
                        receivedAt: times.randomElement(using: &generator)!, adopted: adopted.count, adoptedFollowups: adopted))
            } else {
                events.append(
                    LoggedEvent(
                        streamID: "1-1", kind: .followup, id: id, symbol: Bool.random(using: &generator) ? Symbol.all.randomElement(using: &generator) : nil,
                        guess: nil, receivedAt: times.randomElement(using: &generator)!, adopted: 0))
            }
        }
        let (packed, adoptions) = LogEntryFormat.encode(events)
        #expect(packed.count == LogEntryFormat.eventByteCount * events.count)
        #expect(LogEntryFormat.decode(streamID: "1-1", events: packed, adoptions: adoptions) == events)
    }
}

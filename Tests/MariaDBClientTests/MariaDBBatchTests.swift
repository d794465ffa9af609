import MariaDBClient
import Testing

/// Bulk execution of rows built in their wire types (`MariaDBBatch`): what
/// MariaDB stores must be exactly what the same values as text would give.
@Suite(.mariaDB)
struct MariaDBBatchTests {
    var database: TestDatabase { TestDatabase.shared }

    static let table = """
        CREATE TABLE t (
            at DATETIME(6) NOT NULL, id UUID NOT NULL, kind ENUM('initial','followup') NOT NULL,
            symbol CHAR(1) CHARACTER SET ascii NULL, n BIGINT NULL, PRIMARY KEY (at, id, kind), KEY (id)
        ) ENGINE = InnoDB
        """
    static let insert = "INSERT INTO t (at, id, kind, symbol, n) VALUES (?, ?, ?, ?, ?)"

    /// Microseconds since 1970 across the DATETIME range: before the epoch,
    /// leap days, the ends of years and of the range, every digit of the fraction.
    static let times: [Int64] = [
        0, 1, 999_999, -1, -500_000, -62_135_596_800_000_000,  // 0001-01-01
        253_402_300_799_999_999,  // 9999-12-31 23:59:59.999999
        951_782_400_000_000,  // 2000-02-29
        1_709_251_199_999_999,  // 2024-02-29 23:59:59.999999
        4_107_542_399_123_456,  // 2100-02-28 23:59:59.123456 (not a leap year)
        1_790_812_800_000_001, 1_498_742_101_173_535, 946_684_799_999_999, -2_208_988_800_000_000,
    ]

    /// Uuids whose bytes MariaDB might treat specially: nil, max, version 1
    /// (whose time fields MariaDB reorders when it stores them), variants.
    /// All of them values the UUID type can store (see `unstorableBytesAreReadAsSwapped`).
    static let uuids: [[UInt8]] = [
        [UInt8](repeating: 0, count: 16), [UInt8](repeating: 0xFF, count: 16),
        [0x6f, 0x1c, 0x2a, 0x4e, 0x8b, 0x3d, 0x1c, 0x5e, 0x9f, 0x70, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e, 0x6f],
        [0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00],
        [0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x46, 0x77, 0xc8, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff],
    ]

    static func text(_ uuid: [UInt8]) -> String {
        let hex = uuid.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        var text = ""
        for (index, character) in hex.enumerated() {
            if [8, 12, 16, 20].contains(index) { text.append("-") }
            text.append(character)
        }
        return text
    }

    @Test func typedRowsStoreWhatTheirTextWould() async throws {
        var generator = SystemRandomNumberGenerator()
        var uuids = Self.uuids
        while uuids.count < 200 {
            let uuid = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if Self.isStorable(uuid) { uuids.append(uuid) }
        }
        var batch = MariaDBBatch([.dateTime, .binary, .int, .text, .int])
        var expected = [[MariaDBValue]]()
        for (index, uuid) in uuids.enumerated() {
            // Toward the middle of the range, so the ends stay valid.
            let base = Self.times[index % Self.times.count]
            let time = base > 0 ? base - Int64(index / Self.times.count) : base + Int64(index / Self.times.count)
            let isInitial = index % 3 != 0
            batch.append(time)
            uuid.withUnsafeBytes { batch.append(bytes: $0) }
            batch.append(isInitial ? 1 : 2)
            batch.append(text: isInitial ? String(UnicodeScalar(UInt8(97 + index % 26))) : nil)
            batch.append(isInitial ? Int64(index) - 100 : nil)
            batch.endRow()
            expected.append([
                .int(time), .string(Self.text(uuid)), .string(isInitial ? "initial" : "followup"),
                isInitial ? .string(String(UnicodeScalar(UInt8(97 + index % 26)))) : .null, isInitial ? .int(Int64(index) - 100) : .null,
            ])
        }
        let batchToInsert = batch
        let (inserted, rows) = try await database.withConnection { connection in
            try connection.execute(Self.table)
            let inserted = try connection.executeBatch(Self.insert, batchToInsert)
            let rows = try connection.query(
                "SELECT TIMESTAMPDIFF(MICROSECOND, '1970-01-01', at), CAST(id AS CHAR), kind, symbol, n FROM t")
            return (inserted, rows.map(\.values))
        }
        #expect(inserted == UInt64(uuids.count))
        #expect(rows.count == expected.count)
        let stored = Set(rows.map { $0.map(\.description) })
        #expect(expected.filter { !stored.contains($0.map(\.description)) }.map(\.description) == [])
    }

    @Test func aBatchBeyondOnePacketGoesInPieces() async throws {
        var batch = MariaDBBatch([.dateTime, .binary, .int, .text, .int], reservingRows: 130_000)
        for index in 0..<130_000 {
            batch.append(1_790_812_800_000_000 + Int64(index) * 7)
            withUnsafeBytes(of: (UInt64(index << 16).bigEndian, UInt64(0x8000_0000_0000_0000).bigEndian)) { batch.append(bytes: $0) }
            batch.append(1)
            batch.append(text: "e")
            batch.append(Int64(index))
            batch.endRow()
        }
        let rows = batch
        let (inserted, again, summary) = try await database.withConnection { connection in
            try connection.execute(Self.table)
            let inserted = try connection.transaction { try $0.executeBatch(Self.insert, rows) }
            // Keys already present: an upsert that changes nothing affects nothing.
            let again = try connection.executeBatch(Self.insert + " ON DUPLICATE KEY UPDATE n = n", rows)
            let summary = try connection.query("SELECT COUNT(*), SUM(n), MAX(CAST(id AS CHAR)) FROM t")[0].values
            return (inserted, again, summary)
        }
        #expect(inserted == 130_000)
        #expect(again == 0)
        #expect(summary == [130_000, .string("\(129_999 * 130_000 / 2)"), "00000001-fbcf-0000-8000-000000000000"])
    }

    /// MariaDB's UUID type cannot store a value whose byte 6 is 0x80 or more
    /// while byte 8 is from 0x01 to 0x80 (it marks the values it stores with
    /// their time fields swapped): as text it refuses one, as 16 bytes it
    /// reads one as such a swapped value. Writers must send those as text.
    static func isStorable(_ uuid: [UInt8]) -> Bool { uuid[6] < 0x80 || uuid[8] == 0 || uuid[8] > 0x80 }

    @Test func unstorableBytesAreReadAsSwapped() async throws {
        let uuid: [UInt8] = [0x27, 0xe3, 0xdd, 0xde, 0xbd, 0xae, 0x86, 0xdf, 0x01, 0x10, 0x23, 0x92, 0x14, 0xce, 0x5b, 0xc6]
        #expect(!Self.isStorable(uuid))
        var batch = MariaDBBatch([.dateTime, .binary, .int, .text, .int])
        batch.append(0)
        uuid.withUnsafeBytes { batch.append(bytes: $0) }
        batch.append(1)
        batch.append(text: nil)
        batch.append(nil)
        batch.endRow()
        let rows = batch
        let (stored, refused) = try await database.withConnection { connection -> (String?, UInt32?) in
            try connection.execute(Self.table)
            try connection.executeBatch(Self.insert, rows)
            let stored = try connection.query("SELECT CAST(id AS CHAR) FROM t")[0][0].string
            do {
                try connection.execute(Self.insert, ["2024-01-01 00:00:00", .string(Self.text(uuid)), 1, nil, nil])
                return (stored, nil)
            } catch let error as MariaDBError {
                return (stored, error.code)
            }
        }
        #expect(stored != Self.text(uuid))
        #expect(refused == 1292)
    }

    @Test func aBatchMustFitTheStatement() async throws {
        var batch = MariaDBBatch([.int])
        batch.append(1)
        batch.endRow()
        let rows = batch
        let error = try await database.withConnection { connection -> MariaDBError? in
            try connection.execute(Self.table)
            do {
                try connection.executeBatch(Self.insert, rows)
                return nil
            } catch {
                return error as? MariaDBError
            }
        }
        #expect(error?.code == 0)
        #expect(MariaDBBatch([.int]).isEmpty)
    }
}

import Foundation
import MariaDBClient
import Testing

@Suite(.mariaDB)
struct MariaDBClientTests {
    var database: TestDatabase { TestDatabase.shared }

    // MARK: - Values

    @Test func typesRoundTrip() async throws {
        let longText = String(repeating: "ž🌍x", count: 20_000)  // far beyond the initial 1 KiB buffer
        let binary: [UInt8] = [0, 1, 0, 255, 0, 0x27, 0x5C, 0]
        let rows = try await database.withPool { pool in
            try await pool.withConnection { connection in
                try connection.execute(
                    """
                    CREATE TABLE t (
                        id INT PRIMARY KEY, big BIGINT NULL, small TINYINT NULL, ubig BIGINT UNSIGNED NULL,
                        text VARCHAR(100) NULL, blob_ VARBINARY(100) NULL, at DATETIME(6) NULL, day DATE NULL,
                        span TIME(6) NULL, id2 UUID NULL, amount DECIMAL(12,3) NULL, ratio DOUBLE NULL,
                        kind ENUM('initial','followup') NULL, flag BOOLEAN NULL, long_ MEDIUMTEXT NULL
                    )
                    """)
                let insert = "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                try connection.execute(
                    insert,
                    [
                        1, .int(Int64.max), -128, .int(Int64.max), "héllo 🌍 世界", .bytes(binary),
                        "2017-06-29 13:15:01.173535", "2024-02-29", "-12:34:56.000001",
                        "123E4567-E89B-12D3-A456-426614174000", "-12345.678", .double(0.1),
                        "followup", 1, .string(longText),
                    ])
                try connection.execute(
                    insert,
                    [2, .int(Int64.min), 127, .string("18446744073709551615"), "", .bytes([]), "1999-12-31 23:59:59",
                     nil, "838:59:59", "00000000-0000-0000-0000-000000000000", "0.000", .double(-2.5e-300), "initial", 0, "short"])
                try connection.execute(
                    insert, [3, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil])
                return try connection.query("SELECT * FROM t ORDER BY id")
            }
        }
        try #require(rows.count == 3)
        let first = rows[0]
        #expect(first["id"] == .int(1))
        #expect(first["big"] == .int(Int64.max))
        #expect(first["small"] == .int(-128))
        #expect(first["ubig"] == .int(Int64.max))
        #expect(first["text"] == .string("héllo 🌍 世界"))
        #expect(first["blob_"] == .bytes(binary))
        #expect(first["at"] == .string("2017-06-29 13:15:01.173535"))
        #expect(first["day"] == .string("2024-02-29"))
        #expect(first["span"] == .string("-12:34:56.000001"))
        #expect(first["id2"] == .string("123e4567-e89b-12d3-a456-426614174000"))
        #expect(first["amount"] == .string("-12345.678"))
        #expect(first["amount"]?.int == nil)
        #expect(first["ratio"] == .double(0.1))
        #expect(first["kind"] == .string("followup"))
        #expect(first["flag"] == .int(1))
        #expect(first["long_"] == .string(longText))
        #expect(first["no_such_column"] == nil)
        #expect(first.values.count == 15)

        let second = rows[1]
        #expect(second["big"] == .int(Int64.min))
        #expect(second["small"] == .int(127))
        #expect(second["ubig"] == .string("18446744073709551615"))
        #expect(second["text"] == .string(""))
        #expect(second["blob_"] == .bytes([]))
        #expect(second["at"] == .string("1999-12-31 23:59:59.000000"))
        #expect(second["day"] == .null)
        #expect(second["span"] == .string("838:59:59.000000"))
        #expect(second["id2"] == .string("00000000-0000-0000-0000-000000000000"))
        #expect(second["amount"] == .string("0.000"))
        #expect(second["ratio"] == .double(-2.5e-300))
        #expect(second["flag"] == .int(0))
        #expect(second["long_"] == .string("short"))  // after the buffer grew on row 1

        #expect(rows[2].values.dropFirst().allSatisfy { $0 == .null })
    }

    @Test func expressionsAndLiterals() async throws {
        let row = try await database.withPool { pool in
            try await pool.withConnection { connection in
                try connection.query(
                    """
                    SELECT ? AS a, ? + 1 AS b, COUNT(*) AS n, SUM(x) AS total, CAST(? AS DATETIME(6)) AS at,
                           NULL AS nothing, 1.5 AS dec_, ? AS same, ? AS raw
                    FROM (SELECT 1 AS x UNION ALL SELECT 2) AS numbers
                    """, ["a'b", 41, "2020-01-02 03:04:05.000006", "x", .bytes([0xFF, 0x00])]
                ).first
            }
        }
        let result = try #require(row)
        #expect(result["a"] == "a'b")
        #expect(result["b"]?.int == 42)
        #expect(result["n"] == .int(2))
        #expect(result["total"]?.int == 3)  // SUM is DECIMAL: text, parsed by `.int`
        #expect(result["at"] == .string("2020-01-02 03:04:05.000006"))
        #expect(result["nothing"] == .null)
        #expect(result["dec_"] == .string("1.5"))
        #expect(result[7] == .string("x"))
        #expect(result["raw"] == .bytes([0xFF, 0x00]))
        #expect(result.columnNames == ["a", "b", "n", "total", "at", "nothing", "dec_", "same", "raw"])
        #expect(MariaDBValue.string("-17").int == -17)
        #expect(MariaDBValue.string("1.5").int == nil)
        #expect(MariaDBValue.int(5).string == nil)
    }

    @Test func injectionLookingParametersAreStoredVerbatim() async throws {
        let nasty = [
            "'; DROP TABLE t; --", "Robert'); DROP TABLE Students;--", "\\' OR 1=1 -- ", "\" OR \"\"=\"",
            "a\0b", "%_*", "?", "`id`", "\\", "'", "1; SELECT SLEEP(10)",
        ]
        let stored = try await database.withPool { pool in
            try await pool.withConnection { connection -> ([String], Int64?, Int) in
                try connection.execute("CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, s VARCHAR(100) NOT NULL)")
                for text in nasty { try connection.execute("INSERT INTO t (s) VALUES (?)", [.string(text)]) }
                try connection.executeBatch("INSERT INTO t (s) VALUES (?)", rows: nasty.map { [.string($0)] })
                let texts = try connection.query("SELECT s FROM t ORDER BY id").compactMap { $0[0].string }
                let count = try connection.query("SELECT COUNT(*) FROM t").first?[0].int
                let matched = try connection.query("SELECT id FROM t WHERE s = ?", ["' OR '1'='1"]).count
                return (texts, count, matched)
            }
        }
        #expect(stored.0 == nasty + nasty)
        #expect(stored.1 == Int64(nasty.count * 2))
        #expect(stored.2 == 0)
    }

    // MARK: - Batches

    static let eventsTable = """
        CREATE TABLE events (
            received_at DATETIME(6) NOT NULL, uuid UUID NOT NULL, kind ENUM('initial','followup') NOT NULL,
            symbol CHAR(1) CHARACTER SET ascii NULL, guess BOOLEAN NULL,
            PRIMARY KEY (received_at, uuid, kind), KEY (uuid)
        ) ENGINE = InnoDB
        """
    static let insertEvent = """
        INSERT INTO events (received_at, uuid, kind, symbol, guess) VALUES (?, ?, ?, ?, ?)
        ON DUPLICATE KEY UPDATE symbol = COALESCE(events.symbol, VALUES(symbol))
        """

    /// Row `i`: every 7th a followup without symbol or guess (NULLs).
    static func event(_ i: Int) -> [MariaDBValue] {
        let seconds = i / 1000
        let time = String(format: "2024-01-01 00:%02d:%02d.%06d", seconds / 60, seconds % 60, (i % 1000) * 997)
        let uuid = String(format: "%08x-0000-4000-8000-%012x", i, i * 31)
        if i % 7 == 0 { return [.string(time), .string(uuid), "followup", nil, nil] }
        let symbol = String(UnicodeScalar(UInt8(97 + i % 26)))
        return [.string(time), .string(uuid), "initial", .string(symbol), .int(Int64(i % 2))]
    }

    @Test func batchInsertAndExactlyOnce() async throws {
        try await database.withPool { pool in
            let rows = (0..<10_000).map(Self.event)
            let result = try await pool.withConnection { connection in
                try connection.execute(Self.eventsTable)
                let inserted = try connection.transaction { try $0.executeBatch(Self.insertEvent, rows: rows) }
                // The same batch again (a redelivery) changes nothing.
                let repeated = try connection.transaction { try $0.executeBatch(Self.insertEvent, rows: rows) }
                // Half old, half new.
                let mixed = try connection.executeBatch(Self.insertEvent, rows: Array(rows[5_000...]) + (10_000..<15_000).map(Self.event))
                let counts = try connection.query(
                    """
                    SELECT COUNT(*) AS n, SUM(symbol IS NULL) AS no_symbol, SUM(guess IS NULL) AS no_guess,
                           SUM(kind = 'followup') AS followups, SUM(guess) AS guessed, COUNT(DISTINCT uuid) AS uuids
                    FROM events
                    """)[0]
                let sample = try connection.query(
                    "SELECT received_at, uuid, kind, symbol, guess FROM events WHERE uuid = ?", [Self.event(4_321)[1]])
                let followup = try connection.query(
                    "SELECT received_at, uuid, kind, symbol, guess FROM events WHERE uuid = ?", [Self.event(7_000)[1]])
                return (inserted, repeated, mixed, counts, sample, followup)
            }
            #expect(result.0 == 10_000)
            #expect(result.1 == 0)
            #expect(result.2 == 5_000)
            let counts = result.3
            let followups = Int64((0..<15_000).filter { $0 % 7 == 0 }.count)
            #expect(counts["n"]?.int == 15_000)
            #expect(counts["no_symbol"]?.int == followups)
            #expect(counts["no_guess"]?.int == followups)
            #expect(counts["followups"]?.int == followups)
            let guessed = Int64((0..<15_000).filter { (i: Int) -> Bool in i % 7 != 0 && i % 2 == 1 }.count)
            #expect(counts["guessed"]?.int == guessed)
            #expect(counts["uuids"]?.int == 15_000)
            #expect(result.4.map(\.values) == [Self.event(4_321)])
            #expect(result.5.map(\.values) == [Self.event(7_000)])
        }
    }

    @Test func batchEdgeCases() async throws {
        try await database.withPool { pool in
            let result = try await pool.withConnection { connection in
                try connection.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(50) NULL, b VARBINARY(50) NULL, d DOUBLE NULL)")
                // A column mixing kinds travels as text; an all-NULL column as NULLs.
                let mixed = try connection.executeBatch(
                    "INSERT INTO t VALUES (?, ?, ?, ?)",
                    rows: [
                        [1, 10, .bytes([0, 1]), .double(1.5)],
                        [2, "x", nil, .int(3)],
                        [3, .double(2.25), .bytes([]), nil],
                        [4, nil, nil, nil],
                    ])
                let empty = try connection.executeBatch("INSERT INTO t VALUES (?, ?, ?, ?)", rows: [])
                // Bulk UPDATE and DELETE, and the sum of affected rows.
                let updated = try connection.executeBatch("UPDATE t SET v = ? WHERE id = ?", rows: [["u", 1], ["u", 2], ["u", 99]])
                let deleted = try connection.executeBatch("DELETE FROM t WHERE id = ?", rows: [[4], [98]])
                let rows = try connection.query("SELECT id, v, b, d FROM t ORDER BY id").map(\.values)
                var mismatch: MariaDBError?
                do { try connection.executeBatch("INSERT INTO t VALUES (?, ?, ?, ?)", rows: [[5, nil, nil, nil], [6]]) } catch {
                    mismatch = error as? MariaDBError
                }
                // A batch larger than one bulk packet (several MiB) goes out in pieces.
                let big = String(repeating: "z", count: 40)
                try connection.execute("CREATE TABLE wide (id INT PRIMARY KEY, v VARCHAR(50))")
                let wide = try connection.executeBatch(
                    "INSERT INTO wide VALUES (?, ?)", rows: (0..<150_000).map { [.int(Int64($0)), .string(big)] })
                let wideCount = try connection.query("SELECT COUNT(*), MAX(id) FROM wide")[0]
                return (mixed, empty, updated, deleted, rows, mismatch, wide, wideCount, connection.isOpen)
            }
            #expect(result.0 == 4)
            #expect(result.1 == 0)
            #expect(result.2 == 2)
            #expect(result.3 == 1)
            #expect(
                result.4 == [
                    [1, "u", .bytes([0, 1]), .double(1.5)],
                    [2, "u", nil, .double(3)],
                    [3, "2.25", .bytes([]), nil],
                ])
            #expect(result.5?.code == 0)
            #expect(result.6 == 150_000)
            #expect(result.7.values == [150_000, 149_999])
            #expect(result.8)
        }
    }

    // MARK: - Transactions

    @Test func transactions() async throws {
        try await database.withPool(size: 1) { pool in
            let afterRollback = try await pool.withConnection { connection in
                try connection.execute("CREATE TABLE t (id INT PRIMARY KEY)")
                try connection.begin()
                try connection.executeBatch("INSERT INTO t VALUES (?)", rows: [[1], [2], [3]])
                try connection.execute("INSERT INTO t VALUES (?)", [4])
                #expect(connection.isInTransaction)
                try connection.rollback()
                #expect(!connection.isInTransaction)
                return try connection.query("SELECT COUNT(*) FROM t")[0][0]
            }
            #expect(afterRollback == 0)

            struct Boom: Error {}
            await #expect(throws: Boom.self) {
                try await pool.withConnection { connection in
                    try connection.transaction { connection in
                        try connection.execute("INSERT INTO t VALUES (?)", [5])
                        throw Boom()
                    }
                }
            }
            // A body that leaves a transaction open: the pool rolls it back.
            try await pool.withConnection { connection in
                try connection.begin()
                try connection.execute("INSERT INTO t VALUES (?)", [6])
            }
            let committed = try await pool.withConnection { connection in
                #expect(!connection.isInTransaction)
                try connection.transaction { try $0.execute("INSERT INTO t VALUES (?)", [7]) }
                return try connection.query("SELECT id FROM t ORDER BY id").map { $0[0] }
            }
            #expect(committed == [7])
        }
    }

    // MARK: - Streaming

    @Test func forEachRowStreams200kRows() async throws {
        try await database.withPool { pool in
            let count = 200_000
            let result = try await pool.withConnection { connection in
                try connection.execute("CREATE TABLE t (id INT PRIMARY KEY, at DATETIME(6) NOT NULL, label VARCHAR(40) NULL)")
                let rows: [[MariaDBValue]] = (0..<count).map {
                    [.int(Int64($0)), .string(String(format: "2024-05-06 07:08:09.%06d", $0 % 1_000_000)), $0 % 10 == 0 ? nil : .string("row \($0)")]
                }
                try connection.transaction { try $0.executeBatch("INSERT INTO t VALUES (?, ?, ?)", rows: rows) }
                var seen = 0
                var sum: Int64 = 0
                var ordered = true
                var nulls = 0
                var checked = true
                try connection.forEachRow("SELECT id, at, label FROM t WHERE id >= ? ORDER BY id", [0]) { row in
                    let id = row[0].int ?? -1
                    ordered = ordered && id == Int64(seen)
                    if row["label"] == .null { nulls += 1 }
                    if seen % 9_973 == 0 {
                        checked = checked && row["label"] == rows[seen][2] && row["at"] == rows[seen][1]
                    }
                    sum += id
                    seen += 1
                }
                return (seen, sum, ordered, nulls, checked)
            }
            #expect(result.0 == count)
            #expect(result.1 == Int64(count) * Int64(count - 1) / 2)
            #expect(result.2)
            #expect(result.3 == count / 10)
            #expect(result.4)

            // A body that throws abandons the stream: the error comes out,
            // that connection is closed, and the pool carries on with a new one.
            struct Enough: Error {}
            let firstID = try await pool.withConnection { connection in
                try connection.query("SELECT CONNECTION_ID()")[0][0]
            }
            await #expect(throws: Enough.self) {
                try await pool.withConnection { connection in
                    var seen = 0
                    try connection.forEachRow("SELECT id FROM t ORDER BY id") { _ in
                        seen += 1
                        if seen == 1_000 { throw Enough() }
                    }
                }
            }
            let after = try await pool.withConnection { connection in
                (try connection.query("SELECT COUNT(*) FROM t")[0][0], try connection.query("SELECT CONNECTION_ID()")[0][0])
            }
            #expect(after.0 == .int(Int64(count)))
            #expect(firstID != .null)
        }
    }

    @Test func streamingConnectionRefusesOtherCalls() async throws {
        let error = try await database.withConnection { connection -> MariaDBError? in
            var caught: MariaDBError?
            try connection.forEachRow("SELECT 1 UNION ALL SELECT 2") { _ in
                do { _ = try connection.query("SELECT 3") } catch { caught = error as? MariaDBError }
            }
            // Still usable afterwards.
            #expect(try connection.query("SELECT 4")[0][0] == 4)
            return caught
        }
        #expect(error?.code == 0)
    }

    // MARK: - Errors

    @Test func serverErrorsCarryCodeAndState() async throws {
        try await database.withPool(size: 1) { pool in
            let (syntax, duplicate, batchDuplicate, arity, stillWorks) = try await pool.withConnection { connection in
                try connection.execute("CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(10))")
                try connection.execute("INSERT INTO t VALUES (?, ?)", [1, "one"])
                func capture(_ body: () throws -> Void) -> MariaDBError? {
                    do { try body() } catch { return error as? MariaDBError }
                    return nil
                }
                let syntax = capture { try connection.execute("SELEC nonsense FROM t WHERE id = ?", [1]) }
                let duplicate = capture { try connection.execute("INSERT INTO t VALUES (?, ?)", [1, "again"]) }
                let batchDuplicate = capture {
                    try connection.executeBatch("INSERT INTO t VALUES (?, ?)", rows: [[2, "two"], [1, "dup"]])
                }
                let arity = capture { try connection.execute("INSERT INTO t VALUES (?, ?)", [3]) }
                // Errors that are not about the connection leave it usable, with its cached statements.
                try connection.execute("INSERT INTO t VALUES (?, ?)", [4, "four"])
                return (syntax, duplicate, batchDuplicate, arity, try connection.query("SELECT id FROM t ORDER BY id").map { $0[0] })
            }
            #expect(syntax?.code == 1064)
            #expect(syntax?.sqlState == "42000")
            #expect(syntax?.isConnectionError == false)
            #expect(duplicate?.code == 1062)
            #expect(duplicate?.sqlState == "23000")
            #expect(duplicate?.isDuplicateKey == true)
            #expect(duplicate?.message.contains("Duplicate entry") == true)
            #expect(batchDuplicate?.code == 1062)
            #expect(arity?.code == 0)
            #expect(stillWorks.first == 1 && stillWorks.last == 4)
            // Via the throwing text API too.
            await #expect(throws: MariaDBError.self) {
                try await pool.withConnection { try $0.execute("CREATE TABLE t (id INT)") }
            }
        }
    }

    // Connector/C's own timeouts (connect, read) cannot be driven by a test
    // clock: these tests assert the error kind (refused, access denied,
    // connection lost), and the time limit only guards against a hang.
    @Test(.timeLimit(.minutes(5))) func errorsNeverContainThePassword() async throws {
        var configuration = database.configuration
        configuration.password = "s3cret-Pa55word"
        do {
            _ = try MariaDBConnection(configuration: configuration)
            Issue.record("connected with a wrong password")
        } catch let error as MariaDBError {
            #expect(error.code == 1045)
            #expect(error.sqlState == "28000")
            #expect(!error.isConnectionError)
            #expect(!"\(error)".contains("s3cret"))
            #expect(!error.message.contains("s3cret"))
        }
        #expect(!"\(configuration)".contains("s3cret"))
    }

    @Test(.timeLimit(.minutes(5))) func unreachableServerFailsFast() async throws {
        var configuration = database.configuration
        configuration.host = "127.0.0.1"
        configuration.port = 1  // nothing listens there
        let pool = MariaDBPool(configuration: configuration, size: 1, logger: TestDatabase.logger)
        do {
            _ = try await pool.withConnection { try $0.query("SELECT 1") }
            Issue.record("reached a server on port 1")
        } catch let error as MariaDBError {
            #expect(error.isConnectionError)
            // Refused (2002/2003): no timeout was waited for.
            #expect([2002, 2003].contains(error.code))
        }
        await pool.shutdown()
        await #expect(throws: MariaDBError.self) { try await pool.withConnection { _ in 1 } }
    }

    // MARK: - Pool

    @Test func poolRunsConcurrentCallsOnItsConnections() async throws {
        try await database.withPool(size: 2) { pool in
            let ids = try await withThrowingTaskGroup(of: Int64.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        try await pool.withConnection { connection in
                            try connection.query("SELECT CONNECTION_ID(), SLEEP(0.02)")[0][0].int ?? -1
                        }
                    }
                }
                return try await group.reduce(into: Set<Int64>()) { $0.insert($1) }
            }
            #expect(ids.count >= 1 && ids.count <= 2)
            #expect(!ids.contains(-1))
        }
    }

    @Test func sessionIsUTCWithUTF8MB4AndAutocommit() async throws {
        let row = try await database.withPool { pool in
            try await pool.withConnection { connection in
                try connection.query(
                    "SELECT @@session.time_zone AS tz, @@character_set_client AS cs, @@autocommit AS ac, FROM_UNIXTIME(?) AS t",
                    [0])[0]
            }
        }
        #expect(row["tz"] == "+00:00")
        #expect(row["cs"] == "utf8mb4")
        #expect(row["ac"] == 1)
        #expect(row["t"] == "1970-01-01 00:00:00.000000")
    }
}

/// Stopping and starting a server of its own, whatever server the rest uses.
///
/// How long a failure takes is Connector/C's timeouts' business, which no test
/// clock drives: the tests assert that calls return, with a connection error,
/// and the time limit only guards against a hang.
@Suite(.enabled(if: MariaDBTestServer.isAvailable, "needs mariadbd to start a server of its own"), .timeLimit(.minutes(5)))
struct MariaDBRecoveryTests {
    @Test func failsFastWhileDownAndRecoversAfterRestart() async throws {
        let server = try await MariaDBTestServer.start()
        defer { server.destroy() }
        var configuration = server.configuration
        configuration.idlePingSeconds = 3600  // this test wants to see the stale connection fail
        let pool = MariaDBPool(configuration: configuration, size: 2, logger: TestDatabase.logger)
        try await pool.withConnection { connection in
            try connection.execute("CREATE TABLE IF NOT EXISTS t (id INT PRIMARY KEY)")
            try connection.execute("INSERT INTO t VALUES (?)", [1])
        }

        await server.kill()
        for _ in 0..<3 {  // the stale connection, then attempts to open new ones
            do {
                _ = try await pool.withConnection { try $0.query("SELECT COUNT(*) FROM t") }
                Issue.record("query succeeded with the server down")
            } catch let error as MariaDBError {
                #expect(error.isConnectionError, "\(error)")
            }
        }

        try await server.restart()
        // The same pool, not recreated: the first call after the restart works.
        let count = try await pool.withConnection { try $0.query("SELECT COUNT(*) FROM t")[0][0] }
        #expect(count == 1)
        await pool.shutdown()
    }

    @Test func idleConnectionsArePingedAfterARestart() async throws {
        let server = try await MariaDBTestServer.start()
        defer { server.destroy() }
        var configuration = server.configuration
        configuration.idlePingSeconds = 0
        let pool = MariaDBPool(configuration: configuration, size: 1, logger: TestDatabase.logger)
        let before = try await pool.withConnection { try $0.query("SELECT CONNECTION_ID()")[0][0] }
        await server.stop()
        try await server.restart()
        // No failed call in between: the dead idle connection is noticed and replaced.
        let after = try await pool.withConnection { try $0.query("SELECT 40 + ?", [2])[0][0] }
        #expect(after == 42)
        #expect(before != .null)
        await pool.shutdown()

        // The same server through its Unix socket.
        configuration.unixSocket = server.socketPath
        configuration.port = 1  // ignored with a socket
        let socketPool = MariaDBPool(configuration: configuration, size: 1, logger: TestDatabase.logger)
        let viaSocket = try await socketPool.withConnection { try $0.query("SELECT @@port AS port, ? AS echo", ["ok"])[0] }
        #expect(viaSocket["port"] == .int(Int64(server.port)))
        #expect(viaSocket["echo"] == "ok")
        await socketPool.shutdown()
    }

    @Test func unresponsiveServerTimesOut() async throws {
        let server = try await MariaDBTestServer.start()
        defer { server.destroy() }
        var configuration = server.configuration
        configuration.connectTimeoutSeconds = 1
        configuration.readTimeoutSeconds = 2
        configuration.idlePingSeconds = 3600
        let pool = MariaDBPool(configuration: configuration, size: 1, logger: TestDatabase.logger)
        _ = try await pool.withConnection { try $0.query("SELECT 1") }
        server.pause()
        defer { server.resume() }
        // A query on an open connection: ended by the read timeout (2 s), not a hang.
        let readError = await #expect(throws: MariaDBError.self) {
            try await pool.withConnection { try $0.query("SELECT 1") }
        }
        #expect(readError?.isConnectionError == true, "\(String(describing: readError))")
        // A new connection: ended by the connect timeout (1 s), not a hang.
        let connectError = await #expect(throws: MariaDBError.self) {
            try await pool.withConnection { try $0.query("SELECT 1") }
        }
        #expect(connectError?.isConnectionError == true, "\(String(describing: connectError))")
        server.resume()
        let value = try await pool.withConnection { try $0.query("SELECT 7")[0][0] }
        #expect(value == 7)
        await pool.shutdown()
    }
}

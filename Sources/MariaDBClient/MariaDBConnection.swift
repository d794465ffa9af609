import CMariaDB

/// Connector/C must be initialised once before the first `mysql_init`, and
/// that call is not thread-safe; a global `let` is initialised exactly once,
/// atomically, on first use.
private let libraryInitialized: Bool = mysql_server_init(0, nil, nil) == 0

/// One connection to MariaDB, over Connector/C's blocking API.
///
/// Every method blocks the calling thread until the server answers, so call
/// them only where blocking is fine: on a ``MariaDBPool`` thread (through
/// ``MariaDBPool/withConnection(_:)``) or a thread of your own, never on an
/// event loop or in Swift concurrency's cooperative pool. A connection is
/// used by one thread at a time (it is not `Sendable`); it may move between
/// threads between calls.
///
/// Values travel only as bound parameters of prepared statements, which are
/// prepared once per SQL text and cached on the connection. Sessions run in
/// UTC (`time_zone = '+00:00'`), utf8mb4, with autocommit on and automatic
/// reconnection off: after a connection-level error (see
/// ``MariaDBError/isConnectionError``) the connection is closed and every
/// further call fails; open a new one (the pool does).
package final class MariaDBConnection {
    private var handle: UnsafeMutablePointer<MYSQL>?
    private var statements: [String: UnsafeMutablePointer<MYSQL_STMT>] = [:]
    /// Preparation order, to evict the oldest statement when the cache is full.
    private var statementOrder: [String] = []
    /// True while `forEachRow` streams: the connection's socket is busy with
    /// the rest of that result, so any other call would be out of sync.
    private var isStreaming = false

    /// Prepared statements kept per connection; the server's default limit is
    /// 16382 for all sessions together (`max_prepared_stmt_count`).
    package static let statementCacheCapacity = 64

    /// Rows of one bulk packet are capped near this many bytes (the server
    /// refuses packets above `max_allowed_packet`, 16 MiB by default); a larger
    /// batch is sent as several executions.
    package static let maximumBulkBytes = 4 << 20

    package init(configuration: MariaDBConfiguration) throws {
        guard libraryInitialized, let mysql = mysql_init(nil) else {
            throw MariaDBError(code: UInt32(CR_OUT_OF_MEMORY), sqlState: "HY000", message: "mysql_init failed")
        }
        var connectTimeout = UInt32(clamping: max(configuration.connectTimeoutSeconds, 1))
        var readTimeout = UInt32(clamping: max(configuration.readTimeoutSeconds, 1))
        var writeTimeout = UInt32(clamping: max(configuration.writeTimeoutSeconds, 1))
        var reconnect: my_bool = 0
        var localInfile: UInt32 = 0
        mysql_options(mysql, MYSQL_OPT_CONNECT_TIMEOUT, &connectTimeout)
        mysql_options(mysql, MYSQL_OPT_READ_TIMEOUT, &readTimeout)
        mysql_options(mysql, MYSQL_OPT_WRITE_TIMEOUT, &writeTimeout)
        // A silent reconnect would lose session state (time zone, an open
        // transaction, prepared statements) without telling the caller.
        mysql_options(mysql, MYSQL_OPT_RECONNECT, &reconnect)
        mysql_options(mysql, MYSQL_OPT_LOCAL_INFILE, &localInfile)
        _ = "utf8mb4".withCString { mysql_options(mysql, MYSQL_SET_CHARSET_NAME, $0) }

        let host = configuration.unixSocket == nil ? configuration.host : "localhost"
        guard
            mysql_real_connect(
                mysql, host, configuration.user, configuration.password, configuration.database,
                UInt32(clamping: configuration.port), configuration.unixSocket, 0) != nil
        else {
            let error = MariaDBError(connection: mysql)
            mysql_close(mysql)
            throw error
        }
        handle = mysql
        do {
            try execute("SET time_zone = '+00:00'")
            if mysql_autocommit(mysql, 1) != 0 { throw MariaDBError(connection: mysql) }
        } catch {
            close()
            throw error
        }
    }

    deinit {
        close()
    }

    /// Closes the connection (also done on deinit). Later calls fail with `CR_SERVER_GONE_ERROR`.
    package func close() {
        guard let mysql = handle else { return }
        handle = nil
        // The connection first: the statements are then freed locally,
        // without a round trip each or draining an abandoned result.
        mysql_close(mysql)
        for statement in statements.values { mysql_stmt_close(statement) }
        statements.removeAll()
        statementOrder.removeAll()
    }

    /// False once a connection-level error closed the connection.
    package var isOpen: Bool { handle != nil }

    /// Inside a transaction that has not been committed or rolled back.
    package var isInTransaction: Bool {
        guard let mysql = handle else { return false }
        return mysql.pointee.server_status & UInt32(SERVER_STATUS_IN_TRANS) != 0
    }

    /// The server's version, e.g. 101119 for 10.11.19.
    package var serverVersion: Int {
        handle.map { Int(mysql_get_server_version($0)) } ?? 0
    }

    // MARK: - Plain text statements

    /// Runs SQL as plain text, without parameters, discarding any result
    /// (DDL, `SET`, `START TRANSACTION`...). Never put values into `sql`;
    /// use the parameterised methods.
    package func execute(_ sql: String) throws {
        let mysql = try open()
        if mysql_real_query(mysql, sql, UInt(sql.utf8.count)) != 0 {
            throw failure(MariaDBError(connection: mysql))
        }
        while true {
            if let result = mysql_use_result(mysql) {
                mysql_free_result(result)  // reads and drops the rows
            } else if mysql_field_count(mysql) > 0 {
                throw failure(MariaDBError(connection: mysql))
            }
            let next = mysql_next_result(mysql)
            if next > 0 { throw failure(MariaDBError(connection: mysql)) }
            if next < 0 { return }
        }
    }

    // MARK: - Prepared statements

    /// Runs a statement with bound parameters and returns the number of
    /// affected rows (0 for a statement that returns rows; the rows are dropped).
    @discardableResult
    package func execute(_ sql: String, _ parameters: [MariaDBValue]) throws -> UInt64 {
        let statement = try run(sql, parameters)
        if mysql_stmt_field_count(statement) > 0 {
            try finishResults(statement)
            return 0
        }
        let affected = mysql_stmt_affected_rows(statement)
        try finishResults(statement)
        return affected == UInt64.max ? 0 : affected
    }

    /// All rows of a query, in memory. For large results use ``forEachRow(_:_:_:)``.
    package func query(_ sql: String, _ parameters: [MariaDBValue] = []) throws -> [MariaDBRow] {
        var rows = [MariaDBRow]()
        try forEachRow(sql, parameters) { rows.append($0) }
        return rows
    }

    /// Streams the rows of a query to `body` as they arrive from the server
    /// (unbuffered fetch): memory stays constant however many rows there are.
    ///
    /// While it runs the connection is busy with the result, so `body` must
    /// not use this connection. If `body` throws, the stream is abandoned by
    /// closing the connection (the server stops sending; draining millions of
    /// rows would cost more than a new connection) and the error is rethrown.
    /// A slow `body` holds the server's result open: the server gives up
    /// after its `net_write_timeout` (60 s by default) without a read.
    package func forEachRow(
        _ sql: String, _ parameters: [MariaDBValue] = [], _ body: (MariaDBRow) throws -> Void
    ) throws {
        let statement = try run(sql, parameters)
        let fieldCount = Int(mysql_stmt_field_count(statement))
        guard fieldCount > 0, let fields = mariadb_stmt_fetch_fields(statement) else {
            try finishResults(statement)
            return
        }
        let binding = ResultBinding(fields: fields, count: fieldCount)
        if mysql_stmt_bind_result(statement, binding.binds) != 0 {
            throw failure(MariaDBError(statement: statement))
        }
        isStreaming = true
        defer { isStreaming = false }
        while true {
            let status = mysql_stmt_fetch(statement)
            if status == MYSQL_NO_DATA { break }
            // MYSQL_DATA_TRUNCATED only says a value outgrew its buffer; `row` fetches it whole.
            guard status == 0 || status == MYSQL_DATA_TRUNCATED else {
                throw failure(MariaDBError(statement: statement))
            }
            let row: MariaDBRow
            do {
                row = try binding.row(statement)
                try binding.rebindIfNeeded(statement)
            } catch let error as MariaDBError {
                throw failure(error, abandoningResult: true)
            }
            do {
                try body(row)
            } catch {
                isStreaming = false
                close()
                throw error
            }
        }
        isStreaming = false
        try finishResults(statement)
    }

    /// Runs one statement for many rows of parameters with MariaDB's array
    /// binding (bulk execution): the rows travel in one packet and one round
    /// trip, up to ``maximumBulkBytes`` per packet. Returns the affected rows
    /// summed over all rows. Works for INSERT, REPLACE, UPDATE and DELETE.
    ///
    /// Needs MariaDB 10.2.7 or later. A batch split into several packets is
    /// atomic only inside a transaction.
    @discardableResult
    package func executeBatch(_ sql: String, rows: [[MariaDBValue]]) throws -> UInt64 {
        guard !rows.isEmpty else { return 0 }
        let statement = try prepared(sql)
        let width = Int(mysql_stmt_param_count(statement))
        guard width > 0 else { throw MariaDBError.usage("executeBatch needs a statement with ? parameters") }
        for (index, row) in rows.enumerated() where row.count != width {
            throw MariaDBError.usage("executeBatch row \(index) has \(row.count) values; the statement takes \(width)")
        }
        var total: UInt64 = 0
        var start = rows.startIndex
        while start < rows.endIndex {
            var end = start
            var bytes = 0
            while end < rows.endIndex {
                let size = BulkParameters.estimatedSize(of: rows[end])
                if end > start && bytes + size > Self.maximumBulkBytes { break }
                bytes += size
                end += 1
            }
            total += try executeBulk(statement, rows[start..<end], width: width)
            start = end
        }
        return total
    }

    /// The same for rows already in their wire types (``MariaDBBatch``):
    /// nothing converted per value, datetimes sent as binary times.
    @discardableResult
    package func executeBatch(_ sql: String, _ batch: MariaDBBatch) throws -> UInt64 {
        guard !batch.isEmpty else { return 0 }
        let statement = try prepared(sql)
        let width = Int(mysql_stmt_param_count(statement))
        guard width == batch.columnTypes.count else {
            throw MariaDBError.usage("the batch has \(batch.columnTypes.count) columns; the statement takes \(width)")
        }
        var total: UInt64 = 0
        var start = 0
        while start < batch.count {
            var end = start
            var bytes = 0
            while end < batch.count {
                let size = batch.estimatedSize(ofRow: end)
                if end > start && bytes + size > Self.maximumBulkBytes { break }
                bytes += size
                end += 1
            }
            let (binds, arena) = batch.bind(start..<end)
            defer {
                binds.deinitialize(count: width)
                binds.deallocate()
                arena.deallocate()
            }
            total += try executeBulk(statement, binds, rows: end - start)
            start = end
        }
        return total
    }

    private func executeBulk(
        _ statement: UnsafeMutablePointer<MYSQL_STMT>, _ rows: ArraySlice<[MariaDBValue]>, width: Int
    ) throws -> UInt64 {
        let parameters = BulkParameters(rows, width: width)
        defer { parameters.deallocate() }
        return try executeBulk(statement, parameters.binds, rows: rows.count)
    }

    private func executeBulk(_ statement: UnsafeMutablePointer<MYSQL_STMT>, _ binds: UnsafeMutablePointer<MYSQL_BIND>, rows: Int) throws
        -> UInt64
    {
        var arraySize = UInt32(rows)
        guard mysql_stmt_attr_set(statement, STMT_ATTR_ARRAY_SIZE, &arraySize) == 0,
            mysql_stmt_bind_param(statement, binds) == 0,
            mysql_stmt_execute(statement) == 0
        else {
            throw failure(MariaDBError(statement: statement))
        }
        let affected = mysql_stmt_affected_rows(statement)
        try finishResults(statement)
        return affected == UInt64.max ? 0 : affected
    }

    // MARK: - Transactions

    package func begin() throws {
        try execute("START TRANSACTION")
    }

    package func commit() throws {
        let mysql = try open()
        if mysql_commit(mysql) != 0 { throw failure(MariaDBError(connection: mysql)) }
    }

    package func rollback() throws {
        let mysql = try open()
        if mysql_rollback(mysql) != 0 { throw failure(MariaDBError(connection: mysql)) }
    }

    /// Runs `body` in a transaction: commits when it returns, rolls back when it throws.
    @discardableResult
    package func transaction<T>(_ body: (MariaDBConnection) throws -> T) throws -> T {
        try begin()
        do {
            let result = try body(self)
            try commit()
            return result
        } catch {
            if isOpen { try? rollback() }
            throw error
        }
    }

    /// A round trip to the server; false (and the connection closed) if it is gone.
    package func ping() -> Bool {
        guard let mysql = handle, !isStreaming else { return false }
        if mysql_ping(mysql) == 0 { return true }
        close()
        return false
    }

    /// Runs a parameterless query and hands its unbuffered result to `body`
    /// (see `forEachRawRow`); the connection stays busy until `body` returns,
    /// and is closed if `body` throws (the rest of the result is not drained).
    func withRawResult(_ sql: String, _ body: (UnsafeMutablePointer<MYSQL_RES>) throws -> Void) throws {
        let mysql = try open()
        if mysql_real_query(mysql, sql, UInt(sql.utf8.count)) != 0 {
            throw failure(MariaDBError(connection: mysql))
        }
        guard let result = mysql_use_result(mysql) else {
            if mysql_field_count(mysql) > 0 { throw failure(MariaDBError(connection: mysql)) }
            return
        }
        isStreaming = true
        do {
            try body(result)
        } catch {
            isStreaming = false
            mysql_free_result(result)
            close()
            throw error
        }
        isStreaming = false
        // A fetch that ended early on an error (server gone) shows up here.
        let code = mysql_errno(mysql)
        mysql_free_result(result)
        if code != 0 { throw failure(MariaDBError(connection: mysql)) }
    }

    // MARK: - Internals

    private func open() throws -> UnsafeMutablePointer<MYSQL> {
        guard let mysql = handle else {
            throw MariaDBError(code: UInt32(CR_SERVER_GONE_ERROR), sqlState: "HY000", message: "the connection is closed")
        }
        guard !isStreaming else {
            throw MariaDBError.usage("the connection is busy streaming a result (forEachRow); use another connection")
        }
        return mysql
    }

    /// Closes the connection when `error` leaves it unusable, and returns the error to throw.
    private func failure(_ error: MariaDBError, abandoningResult: Bool = false) -> MariaDBError {
        if error.requiresDiscard || abandoningResult {
            isStreaming = false
            close()
        }
        return error
    }

    /// The cached statement for `sql`, prepared on first use.
    private func prepared(_ sql: String) throws -> UnsafeMutablePointer<MYSQL_STMT> {
        let mysql = try open()
        if let statement = statements[sql] { return statement }
        guard let statement = mysql_stmt_init(mysql) else {
            throw failure(MariaDBError(connection: mysql))
        }
        if mysql_stmt_prepare(statement, sql, UInt(sql.utf8.count)) != 0 {
            let error = MariaDBError(statement: statement)
            mysql_stmt_close(statement)
            throw failure(error)
        }
        if statementOrder.count >= Self.statementCacheCapacity {
            let oldest = statementOrder.removeFirst()
            if let evicted = statements.removeValue(forKey: oldest) { mysql_stmt_close(evicted) }
        }
        statements[sql] = statement
        statementOrder.append(sql)
        return statement
    }

    /// Prepares (or reuses) and executes a statement for one row of parameters.
    private func run(_ sql: String, _ parameters: [MariaDBValue]) throws -> UnsafeMutablePointer<MYSQL_STMT> {
        let statement = try prepared(sql)
        let expected = Int(mysql_stmt_param_count(statement))
        guard parameters.count == expected else {
            throw MariaDBError.usage("\(parameters.count) parameters given; the statement takes \(expected)")
        }
        // The same statement may have run as a batch before.
        var arraySize: UInt32 = 0
        mysql_stmt_attr_set(statement, STMT_ATTR_ARRAY_SIZE, &arraySize)
        if expected > 0 {
            let bound = SingleParameters(parameters)
            defer { bound.deallocate() }
            guard mysql_stmt_bind_param(statement, bound.binds) == 0, mysql_stmt_execute(statement) == 0 else {
                throw failure(MariaDBError(statement: statement))
            }
        } else if mysql_stmt_execute(statement) != 0 {
            throw failure(MariaDBError(statement: statement))
        }
        return statement
    }

    /// Drops what is left of the statement's results (the rest of a result
    /// set, further result sets of a CALL), so the connection is ready for the
    /// next command.
    private func finishResults(_ statement: UnsafeMutablePointer<MYSQL_STMT>) throws {
        if mysql_stmt_free_result(statement) != 0 { throw failure(MariaDBError(statement: statement)) }
        while mysql_stmt_more_results(statement) != 0 {
            let next = mysql_stmt_next_result(statement)
            if next > 0 { throw failure(MariaDBError(statement: statement)) }
            if next < 0 { break }
            if mysql_stmt_free_result(statement) != 0 { throw failure(MariaDBError(statement: statement)) }
        }
    }
}

/// A connection is confined to one thread at a time; moving it between
/// threads is the pool's job, which hands it to one closure at a time.
@available(*, unavailable)
extension MariaDBConnection: Sendable {}

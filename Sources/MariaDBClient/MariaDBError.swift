import CMariaDB

/// An error from the server, from Connector/C, or (code 0) from this library
/// before anything was sent. Messages come from the server or the connector
/// and never contain the password.
package struct MariaDBError: Error, Sendable, CustomStringConvertible {
    /// The server's `ER_*` (1000–1999, 3000+) or the connector's `CR_*` (2000–2999) code; 0 for a usage error.
    package var code: UInt32
    /// The five-character SQLSTATE, e.g. `23000` for a duplicate key.
    package var sqlState: String
    package var message: String

    package init(code: UInt32, sqlState: String, message: String) {
        self.code = code
        self.sqlState = sqlState
        self.message = message
    }

    /// The connection cannot be used any more (server down, restarted, killed
    /// the session, unreachable, too many connections): the pool discards it
    /// and the next call opens a new one. Worth retrying later.
    package var isConnectionError: Bool {
        Self.connectionErrorCodes.contains(code)
    }

    /// A duplicate value in a unique key (ER_DUP_ENTRY 1062).
    package var isDuplicateKey: Bool { code == 1062 }

    /// The server refused a value itself (wrong type, out of range, too
    /// long, NULL where none is allowed): sending the same row again cannot
    /// succeed, unlike a lock timeout, a full disk or a lost connection.
    package var isRefusedValue: Bool {
        [1048, 1264, 1265, 1292, 1366, 1406, 1411].contains(code)
    }

    package var description: String {
        code == 0 ? "MariaDB client: \(message)" : "MariaDB error \(code) (\(sqlState)): \(message)"
    }

    static let connectionErrorCodes: Set<UInt32> = [
        UInt32(CR_SOCKET_CREATE_ERROR),  // 2001
        UInt32(CR_CONNECTION_ERROR),  // 2002
        UInt32(CR_CONN_HOST_ERROR),  // 2003
        2004,  // CR_IPSOCK_ERROR
        UInt32(CR_UNKNOWN_HOST),  // 2005: DNS may come back
        UInt32(CR_SERVER_GONE_ERROR),  // 2006
        UInt32(CR_SERVER_HANDSHAKE_ERR),  // 2012
        UInt32(CR_SERVER_LOST),  // 2013
        2026,  // CR_SSL_CONNECTION_ERROR
        UInt32(CR_SERVER_LOST_EXTENDED),  // 2055
        1040,  // ER_CON_COUNT_ERROR: too many connections
        1053,  // ER_SERVER_SHUTDOWN
        1927,  // ER_CONNECTION_KILLED
    ]

    /// Connector/C's own errors (other than the ones above) mean the client
    /// side state may be out of step with the server, so the connection is
    /// not reused either.
    var requiresDiscard: Bool {
        isConnectionError || (2000...2999).contains(code)
    }

    static func usage(_ message: String) -> MariaDBError {
        MariaDBError(code: 0, sqlState: "HY000", message: message)
    }

    init(connection mysql: UnsafeMutablePointer<MYSQL>) {
        self.init(
            code: mysql_errno(mysql),
            sqlState: String(cString: mysql_sqlstate(mysql)),
            message: String(cString: mysql_error(mysql)))
    }

    init(statement: UnsafeMutablePointer<MYSQL_STMT>) {
        self.init(
            code: mysql_stmt_errno(statement),
            sqlState: String(cString: mysql_stmt_sqlstate(statement)),
            message: String(cString: mysql_stmt_error(statement)))
    }
}

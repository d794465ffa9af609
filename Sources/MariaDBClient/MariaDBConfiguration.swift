/// Where and how to connect. Timeouts are whole seconds because that is what
/// Connector/C takes (`MYSQL_OPT_*_TIMEOUT` are `unsigned int` seconds).
package struct MariaDBConfiguration: Sendable {
    package var host: String = "127.0.0.1"
    package var port: Int = 3306
    /// When set, connect through this Unix socket instead of TCP (`host` is ignored).
    package var unixSocket: String? = nil
    package var user: String = "og"
    package var password: String = "og"
    package var database: String = "og"
    /// Limits the TCP connect and the handshake, so that a dead server fails fast.
    package var connectTimeoutSeconds: Int = 2
    /// Limits each wait for the server's reply. A statement that runs longer
    /// than this fails with `CR_SERVER_LOST` and the connection is discarded.
    package var readTimeoutSeconds: Int = 30
    package var writeTimeoutSeconds: Int = 30
    /// A pooled connection idle for longer than this is pinged before it is
    /// handed out, so that a server restart costs no failed call. 0 pings every time.
    package var idlePingSeconds: Int = 1

    package init(
        host: String = "127.0.0.1",
        port: Int = 3306,
        unixSocket: String? = nil,
        user: String = "og",
        password: String = "og",
        database: String = "og",
        connectTimeoutSeconds: Int = 2,
        readTimeoutSeconds: Int = 30,
        writeTimeoutSeconds: Int = 30,
        idlePingSeconds: Int = 1
    ) {
        self.host = host
        self.port = port
        self.unixSocket = unixSocket
        self.user = user
        self.password = password
        self.database = database
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.readTimeoutSeconds = readTimeoutSeconds
        self.writeTimeoutSeconds = writeTimeoutSeconds
        self.idlePingSeconds = idlePingSeconds
    }
}

extension MariaDBConfiguration: CustomStringConvertible {
    /// Names the server and account, never the password.
    package var description: String {
        let server = unixSocket.map { "unix:\($0)" } ?? "\(host):\(port)"
        return "mariadb://\(user)@\(server)/\(database)"
    }
}

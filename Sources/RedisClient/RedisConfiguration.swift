public import NIOCore

/// Where Redis is and how the client talks to it.
package struct RedisConfiguration: Sendable {
    package var host: String = "127.0.0.1"
    package var port: Int = 6379
    /// ACL user for `AUTH`; `nil` authenticates as the default user (or not at all).
    package var username: String? = nil
    /// Sent with `AUTH` on every new connection when set.
    package var password: String? = nil
    /// Selected with `SELECT` on every new connection when not 0.
    package var database: Int = 0
    /// Connections in a ``RedisClient`` pool. Pipelining makes a few enough: each one
    /// carries any number of commands in flight.
    package var connectionCount: Int = 2
    package var connectTimeout: TimeAmount = .seconds(1)
    /// Default time to wait for a reply; a command may set its own.
    package var commandTimeout: TimeAmount = .milliseconds(750)

    package init(
        host: String = "127.0.0.1",
        port: Int = 6379,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        connectionCount: Int = 2,
        connectTimeout: TimeAmount = .seconds(1),
        commandTimeout: TimeAmount = .milliseconds(750)
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.connectionCount = connectionCount
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
    }
}

/// Why a command did not get a reply, or got an error reply.
package enum RedisClientError: Error, Sendable, Hashable {
    /// No live connection (Redis down or reconnecting); the command was not sent.
    case unavailable(String)
    /// No reply in time; the connection was dropped. The command may have run.
    case timeout
    /// The connection closed with the command in flight: outcome unknown.
    case connectionClosed
    /// An error reply, e.g. `NOSCRIPT …` or `ERR …` (thrown by `send`).
    case server(String)
    /// Malformed bytes from the server, or a command that cannot be sent (empty).
    case protocolError(String)
}

extension RedisClientError: CustomStringConvertible {
    package var description: String {
        switch self {
        case .unavailable(let reason): "Redis unavailable: \(reason)"
        case .timeout: "Redis command timed out"
        case .connectionClosed: "Redis connection closed with the command in flight"
        case .server(let message): "Redis error reply: \(message)"
        case .protocolError(let message): "Redis protocol error: \(message)"
        }
    }
}

extension RedisConfiguration: CustomStringConvertible {
    /// Names the server, user and database, never the password (so that a
    /// configuration logged or interpolated whole does not leak it).
    package var description: String {
        "redis://\(username.map { "\($0)@" } ?? "")\(host):\(port)/\(database)\(password == nil ? "" : " (password set)")"
    }
}

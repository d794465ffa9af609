public import NIOCore

/// One argument of a command: a binary-safe byte string, as Redis sees every argument.
public struct RedisArgument: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    public var bytes: [UInt8]

    public init(_ string: String) {
        self.bytes = Array(string.utf8)
    }

    public init(_ string: Substring) {
        self.bytes = Array(string.utf8)
    }

    public init(_ int: Int) {
        self.bytes = Array(String(int).utf8)
    }

    public init(_ int: Int64) {
        self.bytes = Array(String(int).utf8)
    }

    public init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    public init(stringLiteral value: String) {
        self.init(value)
    }

    public init(integerLiteral value: Int) {
        self.init(value)
    }
}

/// A command and its arguments, e.g. `RedisCommand("HINCRBY", "sym:a", "count", 1)`.
public struct RedisCommand: Sendable {
    public var arguments: [RedisArgument]
    /// How long to wait for the reply before the connection is given up as dead;
    /// `nil` means the configuration's ``RedisConfiguration/commandTimeout``. Blocking
    /// commands (`XREADGROUP … BLOCK n`) must allow for their block time here.
    public var timeout: TimeAmount?
    /// Set when the one argument is already the RESP encoding of whole
    /// commands (``RedisEncodedCommands``), to be sent as it is.
    var isEncoded = false

    public init(_ arguments: RedisArgument..., timeout: TimeAmount? = nil) {
        self.arguments = arguments
        self.timeout = timeout
    }

    public init(arguments: [RedisArgument], timeout: TimeAmount? = nil) {
        self.arguments = arguments
        self.timeout = timeout
    }
}

extension RedisCommand: CustomStringConvertible {
    /// The command name only: arguments may hold secrets (AUTH) or be large.
    public var description: String {
        guard let name = self.arguments.first else { return "<empty command>" }
        return String(decoding: name.bytes, as: UTF8.self)
    }
}

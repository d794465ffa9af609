public import NIOCore

/// One argument of a command: a binary-safe byte string, as Redis sees every argument.
package struct RedisArgument: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    package var bytes: [UInt8]

    package init(_ string: String) {
        self.bytes = Array(string.utf8)
    }

    package init(_ string: Substring) {
        self.bytes = Array(string.utf8)
    }

    package init(_ int: Int) {
        self.bytes = Array(String(int).utf8)
    }

    package init(_ int: Int64) {
        self.bytes = Array(String(int).utf8)
    }

    package init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    package init(stringLiteral value: String) {
        self.init(value)
    }

    package init(integerLiteral value: Int) {
        self.init(value)
    }
}

/// A command and its arguments, e.g. `RedisCommand("HINCRBY", "sym:a", "count", 1)`.
package struct RedisCommand: Sendable {
    package var arguments: [RedisArgument]
    /// How long to wait for the reply before the connection is given up as dead;
    /// `nil` means the configuration's ``RedisConfiguration/commandTimeout``. Blocking
    /// commands (`XREADGROUP … BLOCK n`) must allow for their block time here.
    package var timeout: TimeAmount?
    /// Set when the one argument is already the RESP encoding of whole
    /// commands (``RedisEncodedCommands``), to be sent as it is.
    var isEncoded = false

    package init(_ arguments: RedisArgument..., timeout: TimeAmount? = nil) {
        self.arguments = arguments
        self.timeout = timeout
    }

    package init(arguments: [RedisArgument], timeout: TimeAmount? = nil) {
        self.arguments = arguments
        self.timeout = timeout
    }
}

extension RedisCommand: CustomStringConvertible {
    /// The command name only: arguments may hold secrets (AUTH) or be large.
    package var description: String {
        guard let name = self.arguments.first else { return "<empty command>" }
        return String(decoding: name.bytes, as: UTF8.self)
    }
}

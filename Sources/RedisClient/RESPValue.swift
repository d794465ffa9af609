/// A reply from Redis, in the RESP2 protocol's terms.
///
/// Values are plain Swift data: decoding copies out of hiredis' reply objects, so a
/// `RESPValue` can be kept, compared and sent across tasks freely.
package enum RESPValue: Sendable, Hashable {
    /// A status reply such as `+OK`.
    case simpleString(String)
    /// An error reply such as `-ERR unknown command`. ``RedisConnection/send(_:)`` throws
    /// these as ``RedisClientError/server(_:)``; ``RedisConnection/pipeline(_:)`` returns
    /// them in place.
    case error(String)
    case integer(Int64)
    /// A non-null bulk string. Binary-safe: may hold any bytes, NUL included.
    case bulkString([UInt8])
    /// A null bulk string (`$-1`) or a null array (`*-1`); RESP2 does not tell them apart
    /// in a useful way, and neither does hiredis.
    case null
    case array([RESPValue])
}

extension RESPValue {
    /// A status reply, or a bulk string decoded as UTF-8 (invalid sequences become U+FFFD).
    package var string: String? {
        switch self {
        case .simpleString(let string): string
        case .bulkString(let bytes): String(decoding: bytes, as: UTF8.self)
        default: nil
        }
    }

    /// An integer reply, or a bulk/status string that holds a decimal integer
    /// (`HGET` of a counter, say).
    package var int: Int64? {
        switch self {
        case .integer(let value): value
        case .bulkString(let bytes): Self.parseInteger(bytes)
        case .simpleString(let string): Self.parseInteger(Array(string.utf8))
        default: nil
        }
    }

    /// The bytes of a bulk string, or the UTF-8 of a status reply.
    package var bytes: [UInt8]? {
        switch self {
        case .bulkString(let bytes): bytes
        case .simpleString(let string): Array(string.utf8)
        default: nil
        }
    }

    package var array: [RESPValue]? {
        if case .array(let elements) = self { elements } else { nil }
    }

    package var isNull: Bool {
        if case .null = self { true } else { false }
    }

    // Parses the bytes directly: counters are read on the hot path, and going through
    // `String` would allocate for every reply.
    private static func parseInteger(_ bytes: [UInt8]) -> Int64? {
        guard !bytes.isEmpty, bytes.count <= 20 else { return nil }
        var index = 0
        let negative = bytes[0] == UInt8(ascii: "-")
        if negative || bytes[0] == UInt8(ascii: "+") { index = 1 }
        guard index < bytes.count else { return nil }
        var value: Int64 = 0
        while index < bytes.count {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit <= 9 else { return nil }
            // Accumulate negatively so that Int64.min parses too.
            let (multiplied, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = multiplied.subtractingReportingOverflow(Int64(digit))
            guard !overflow1, !overflow2 else { return nil }
            value = next
            index += 1
        }
        if negative { return value }
        let (positive, overflow) = Int64(0).subtractingReportingOverflow(value)
        return overflow ? nil : positive
    }
}

extension RESPValue: CustomStringConvertible {
    /// A redis-cli-like rendering, for logs and test failures.
    package var description: String {
        switch self {
        case .simpleString(let string): return string
        case .error(let message): return "(error) \(message)"
        case .integer(let value): return "(integer) \(value)"
        case .bulkString(let bytes): return "\"\(String(decoding: bytes, as: UTF8.self))\""
        case .null: return "(nil)"
        case .array(let elements): return "[" + elements.map(\.description).joined(separator: ", ") + "]"
        }
    }
}

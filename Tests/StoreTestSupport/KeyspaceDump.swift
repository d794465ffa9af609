import RedisClient
import RedisStore

extension RedisEventStore {
    /// Every aggregate under this store's prefix, as stored: key (without the
    /// prefix, binary parts in hex) → hash fields sorted, or the string's
    /// bytes, in hex. The event logs, the archive counters and the layout
    /// record are left out, and
    /// the waiting counter is kept only when not zero (live ingest may leave
    /// a 0 behind, a rebuild does not write one): what two stores built from
    /// the same events, one way or another, must have byte for byte.
    package func aggregateDump() async throws -> [String: String] {
        var dump = [String: String]()
        let prefix = Array(layout.prefix.utf8)
        for key in try await rawKeys() where layout.key(named: key) != .meta {
            let name = Self.readable(Array(key.dropFirst(prefix.count)))
            let argument = RedisArgument(bytes: key)
            switch try await client.send(RedisCommand("TYPE", argument)).string {
            case "hash":
                let fields = try await client.send(RedisCommand("HGETALL", argument)).array ?? []
                var pairs = [String]()
                for index in stride(from: 0, to: fields.count - 1, by: 2) {
                    let field = Self.readable(fields[index].bytes ?? [])
                    let value = fields[index + 1].bytes ?? []
                    if name == "stats" || name.hasSuffix("}:stats") {
                        guard field == "waiting", String(decoding: value, as: UTF8.self) != "0" else { continue }
                    }
                    pairs.append(field + "=" + Self.hex(value))
                }
                if !pairs.isEmpty { dump[name] = pairs.sorted().joined(separator: ",") }
            case "string":
                dump[name] = Self.hex(try await client.send(RedisCommand("GET", argument)).bytes ?? [])
            case "zset":
                let members = try await client.send(RedisCommand("ZRANGE", argument, "0", "-1", "WITHSCORES")).array ?? []
                var pairs = [String]()
                for index in stride(from: 0, to: members.count - 1, by: 2) {
                    pairs.append(Self.readable(members[index].bytes ?? []) + "=" + (members[index + 1].string ?? "?"))
                }
                dump[name] = pairs.sorted().joined(separator: ",")
            case "stream":
                continue
            case let other:
                dump[name] = "type \(other ?? "?")"
            }
        }
        return dump
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    /// Printable ASCII as it is, anything else in hex (uuid-map keys and fields).
    static func readable(_ bytes: [UInt8]) -> String {
        bytes.allSatisfy({ (0x21...0x7e).contains($0) }) ? String(decoding: bytes, as: UTF8.self) : "0x" + hex(bytes)
    }
}

/// Turns for tests that change server-wide Redis settings (`CONFIG SET`, as
/// `rebuild` does while it writes), which tests running at once would see.
package actor ServerSettingsLock {
    package static let shared = ServerSettingsLock()
    private var held = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    package func withLock<T: Sendable>(_ body: @Sendable () async throws -> T) async rethrows -> T {
        if held {
            await withCheckedContinuation { waiting.append($0) }
        } else {
            held = true
        }
        defer {
            if waiting.isEmpty { held = false } else { waiting.removeFirst().resume() }
        }
        return try await body()
    }
}

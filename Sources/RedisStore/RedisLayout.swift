import RedisClient
import SymbolStreamCore

/// The names of a deployment's Redis keys: the only code that builds or
/// parses them. The function library builds the same names from the same
/// prefix (see the layout at the top of `symbolstream.lua`);
/// `LayoutTests` checks that every key an ingest writes parses here.
public struct RedisLayout: Sendable, Hashable {
    /// Every key starts with this, so one Redis can hold several deployments
    /// (or test runs) side by side.
    public var prefix: String

    public init(prefix: String = "ss:") {
        self.prefix = prefix
    }

    /// The keys of a deployment, by what they hold.
    public enum Key: Sendable, Hashable {
        /// All-time statistics, one field per symbol.
        case totals
        /// A rollup bucket's statistics, one field per symbol.
        case rollup(RollupBucket)
        /// A second's fine log.
        case fineLog(second: Int64)
        /// One of the uuid map's 65,536 hashes, by the first 2 bytes of the uuids it holds.
        case uuidMap(UInt16)
        /// The `archived` and `waiting` counters.
        case stats
        /// The durable event log the archiver consumes.
        case eventLog
        /// Log entries the archiver could not write, kept for inspection instead of lost.
        case deadLetters
    }

    /// The consumer group of the event log.
    public static let archiverGroup = "archiver"

    public var stream: String { name(.eventLog) }
    public var deadLetters: String { name(.deadLetters) }
    public var totals: String { name(.totals) }
    public var stats: String { name(.stats) }
    public func bucket(_ bucket: RollupBucket) -> String { name(.rollup(bucket)) }
    public func fineLog(second: Int64) -> String { name(.fineLog(second: second)) }

    /// A key's name as text (every key but the uuid map's, whose last two bytes are binary).
    public func name(_ key: Key) -> String {
        switch key {
        case .totals: prefix + "totals"
        case .rollup(let bucket): prefix + "r:" + Self.letter(bucket.level) + ":" + String(bucket.index)
        case .fineLog(let second): prefix + "e:" + String(second)
        case .uuidMap(let head): String(decoding: bytes(.uuidMap(head)), as: UTF8.self)
        case .stats: prefix + "stats"
        case .eventLog: prefix + "log"
        case .deadLetters: prefix + "deadletter"
        }
    }

    /// A key's name as bytes (binary-safe).
    public func bytes(_ key: Key) -> [UInt8] {
        switch key {
        case .uuidMap(let head): Array((prefix + "u:").utf8) + [UInt8(head >> 8), UInt8(head & 0xff)]
        default: Array(name(key).utf8)
        }
    }

    /// The name's start shared by every key of a rollup level (for writers of
    /// thousands of buckets, which append the index themselves).
    func rollupPrefix(_ level: RollupLevel) -> [UInt8] { Array((prefix + "r:" + Self.letter(level) + ":").utf8) }
    /// The same for fine logs.
    var fineLogPrefix: [UInt8] { Array((prefix + "e:").utf8) }

    /// The uuid map's hash (first 2 bytes of the uuid) and field (the other 14).
    public func uuidSlot(_ id: RequestID) -> (key: RedisArgument, field: RedisArgument) {
        let bytes = id.bytes
        return (RedisArgument(bytes: self.bytes(.uuidMap(Self.uuidMapHash(of: id)))), RedisArgument(bytes: Array(bytes[2...])))
    }

    /// Which of the uuid map's hashes holds `id`.
    static func uuidMapHash(of id: RequestID) -> UInt16 { UInt16(truncatingIfNeeded: id.high >> 48) }

    /// The uuid a field of uuid-map hash `head` stands for; nil unless the field is 14 bytes.
    static func uuid(head: UInt16, field: [UInt8]) -> RequestID? {
        guard field.count == 14 else { return nil }
        return RequestID(bytes: [UInt8(head >> 8), UInt8(head & 0xff)] + field)
    }

    /// What a full key name (prefix included) stands for; nil for a name
    /// outside the prefix or one this layout does not use.
    public func key(named name: [UInt8]) -> Key? {
        let prefix = Array(self.prefix.utf8)
        guard name.count > prefix.count, name.starts(with: prefix) else { return nil }
        let rest = name[prefix.count...]
        if rest.starts(with: Array("u:".utf8)) {
            guard rest.count == 4 else { return nil }
            return .uuidMap(UInt16(rest[rest.startIndex + 2]) << 8 | UInt16(rest[rest.startIndex + 3]))
        }
        let text = String(decoding: rest, as: UTF8.self)
        switch text {
        case "totals": return .totals
        case "stats": return .stats
        case "log": return .eventLog
        case "deadletter": return .deadLetters
        default: break
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        switch (parts.first, parts.count) {
        case ("r", 3):
            guard let level = RollupLevel.allCases.first(where: { Self.letter($0) == parts[1] }), let index = Self.integer(parts[2])
            else { return nil }
            return .rollup(RollupBucket(level: level, index: index))
        case ("e", 2):
            return Self.integer(parts[1]).map { .fineLog(second: $0) }
        default:
            return nil
        }
    }

    /// The level letters of rollup keys, as the function library's `LEVELS` names them.
    static func letter(_ level: RollupLevel) -> String {
        switch level {
        case .second: "s"
        case .minute: "m"
        case .hour: "h"
        case .day: "d"
        }
    }

    /// A decimal integer as Lua's `%d` writes it (so that a name parses back to the same key).
    private static func integer(_ text: Substring) -> Int64? {
        guard let value = Int64(text), String(value) == text else { return nil }
        return value
    }

    /// A glob matching every key of the layout (for `SCAN`).
    var scanPattern: String {
        var result = ""
        for character in prefix {
            if "*?[]\\".contains(character) { result.append("\\") }
            result.append(character)
        }
        return result + "*"
    }
}

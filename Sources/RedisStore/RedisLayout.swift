import RedisClient
import SymbolStreamCore

/// The names of a deployment's Redis keys: the only code that builds or
/// parses them. The function library builds the same names from a shard's
/// prefix (see the layout at the top of `symbolstream.lua`); `LayoutTests`
/// checks that every key an ingest writes parses here.
///
/// Events are sharded by uuid (a followup carries nothing else) over
/// `shardCount` logical shards. Every key of a shard starts with
/// `<prefix>{<shard>}:`: the hash tag puts them all in one Redis Cluster
/// slot, so one function call per shard stays atomic and single-slot. On a
/// single server the tag is plain text: one layout, one code path.
package struct RedisLayout: Sendable, Hashable {
    /// Every key starts with this, so one Redis can hold several deployments
    /// (or test runs) side by side.
    package let prefix: String
    /// How many logical shards events are spread over. It bounds how many
    /// primaries a cluster can spread the load over; changing it means a
    /// `rebuild` (see `docs/scaling.md`).
    package let shardCount: Int

    /// The shard count when none is given. On one server shards buy nothing
    /// (one core runs every call) and cost a function call per shard that an
    /// ingest batch touches: 16 shards ingest at about 0.6× of one on the same
    /// Redis (docs/scaling.md). On a cluster, 16 lets up to 16 primaries share
    /// the load, and a shard is one slot, so a shard moves with `CLUSTER
    /// SETSLOT`/`MIGRATE` rather than with a rebuild.
    package static func defaultShardCount(cluster: Bool) -> Int { cluster ? 16 : 1 }
    package static let maximumShardCount = 1024

    package init(prefix: String = "ss:", shards: Int) {
        precondition((1...Self.maximumShardCount).contains(shards), "shards must be within 1...\(Self.maximumShardCount)")
        self.prefix = prefix
        self.shardCount = shards
    }

    /// The deployment's own record of its layout (the shard count), outside
    /// every shard.
    package var meta: String { prefix + "meta" }

    /// The consumer group of every shard's event log.
    package static let archiverGroup = "archiver"

    package var shards: [Shard] { (0..<shardCount).map(shard) }

    package func shard(_ index: Int) -> Shard {
        precondition((0..<shardCount).contains(index), "no shard \(index) of \(shardCount)")
        return Shard(index: index, prefix: prefix + "{" + String(index) + "}:")
    }

    /// The shard of a request: every event of one uuid goes to one shard
    /// (its uuid-map hash, spread evenly over the shards).
    package func shard(of id: RequestUUID) -> Shard { shard(Int(Self.uuidMapHash(of: id)) % shardCount) }

    /// The keys of the unsharded layout of earlier versions (the same names
    /// under the bare prefix), for moving such a deployment over (`rebuild`).
    package var legacy: Shard { Shard(index: -1, prefix: prefix) }

    /// One shard's keys, all under one hash tag (one slot).
    package struct Shard: Sendable, Hashable {
        /// 0..<shardCount; -1 for the legacy layout.
        package let index: Int
        /// `<prefix>{<index>}:`, what every key of the shard starts with.
        package let prefix: String
        /// The Redis Cluster slot of every key of the shard.
        package let slot: UInt16

        init(index: Int, prefix: String) {
            self.index = index
            self.prefix = prefix
            self.slot = HashSlot.of(key: prefix)
        }

        package var stream: String { name(.eventLog) }
        package var deadLetters: String { name(.deadLetters) }
        package var totals: String { name(.totals) }
        package var stats: String { name(.stats) }
        package func bucket(_ bucket: RollupBucket) -> String { name(.rollup(bucket)) }
        package func fineLog(second: Int64) -> String { name(.fineLog(second: second)) }
        func ranking(_ set: RankingSet) -> String { name(.ranking(set)) }

        /// A key's name as text (every key but the uuid map's, whose last two bytes are binary).
        package func name(_ key: Key) -> String {
            switch key {
            case .totals: prefix + "totals"
            case .rollup(let bucket): prefix + "r:" + RedisLayout.letter(bucket.level) + ":" + String(bucket.index)
            case .fineLog(let second): prefix + "e:" + String(second)
            case .uuidMap(let head): String(decoding: bytes(.uuidMap(head)), as: UTF8.self)
            case .stats: prefix + "stats"
            case .eventLog: prefix + "log"
            case .deadLetters: prefix + "deadletter"
            case .ranking(let set): prefix + "z:" + set.rawValue
            case .idempotency(let bucket, let part): prefix + "k:" + String(bucket) + ":" + String(part)
            }
        }

        /// A key's name as bytes (binary-safe).
        package func bytes(_ key: Key) -> [UInt8] {
            switch key {
            case .uuidMap(let head): Array((prefix + "u:").utf8) + [UInt8(head >> 8), UInt8(head & 0xff)]
            default: Array(name(key).utf8)
            }
        }

        /// The name's start shared by every key of a rollup level (for writers of
        /// thousands of buckets, which append the index themselves).
        func rollupPrefix(_ level: RollupLevel) -> [UInt8] { Array((prefix + "r:" + RedisLayout.letter(level) + ":").utf8) }
        /// The same for fine logs.
        var fineLogPrefix: [UInt8] { Array((prefix + "e:").utf8) }

        /// The uuid map's hash (first 2 bytes of the uuid) and field (the other 14).
        package func uuidSlot(_ id: RequestUUID) -> (key: RedisArgument, field: RedisArgument) {
            let bytes = id.bytes
            return (RedisArgument(bytes: self.bytes(.uuidMap(RedisLayout.uuidMapHash(of: id)))), RedisArgument(bytes: Array(bytes[2...])))
        }

        /// A glob matching every key of the shard (for `SCAN`).
        var scanPattern: String {
            var result = ""
            for character in prefix {
                if "*?[]\\{}".contains(character) { result.append("\\") }
                result.append(character)
            }
            return result + "*"
        }

        /// What a name of this shard stands for; nil if it is not one.
        func key(named name: ArraySlice<UInt8>) -> Key? {
            let prefix = Array(self.prefix.utf8)
            guard name.count > prefix.count, name.starts(with: prefix) else { return nil }
            let rest = name.dropFirst(prefix.count)
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
                guard let level = RollupLevel.allCases.first(where: { RedisLayout.letter($0) == parts[1] }),
                    let index = RedisLayout.integer(parts[2])
                else { return nil }
                return .rollup(RollupBucket(level: level, index: index))
            case ("e", 2):
                return RedisLayout.integer(parts[1]).map { .fineLog(second: $0) }
            case ("z", 2):
                return RankingSet(rawValue: String(parts[1])).map { .ranking($0) }
            case ("k", 3):
                guard let bucket = RedisLayout.integer(parts[1]), let part = RedisLayout.integer(parts[2]), let byte = UInt8(exactly: part) else {
                    return nil
                }
                return .idempotency(bucket: bucket, part: byte)
            default:
                return nil
            }
        }
    }

    /// The keys of one shard, by what they hold.
    package enum Key: Sendable, Hashable {
        /// All-time statistics, one field per symbol.
        case totals
        /// A rollup bucket's statistics, one field per symbol.
        case rollup(RollupBucket)
        /// A second's fine log.
        case fineLog(second: Int64)
        /// One of the uuid map's hashes, by the first 2 bytes of the uuids it
        /// holds (65,536 over all shards).
        case uuidMap(UInt16)
        /// The `archived` and `waiting` counters.
        case stats
        /// The durable event log the archiver consumes.
        case eventLog
        /// Log entries the archiver could not write, kept for inspection instead of lost.
        case deadLetters
        /// A ranking's sorted set (a member per symbol with initials).
        case ranking(RankingSet)
        /// Remembered idempotency keys of followups received in time bucket
        /// `bucket` (receive second ÷ window) whose digest starts with `part`.
        case idempotency(bucket: Int64, part: UInt8)
    }

    /// What a full key name stands for.
    package enum ParsedKey: Sendable, Hashable {
        case shard(Int, Key)
        case meta
        /// A key of the unsharded layout of earlier versions.
        case legacy(Key)
    }

    /// What a full key name (prefix included) stands for; nil for a name
    /// outside the prefix or one this layout does not use.
    package func key(named name: [UInt8]) -> ParsedKey? {
        let base = Array(prefix.utf8)
        guard name.count > base.count, name.starts(with: base) else { return nil }
        if name[base.count...].elementsEqual("meta".utf8) { return .meta }
        if name[base.count] == UInt8(ascii: "{") {
            let rest = name[(base.count + 1)...]
            guard let close = rest.firstIndex(of: UInt8(ascii: "}")), let index = Self.integer(Substring(decoding: rest[..<close], as: UTF8.self)),
                (0..<shardCount).contains(Int(index))
            else { return nil }
            let shard = shard(Int(index))
            return shard.key(named: name[...]).map { .shard(shard.index, $0) }
        }
        return legacy.key(named: name[...]).map { .legacy($0) }
    }

    /// A glob matching every key of the deployment (for `SCAN`).
    var scanPattern: String { legacy.scanPattern }

    /// Which of the uuid map's hashes holds `id` (its first 2 bytes).
    static func uuidMapHash(of id: RequestUUID) -> UInt16 { UInt16(truncatingIfNeeded: id.high >> 48) }

    /// The uuid a field of uuid-map hash `head` stands for; nil unless the field is 14 bytes.
    static func uuid(head: UInt16, field: [UInt8]) -> RequestUUID? {
        guard field.count == 14 else { return nil }
        return RequestUUID(bytes: [UInt8(head >> 8), UInt8(head & 0xff)] + field)
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
    static func integer(_ text: Substring) -> Int64? {
        guard let value = Int64(text), String(value) == text else { return nil }
        return value
    }
}

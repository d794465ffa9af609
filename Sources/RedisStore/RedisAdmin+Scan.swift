import RedisClient
import SymbolStreamCore

/// One key of a deployment's keyspace, read and decoded (for `verify`, which
/// compares every one of them with a recomputation from MariaDB).
package enum StoredKey: Sendable, Hashable {
    /// `totals`: the symbols present, with their all-time statistics.
    case totals([Symbol: BucketStats])
    /// `r:<L>:<n>`: one rollup bucket's symbols.
    case rollup(RollupBucket, [Symbol: BucketStats])
    /// `e:<second>`: that second's fine log.
    case fineLog(second: Int64, [FineLogEntry])
    /// `u:<2 bytes>`: the uuid-map records in one hash.
    case uuidRecords([RequestRecord])
    /// `stats`: the `archived`, `waiting` and `unarchived` counters (nil when absent).
    case stats(archived: Int64?, waiting: Int64?, unarchived: Int64? = nil)
    /// `log`, the event log (its backlog is read separately).
    case eventLog
    /// `deadletter`: log entries the archiver could not decode.
    case deadLetters(count: Int64)
    /// `z:<name>`: a ranking's members and scores.
    case ranking(RankingSet, [Symbol: Int64])
    /// `k:<n>:<part>`: remembered idempotency keys (not in the history, so
    /// not compared); whether the hash has a time to live, as it must.
    case idempotencyKeys(bucket: Int64, part: UInt8, expires: Bool)
    /// A key under the prefix that is none of the above, or one that does not
    /// decode: named, with what is wrong with it.
    case unreadable(key: String, reason: String)
}

extension RedisAdmin {
    /// Writes every shard of `model`, shard after shard (see
    /// `write(_:window:beforeFirstCommand:progress:)`).
    package func write(
        _ model: ShardedModel, chunkBytes: Int = 1 << 20, window: Int = 4,
        progress: @escaping @Sendable (_ done: Int, _ total: Int) -> Void = { _, _ in }
    ) async throws {
        let snapshots = layout.shards.map { RedisSnapshot(model: model.shards[$0.index], shard: $0, of: layout, chunkBytes: chunkBytes) }
        let total = snapshots.reduce(0) { $0 + $1.keyCount }
        var written = 0
        for snapshot in snapshots {
            let before = written
            try await write(snapshot, window: window, progress: { done, _ in progress(before + done, total) })
            written += snapshot.keyCount
        }
    }

    /// Reads every key of `shard`, `batch` keys per `SCAN` step and one
    /// pipeline of reads per step, and hands them over decoded. Cost grows with
    /// the number of keys (buckets, seconds, uuid hashes), not of events.
    /// - Parameter body: called once per step with the keys it read.
    package func scanStoredKeys(of shard: RedisLayout.Shard, batch: Int = 1000, _ body: ([StoredKey]) async throws -> Void) async throws {
        let pattern = RedisArgument(shard.scanPattern)
        let prefix = Array(shard.prefix.utf8)
        var cursor = "0"
        repeat {
            let reply = try await redis.send(
                RedisCommand("SCAN", RedisArgument(cursor), "MATCH", pattern, "COUNT", RedisArgument(batch)), shard: shard)
            guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let keys = parts[1].array else {
                throw RedisStoreClient.unexpected(reply)
            }
            cursor = next
            let names = keys.compactMap(\.bytes).filter { $0.starts(with: prefix) }
            guard !names.isEmpty else { continue }
            let reads = names.map { name in Self.read(name, shard: shard) }
            let replies = try await redis.pipelinesOrThrow([(shard, reads.map(\.command))])[0]
            try await body(zip(reads, replies).map { read, reply in read.decode(reply) })
        } while cursor != "0"
    }

    /// The command that reads one key, and how to decode its reply.
    private struct KeyRead {
        var command: RedisCommand
        var decode: (RESPValue) -> StoredKey
    }

    private static func read(_ name: [UInt8], shard: RedisLayout.Shard) -> KeyRead {
        let key = RedisArgument(bytes: name)
        func unreadable(_ reason: String) -> StoredKey { .unreadable(key: printable(name), reason: reason) }
        func hash(_ reply: RESPValue) -> [([UInt8], [UInt8])]? {
            guard let fields = reply.array, fields.count % 2 == 0 else { return nil }
            var pairs = [([UInt8], [UInt8])]()
            var index = 0
            while index < fields.count {
                guard let field = fields[index].bytes, let value = fields[index + 1].bytes else { return nil }
                pairs.append((field, value))
                index += 2
            }
            return pairs
        }
        func symbolStats(_ reply: RESPValue) -> [Symbol: BucketStats]? {
            guard let pairs = hash(reply) else { return nil }
            var result = [Symbol: BucketStats]()
            for (field, value) in pairs {
                let letter = String(decoding: field, as: UTF8.self)
                guard let symbol = Symbol(parsing: letter), symbol.letter == letter, let stats = StatsRecord.decode(value)
                else { return nil }
                result[symbol] = stats
            }
            return result
        }

        switch shard.key(named: name[...]) {
        case .totals:
            return KeyRead(command: RedisCommand("HGETALL", key)) { reply in
                symbolStats(reply).map { .totals($0) } ?? unreadable("not a hash of symbol stats records: \(reply)")
            }
        case .stats:
            return KeyRead(command: RedisCommand("HGETALL", key)) { reply in
                guard let pairs = hash(reply) else { return unreadable("not a hash: \(reply)") }
                var values = [String: Int64]()
                for (field, value) in pairs {
                    let name = String(decoding: field, as: UTF8.self)
                    guard let number = Int64(String(decoding: value, as: UTF8.self)) else {
                        return unreadable("field \(name) is not a number")
                    }
                    values[name] = number
                }
                return .stats(archived: values["archived"], waiting: values["waiting"], unarchived: values["unarchived"])
            }
        case .eventLog:
            return KeyRead(command: RedisCommand("TYPE", key)) { reply in
                reply.string == "stream" ? .eventLog : unreadable("the event log is a \(reply), not a stream")
            }
        case .deadLetters:
            return KeyRead(command: RedisCommand("XLEN", key)) { reply in
                reply.int.map { .deadLetters(count: $0) } ?? unreadable("not a stream: \(reply)")
            }
        case .rollup(let bucket):
            return KeyRead(command: RedisCommand("HGETALL", key)) { reply in
                symbolStats(reply).map { .rollup(bucket, $0) } ?? unreadable("not a hash of symbol stats records: \(reply)")
            }
        case .fineLog(let second):
            return KeyRead(command: RedisCommand("GET", key)) { reply in
                guard let bytes = reply.bytes, let entries = FineLogFormat.decode(bytes, second: second) else {
                    return unreadable("not a fine log (4-byte entries): \(reply)")
                }
                return .fineLog(second: second, entries)
            }
        case .uuidMap(let head):
            return KeyRead(command: RedisCommand("HGETALL", key)) { reply in
                guard let pairs = hash(reply) else { return unreadable("not a hash: \(reply)") }
                var records = [RequestRecord]()
                records.reserveCapacity(pairs.count)
                for (field, value) in pairs {
                    guard let id = RedisLayout.uuid(head: head, field: field), let record = UUIDRecord.decode(value, id: id) else {
                        return unreadable("field \(printable(field)) is not a uuid record")
                    }
                    records.append(record)
                }
                return .uuidRecords(records)
            }
        case .ranking(let set):
            return KeyRead(command: RedisCommand("ZRANGE", key, "0", "-1", "WITHSCORES")) { reply in
                RedisEventStore.rankingMembers(reply).map { .ranking(set, $0) }
                    ?? unreadable("not a sorted set of letters with whole scores: \(reply)")
            }
        case .idempotency(let bucket, let part):
            return KeyRead(command: RedisCommand("TTL", key)) { reply in
                // -1: no time to live; -2: expired since the scan found it.
                guard let ttl = reply.int else { return unreadable("TTL answered \(reply)") }
                return .idempotencyKeys(bucket: bucket, part: part, expires: ttl != -1)
            }
        case nil:
            return KeyRead(command: RedisCommand("TYPE", key)) { reply in unreadable("unexpected key (a \(reply))") }
        }
    }

    /// A key name for messages: text as is, other bytes as `\xNN`.
    private static func printable(_ bytes: [UInt8]) -> String {
        var text = ""
        for byte in bytes {
            if (0x20..<0x7f).contains(byte) && byte != UInt8(ascii: "\\") {
                text.unicodeScalars.append(UnicodeScalar(byte))
            } else {
                text += "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16)
            }
        }
        return text
    }
}

extension RedisAdmin {
    /// What a ranking's set must score a symbol with these all-time
    /// statistics (nil: not a member), for `verify`.
    package static func rankingScore(_ stats: BucketStats, in set: RankingSet) -> Int64? {
        RankingFormat.score(stats, in: set)
    }
}

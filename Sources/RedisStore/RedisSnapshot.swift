import Dispatch
import NIOCore
import RedisClient
import SymbolStreamCore

/// Every aggregate of an `AggregateModel` as the Redis commands that write it
/// into an empty keyspace, byte for byte what `ss_ingest` builds from the same
/// events: totals, the rankings' sorted sets, rollup buckets, fine logs, the
/// uuid map and the waiting counter (`RedisAdmin.write`). Not the remembered
/// idempotency keys: they are not in the history (a reset keeps them). Encoded straight into RESP, a chunk of
/// about `chunkBytes` at a time, so a writer can send one chunk while the next
/// is encoded.
///
/// The number of commands grows with the number of keys (time buckets, uuid
/// buckets), not of events: a second's bucket is one `HSET`, fine logs go
/// 500 to an `MSET`, and each of the 65,536 uuid-map hashes is one `HSET` of
/// all its fields. Those fields are grouped by hash in one pass over every
/// request (``groupUUIDMap()``, the bulk of the encoding work), which the
/// writer runs on a thread of its own while the rest is written, and hands
/// over when the encoding reaches the uuid map (``needsUUIDMap``).
package struct RedisSnapshot: Sendable {
    private let model: AggregateModel
    private let chunkBytes: Int
    /// Where the snapshot goes.
    package let shard: RedisLayout.Shard
    /// The uuid map's hashes this shard holds (every `shardCount`th).
    private let shardCount: Int
    private let totalsKey: [UInt8]
    private let secondKey: [UInt8]
    private let fineLogKey: [UInt8]
    private let statsKey: [UInt8]
    private static let hsetName = Array("HSET".utf8)
    private static let msetName = Array("MSET".utf8)
    private static let zaddName = Array("ZADD".utf8)
    /// The uuid map's hash fields, by the hash's 2-byte suffix, once grouped.
    private var uuidBuckets: [RedisEncodedArguments]?
    /// Keys the whole snapshot writes (for progress).
    package let keyCount: Int

    private enum Phase {
        case totals, seconds(Int), rollups(level: Int, position: Int), uuids(Int), stats, done
    }

    private var phase = Phase.totals
    private static let levelsAboveSeconds = Array(RollupLevel.allCases.dropFirst())
    static let pairsPerMSET = 500

    /// - Parameters:
    ///   - model: the events of one shard (`RedisLayout.shard(of:)`).
    ///   - shard: where they go.
    package init(model: AggregateModel, shard: RedisLayout.Shard, of layout: RedisLayout, chunkBytes: Int = 1 << 20) {
        self.model = model
        self.chunkBytes = chunkBytes
        self.shard = shard
        self.shardCount = layout.shardCount
        totalsKey = shard.bytes(.totals)
        secondKey = shard.rollupPrefix(.second)
        fineLogKey = shard.fineLogPrefix
        statsKey = shard.bytes(.stats)
        var hashes = [Bool](repeating: false, count: 65_536)
        model.forEachRequest { hashes[Int(RedisLayout.uuidMapHash(of: $0))] = true }
        let hasTotals = model.totals.contains { !$0.isEmpty }
        var keys = (hasTotals ? 1 + RankingSet.allCases.count : 0) + 2 * model.compactFineLogs.count + hashes.filter { $0 }.count + (model.orphans.isEmpty ? 0 : 1)
        for level in Self.levelsAboveSeconds { keys += model.rollups(of: level).count }
        self.keyCount = keys
    }

    /// The uuid map grouped by hash, for ``provideUUIDMap(_:)``: on a
    /// Dispatch thread, as Swift concurrency runs on the NIO event loops
    /// here, which must not stall for seconds.
    package func groupUUIDMap() async -> UUIDMap {
        let (model, shard, shardCount) = (self.model, self.shard.index, self.shardCount)
        return UUIDMap(buckets: await Self.offloaded { Self.groupUUIDMap(model, shard: shard, of: shardCount) })
    }

    /// The uuid map's fields, grouped by hash (see ``groupUUIDMap()``).
    package struct UUIDMap: Sendable {
        fileprivate var buckets: [RedisEncodedArguments]
    }

    /// Whether encoding waits for the uuid map: ``next()`` returns nil until
    /// it is provided.
    package var needsUUIDMap: Bool {
        if case .uuids = phase { uuidBuckets == nil } else { false }
    }

    package mutating func provideUUIDMap(_ map: UUIDMap) {
        uuidBuckets = map.buckets
    }

    /// Every request's uuid-map field and record, by hash.
    private static func groupUUIDMap(_ model: AggregateModel, shard: Int, of shardCount: Int) -> [RedisEncodedArguments] {
        // About 45 bytes of RESP per request (14-byte field, 9-byte record, framing).
        let perBucket = (model.recordCount + model.orphans.count) / (65_536 / shardCount) * 48 + 64
        var buckets = [RedisEncodedArguments](repeating: RedisEncodedArguments(), count: 65_536)
        for index in stride(from: shard, to: buckets.count, by: shardCount) {
            buckets[index] = RedisEncodedArguments(reservingCapacity: perBucket)
        }
        model.forEachRecord { id, record in
            addField(id, to: &buckets, length: UUIDRecord.byteCount(record)) {
                UUIDRecord.write(record, to: &$0)
            }
        }
        for (id, followups) in model.orphans {
            addField(id, to: &buckets, length: UUIDRecord.orphanByteCount(followups)) {
                UUIDRecord.writeOrphan(followups, to: &$0)
            }
        }
        return buckets
    }

    /// Runs CPU-heavy work on a Dispatch thread.
    private static func offloaded<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: work()) }
        }
    }

    private static func addField(
        _ id: RequestUUID, to buckets: inout [RedisEncodedArguments], length: Int, _ write: (inout ByteBuffer) -> Void
    ) {
        let slot = Int(RedisLayout.uuidMapHash(of: id))
        withUnsafeBytes(of: (id.high.bigEndian, id.low.bigEndian)) { bytes in
            buckets[slot].argument(UnsafeRawBufferPointer(rebasing: bytes[2...]))
        }
        buckets[slot].argument(length: length, write)
    }

    /// The next chunk of commands and how many keys they write; nil when
    /// done, or while the uuid map is needed (``needsUUIDMap``).
    mutating func next() -> (commands: RedisEncodedCommands, keys: Int)? {
        var commands = RedisEncodedCommands(reservingCapacity: chunkBytes + 64 * 1024)
        var keys = 0
        while commands.byteCount < chunkBytes {
            switch phase {
            case .totals:
                let present = Symbol.all.map { (symbol: $0, stats: model.totals[$0.index]) }.filter { !$0.stats.isEmpty }
                if !present.isEmpty {
                    hset(totalsKey, present, into: &commands)
                    keys += 1
                    // The rankings: the totals' values, as ss_ingest copies them.
                    for set in RankingSet.allCases {
                        let scored = present.compactMap { entry in RankingFormat.score(entry.stats, in: set).map { (entry.symbol, $0) } }
                        if scored.isEmpty { continue }
                        commands.command(argumentCount: 2 + 2 * scored.count)
                        commands.argument(Self.zaddName)
                        commands.argument(shard.bytes(.ranking(set)))
                        for (symbol, score) in scored {
                            commands.argument([], decimal: score)
                            commands.argument([symbol.asciiByte])
                        }
                        keys += 1
                    }
                }
                phase = .seconds(0)
            case .seconds(let start):
                // A second's bucket (one HSET each) and its fine log (into MSETs).
                let fine = model.compactFineLogs
                let end = min(start + Self.pairsPerMSET, fine.count)
                guard start < end else {
                    phase = .rollups(level: 0, position: 0)
                    continue
                }
                for position in start..<end {
                    let second = fine.keys[position]
                    let stats = AggregateModel.secondStats(second, fine.values[position]).present
                    hset(secondKey, decimal: second, stats, into: &commands)
                }
                commands.command(argumentCount: 1 + 2 * (end - start))
                commands.argument(Self.msetName)
                for position in start..<end {
                    let (second, entries) = (fine.keys[position], fine.values[position])
                    commands.argument(fineLogKey, decimal: second)
                    commands.argument(length: FineLogFormat.entryByteCount * entries.count) { buffer in
                        for compact in entries { FineLogFormat.write(FineLogEntry(second: second, compact: compact)!, to: &buffer) }
                    }
                }
                keys += 2 * (end - start)
                phase = .seconds(end)
            case .rollups(let level, let start):
                guard level < Self.levelsAboveSeconds.count else {
                    phase = .uuids(0)
                    continue
                }
                let rollups = model.rollups(of: Self.levelsAboveSeconds[level])
                let end = min(start + 1000, rollups.count)
                guard start < end else {
                    phase = .rollups(level: level + 1, position: 0)
                    continue
                }
                let key = shard.rollupPrefix(Self.levelsAboveSeconds[level])
                for position in start..<end {
                    hset(key, decimal: rollups.keys[position], rollups.values[position].present, into: &commands)
                }
                keys += end - start
                phase = .rollups(level: level, position: end)
            case .uuids(let slot):
                guard uuidBuckets != nil else {
                    return commands.count > 0 ? (commands, keys) : nil
                }
                guard slot < uuidBuckets!.count else {
                    phase = .stats
                    continue
                }
                if !uuidBuckets![slot].isEmpty {
                    commands.command([Self.hsetName, shard.bytes(.uuidMap(UInt16(slot)))], arguments: uuidBuckets![slot])
                    uuidBuckets![slot] = RedisEncodedArguments()  // sent: free it
                    keys += 1
                }
                phase = .uuids(slot + 1)
            case .stats:
                if !model.orphans.isEmpty {
                    commands.command(argumentCount: 4)
                    commands.argument(Self.hsetName)
                    commands.argument(statsKey)
                    commands.argument(Array("waiting".utf8))
                    commands.argument([], decimal: Int64(model.orphans.count))
                    keys += 1
                }
                phase = .done
            case .done:
                return commands.count > 0 ? (commands, keys) : nil
            }
        }
        return (commands, keys)
    }

    private func hset(
        _ key: [UInt8], decimal index: Int64? = nil, _ stats: [(symbol: Symbol, stats: BucketStats)],
        into commands: inout RedisEncodedCommands
    ) {
        commands.command(argumentCount: 2 + 2 * stats.count)
        commands.argument(Self.hsetName)
        if let index { commands.argument(key, decimal: index) } else { commands.argument(key) }
        for (symbol, stats) in stats {
            commands.argument([symbol.asciiByte])
            commands.argument(length: StatsRecord.byteCount) { StatsRecord.write(stats, to: &$0) }
        }
    }
}

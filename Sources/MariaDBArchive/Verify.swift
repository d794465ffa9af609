import Logging
import MariaDBClient
import RedisStore
import SymbolStreamCore

/// Checks that Redis holds exactly what the raw history implies: recomputes
/// every aggregate from MariaDB with the reference `AggregateModel` (as
/// `rebuild` does) and compares it, key by key, with what Redis holds: the
/// totals, the rankings' sorted sets, every rollup bucket, every fine log,
/// every uuid record, the `waiting`, `archived` and `unarchived` (backlog)
/// counters; and that the history itself is sound (one initial per uuid,
/// followups carrying their initial's symbol). Remembered idempotency keys
/// are not in the history: they are only checked to expire.
///
/// Events still in the log (acknowledged to clients, counted in Redis, not yet
/// in MariaDB) are folded into the recomputation, so it needs no archiver and
/// writes nothing. Run it while no events come in (service stopped or idle):
/// an event ingested during the check shows as a difference.
package struct Verify: Sendable {
    package let redis: RedisStoreClient
    package let database: MariaDBPool
    package let logger: Logger
    /// Differences listed per kind at most; the rest are only counted.
    package var listedPerKind = 20

    package init(redis: RedisStoreClient, database: MariaDBPool, logger: Logger) {
        self.redis = redis
        self.database = database
        self.logger = logger
    }

    package struct Report: Sendable, Hashable {
        /// One readable line per difference (up to `listedPerKind` per kind).
        package var differences: [String] = []
        /// All differences, listed or not.
        package var differenceCount = 0
        /// Rows of `events` read.
        package var rows: Int64 = 0
        /// Events in the log and not yet in MariaDB, folded in.
        package var backlogEvents: Int64 = 0
        /// Redis keys compared.
        package var keys: Int64 = 0

        package var isConsistent: Bool { differenceCount == 0 }
    }

    package func run(progress: @escaping @Sendable (HistoryProgress) -> Void = { _ in }) async throws -> Report {
        var report = Report()
        var listed = [String: Int]()
        func differ(_ kind: String, _ message: @autoclosure () -> String) {
            report.differenceCount += 1
            listed[kind, default: 0] += 1
            if listed[kind]! <= listedPerKind {
                report.differences.append("\(kind): \(message())")
            } else if listed[kind]! == listedPerKind + 1 {
                report.differences.append("\(kind): … (more not listed)")
            }
        }

        // The log first, then MariaDB: an entry archived in between is then
        // seen twice (and counted once), never missed.
        let layout = redis.layout
        let log = RedisEventLog(redis: redis)
        let admin = RedisAdmin(redis: redis)
        if let recorded = try await admin.recordedShardCount(), recorded != layout.shardCount {
            differ("layout", "Redis records \(recorded) shards (\(layout.meta)); verifying as \(layout.shardCount)")
        }
        if try await admin.holdsLegacyLayout() {
            differ("layout", "Redis holds keys of the unsharded layout of an earlier version; `symbolstream rebuild` moves them")
        }
        var extra = [IngestEvent]()
        var logEntries = [Int](repeating: 0, count: layout.shardCount)
        var logEvents = [Int64](repeating: 0, count: layout.shardCount)
        for shard in layout.shards {
            for entry in try await log.backlog(of: shard) {
                logEntries[shard.index] += 1
                switch entry {
                case .events(_, let events):
                    extra += events.map(\.ingestEvent)
                    logEvents[shard.index] += Int64(events.count)
                case .malformed(let id, _): differ("log", "shard \(shard.index): entry \(id) is malformed; the archiver will dead-letter it")
                case .gone: break
                }
            }
        }

        let backlogEvents = extra
        let history = try await database.withConnection { connection in
            let history = try HistoryModel.read(on: connection, layout: layout, merging: backlogEvents) { done, total in
                progress(HistoryProgress(phase: .reading, done: done, total: total))
            }
            let duplicates = try connection.query(
                "SELECT CAST(uuid AS CHAR), COUNT(*) FROM events WHERE kind = 'initial' GROUP BY uuid HAVING COUNT(*) > 1 LIMIT 100")
            let misattributed = try connection.query(
                """
                SELECT CAST(f.uuid AS CHAR), f.received_at, COALESCE(f.symbol, 'NULL'), i.symbol
                FROM events AS f JOIN events AS i ON i.uuid = f.uuid AND i.kind = 'initial'
                WHERE f.kind = 'followup' AND NOT (f.symbol <=> i.symbol) LIMIT 100
                """)
            return (history, duplicates, misattributed)
        }
        let models = history.0.model
        report.rows = history.0.rows
        report.backlogEvents = history.0.extraApplied
        for row in history.1 {
            differ("history", "uuid \(row[0].string ?? "?") has \(row[1].int ?? 0) initial rows in MariaDB (a retry stored as a new event)")
        }
        for row in history.2 {
            differ(
                "history",
                "followup \(row[0].string ?? "?") at \(row[1].string ?? "?") has symbol \(row[2].string ?? "?"), its initial \(row[3].string ?? "?")"
            )
        }

        var expectedKeys: Int64 = 0
        for model in models.shards {
            expectedKeys += 2
            model.forEachRollup { _, _ in expectedKeys += 1 }
            model.forEachFineLog { _, _ in expectedKeys += 1 }
        }
        let differInShard = differ
        for shard in layout.shards {
            // Every key of the shard, against the shard's model; then what the
            // model has that Redis lacks.
            let model = models.shards[shard.index]
            let rows = history.0.rowsByShard[shard.index]
            func differ(_ kind: String, _ message: @autoclosure () -> String) { differInShard(kind, "shard \(shard.index): " + message()) }
            var seenBuckets = Set<RollupBucket>()
            var seenSeconds = Set<Int64>()
            var seenRequests = Set<RequestUUID>()
            var sawTotals = false
            var sawRankings = Set<RankingSet>()
            var sawStats = false
            var deadLetters: Int64 = 0
            try await RedisAdmin(redis: redis).scanStoredKeys(of: shard) { keys in
                for key in keys {
                    report.keys += 1
                    switch key {
                    case .totals(let stored):
                        sawTotals = true
                        for symbol in Symbol.all {
                            let want = model.totals[symbol.index]
                            let got = stored[symbol] ?? BucketStats()
                            if got != want { differ("totals", "symbol \(symbol.letter): Redis \(Self.describe(got)), history \(Self.describe(want))") }
                        }
                    case .rollup(let bucket, let stored):
                        seenBuckets.insert(bucket)
                        let want = model.stats(in: bucket) ?? SymbolStats()
                        for symbol in Symbol.all {
                            let got = stored[symbol] ?? BucketStats()
                            if got != want[symbol.index] {
                                differ(
                                    "rollup", "bucket \(bucket) symbol \(symbol.letter): Redis \(Self.describe(got)), history \(Self.describe(want[symbol.index]))")
                            }
                        }
                    case .fineLog(let second, let entries):
                        seenSeconds.insert(second)
                        // Order inside a second follows arrival at Redis, which
                        // may differ from receive order: compare as multisets.
                        let got = entries.map(\.compact).sorted()
                        let want = model.fineLog(of: second).map(\.compact).sorted()
                        if got != want {
                            differ("fine log", "second \(Timestamp(second: second, offset: 0)): Redis \(got.count) entries, history \(want.count)\(got.count == want.count ? " (different entries)" : "")")
                        }
                    case .uuidRecords(let records):
                        for record in records {
                            seenRequests.insert(record.id)
                            let want = model.request(record.id)
                            if record != want {
                                differ("request", "\(record.id): Redis \(Self.describe(record)), history \(want.map(Self.describe) ?? "none")")
                            }
                        }
                    case .stats(let archived, let waiting, let unarchived):
                        sawStats = true
                        // The backlog count: the events of the log read above.
                        // An archiver running meanwhile can only have lowered it.
                        let backlog = unarchived ?? 0
                        if backlog < 0 || backlog > logEvents[shard.index] || (logEntries[shard.index] == 0 && backlog != 0) {
                            differ("stats", "unarchived is \(backlog) in Redis; the log holds \(logEvents[shard.index]) events of this shard")
                        }
                        if (waiting ?? 0) != Int64(model.orphans.count) {
                            differ("stats", "waiting is \(waiting ?? 0) in Redis; \(model.orphans.count) requests have only followups in the history")
                        }
                        // Every archived event is one row; with a backlog some rows
                        // may be committed and not yet acknowledged, so compare only
                        // when the log is empty.
                        if logEntries[shard.index] == 0, (archived ?? 0) != rows {
                            differ("stats", "archived is \(archived ?? 0) in Redis; MariaDB holds \(rows) events of this shard")
                        }
                    case .ranking(let set, let stored):
                        sawRankings.insert(set)
                        for symbol in Symbol.all {
                            let want = RedisAdmin.rankingScore(model.totals[symbol.index], in: set)
                            if stored[symbol] != want {
                                differ("ranking", "z:\(set.rawValue) symbol \(symbol.letter): Redis \(stored[symbol].map(String.init) ?? "absent"), history \(want.map(String.init) ?? "absent")")
                            }
                        }
                    case .idempotencyKeys(let bucket, let part, let expires):
                        if !expires { differ("idempotency", "k:\(bucket):\(part) has no time to live: it would never be freed") }
                    case .eventLog:
                        break
                    case .deadLetters(let count):
                        deadLetters = count
                    case .unreadable(let key, let reason):
                        differ("key", "\(key): \(reason)")
                    }
                }
                progress(HistoryProgress(phase: .comparing, done: report.keys, total: max(expectedKeys, report.keys)))
            }
            if deadLetters > 0 {
                differ("log", "\(deadLetters) log entries were dead-lettered: their events are not in MariaDB")
            }
            if !sawTotals, model.totals.contains(where: { !$0.isEmpty }) {
                differ("totals", "Redis has no totals; the history has \(rows) events of this shard")
            }
            for set in RankingSet.allCases where !sawRankings.contains(set) && model.totals.contains(where: { $0.count > 0 }) {
                differ("ranking", "Redis has no z:\(set.rawValue); the history ranks \(model.totals.filter { $0.count > 0 }.count) symbols in this shard")
            }
            if !sawStats, !model.orphans.isEmpty || (logEntries[shard.index] == 0 && rows > 0) {
                differ("stats", "Redis has no stats hash (waiting \(model.orphans.count), archived \(rows) expected)")
            }
            model.forEachRollup { bucket, stats in
                if !seenBuckets.contains(bucket) {
                    differ("rollup", "bucket \(bucket) missing in Redis (history: \(stats.present.map { "\($0.symbol.letter) \(Self.describe($0.stats))" }.joined(separator: ", ")))")
                }
            }
            model.forEachFineLog { second, entries in
                if !entries.isEmpty, !seenSeconds.contains(second) {
                    differ("fine log", "second \(Timestamp(second: second, offset: 0)) missing in Redis (history: \(entries.count) entries)")
                }
            }
            for id in model.records.keys where !seenRequests.contains(id) {
                differ("request", "\(id) missing in Redis (history: \(model.request(id).map(Self.describe) ?? ""))")
            }
            for id in model.orphans.keys where !seenRequests.contains(id) {
                differ("request", "\(id) missing in Redis (history: \(model.request(id).map(Self.describe) ?? ""))")
            }
        }
        progress(HistoryProgress(phase: .comparing, done: report.keys, total: report.keys))
        return report
    }

    static func describe(_ stats: BucketStats) -> String {
        "count \(stats.count) followups \(stats.followups) earliest \(stats.earliest.map { "\($0)" } ?? "-") latest \(stats.latest.map { "\($0)" } ?? "-") true \(stats.answeredTrue)/\(stats.followupsAnsweredTrue)"
    }

    static func describe(_ record: RequestRecord) -> String {
        let initial = record.symbol.map { "\($0.letter) \(record.guess == true ? "True" : "False") at \(record.receivedAt.map { "\($0)" } ?? "?")" } ?? "no initial"
        return "\(initial), \(record.followups.count) followups"
    }
}

extension LoggedEvent {
    /// The event as ingested (what the model applies).
    var ingestEvent: IngestEvent {
        if kind == .initial, let symbol {
            return .initial(InitialEvent(id: id, symbol: symbol, guess: guess ?? false, receivedAt: receivedAt))
        }
        return .followup(FollowupEvent(id: id, receivedAt: receivedAt))
    }
}

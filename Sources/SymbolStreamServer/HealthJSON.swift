import SymbolStreamCore

/// The JSON of `/health` and `/pipeline`, built from one report with the
/// same pieces, so the two never disagree.
enum HealthJSON {
    /// `GET /health`: the state of each dependency, the archive path and this
    /// process's counts.
    static func health(report: HealthReport, counters: ServiceCounters.Snapshot, now: Timestamp) -> JSONValue {
        var archive: [(String, JSONValue)] = []
        if let log = report.eventLog {
            archive += [
                ("backlog", .int(log.backlogEvents)),
                ("backlog_log_entries", .int(log.backlog)),
                ("lag_seconds", .double(rounded(log.archiveLag(now: now)))),
                ("oldest_unarchived", JSONValue(log.oldestUnarchived)),
                ("archived_total", .int(log.archived)),
                ("requests_waiting_for_initial", .int(log.waitingRequests)),
            ]
        }
        if let archiver = report.archiver {
            archive += [
                ("batches", .int(archiver.batches)),
                ("events_archived_by_this_process", .int(archiver.events)),
                ("failures", .int(archiver.failures)),
                ("dead_letters", .int(archiver.deadLetters)),
                ("last_error", archiver.lastError.map { .string($0) } ?? .null),
                ("last_batch_at", JSONValue(archiver.lastBatchAt)),
            ]
        } else {
            archive.append(("archiver", .string("not running in this process")))
        }
        return .object([
            ("status", .string(report.status)),
            ("time", .string(now.description)),
            ("redis", dependency(report.redis)),
            ("mariadb", dependency(report.mariadb)),
            ("archive", .object(archive)),
            (
                "requests",
                .object([
                    ("initials_accepted", .int(counters.initials)),
                    ("initial_retries", .int(counters.retries)),
                    ("followups_accepted", .int(counters.followups)),
                    ("followup_replays", .int(counters.followupReplays)),
                    ("unavailable", .int(counters.unavailable)),
                    ("rejected", rejected(counters)),
                ])
            ),
        ])
    }

    /// `GET /pipeline`: the same, with the archiver's counters in full and the
    /// last hour's history.
    static func pipeline(report: HealthReport, counters: ServiceCounters.Snapshot, history: PipelineHistory, now: Timestamp) -> JSONValue {
        let archiver = report.archiver
        let pipeline = report.eventLog
        let archive: [(String, JSONValue)] = [
            ("archiver", .string(archiver == nil ? "not running in this process" : "running")),
            ("archived_total", pipeline.map { .int($0.archived) } ?? .null),
            ("archived_by_this_process", .int(archiver?.events ?? 0)),
            ("batches", .int(archiver?.batches ?? 0)),
            ("failures", .int(archiver?.failures ?? 0)),
            ("retries", .int(archiver?.retries ?? 0)),
            ("interruptions", .int(archiver?.interruptions ?? 0)),
            ("dead_letters", .int(archiver?.deadLetters ?? 0)),
            ("backlog", pipeline.map { .int($0.backlogEvents) } ?? .null),
            ("backlog_log_entries", pipeline.map { .int($0.backlog) } ?? .null),
            ("lag_seconds", pipeline.map { .double(rounded($0.archiveLag(now: now))) } ?? .null),
            ("oldest_unarchived", JSONValue(pipeline?.oldestUnarchived)),
            ("requests_waiting_for_initial", pipeline.map { .int($0.waitingRequests) } ?? .null),
            ("last_error", archiver?.lastError.map { .string($0) } ?? .null),
            ("last_batch_at", JSONValue(archiver?.lastBatchAt)),
        ]
        return .object([
            ("status", .string(report.status)),
            ("time", .string(now.description)),
            ("redis", dependency(report.redis)),
            ("mariadb", dependency(report.mariadb)),
            (
                "events",
                .object([
                    ("accepted", .int(counters.initials + counters.followups)),
                    ("initials", .int(counters.initials)),
                    ("followups", .int(counters.followups)),
                    ("retries", .int(counters.retries)),
                    ("followup_replays", .int(counters.followupReplays)),
                    ("rejected", .int(counters.rejected.values.reduce(0, +))),
                    ("unavailable", .int(counters.unavailable)),
                ])
            ),
            ("rejected", rejected(counters)),
            ("archive", .object(archive)),
            ("history", Self.history(history)),
        ])
    }

    /// Rates per second between consecutive samples, oldest first; gauges as sampled.
    static func history(_ history: PipelineHistory) -> JSONValue {
        let samples = history.samples
        var columns: [(String, [JSONValue])] = [
            ("times", []), ("accepted_per_second", []), ("rejected_per_second", []), ("unavailable_per_second", []),
            ("archived_per_second", []), ("archive_failures_per_second", []), ("backlog", []), ("lag_seconds", []),
        ]
        for (previous, sample) in zip(samples, samples.dropFirst()) {
            let seconds = Double(sample.time.microseconds - previous.time.microseconds) / 1_000_000
            guard seconds > 0 else { continue }
            func rate(_ value: (PipelineSample) -> Int64) -> JSONValue {
                .double(rounded(Double(max(0, value(sample) - value(previous))) / seconds))
            }
            let row: [JSONValue] = [
                .string(sample.time.description),
                rate { $0.initials + $0.followups },
                rate(\.rejected),
                rate(\.unavailable),
                rate(\.archivedEvents),
                rate(\.archiveFailures),
                sample.backlog.map { .int($0) } ?? .null,
                sample.lagSeconds.map { .double(rounded($0)) } ?? .null,
            ]
            for index in columns.indices { columns[index].1.append(row[index]) }
        }
        let interval = history.interval.components
        let intervalSeconds = Double(interval.seconds) + Double(interval.attoseconds) / 1e18
        return .object([("interval_seconds", .double(intervalSeconds))] + columns.map { ($0.0, .array($0.1)) })
    }

    /// `up`, `down`, or `refusing_writes` (reachable, but writes get an
    /// error such as `MISCONF` or `OOM`, which is then the `error`).
    static func dependency(_ state: HealthReport.Dependency) -> JSONValue {
        let status = !state.isUp ? "down" : state.writesRefused == nil ? "up" : "refusing_writes"
        var members: [(String, JSONValue)] = [("status", .string(status))]
        if let latency = state.latencyMilliseconds { members.append(("latency_ms", .double(rounded(latency)))) }
        if let error = state.error ?? state.writesRefused { members.append(("error", .string(error))) }
        return .object(members)
    }

    /// Rejects by reason, every reason listed (zeros included).
    static func rejected(_ counters: ServiceCounters.Snapshot) -> JSONValue {
        .object(RejectReason.allCases.map { ($0.rawValue, JSONValue.int(counters.rejected[$0] ?? 0)) })
    }

    static func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }
}

extension HealthReport {
    /// `ok`; `degraded` when only MariaDB is down (ingest goes on, the archive
    /// waits); `unavailable` when events cannot be taken (Redis down, or
    /// refusing writes).
    var status: String { !acceptsEvents ? "unavailable" : mariadb.isUp ? "ok" : "degraded" }
}

import CoreMetrics
import Dispatch
import MariaDBArchive
import Prometheus
import RedisStore
import Synchronization
import SymbolStreamCore

/// The service's Prometheus metrics (`GET /metrics`), made through
/// swift-metrics with an explicit factory: no global state here. The
/// executable bootstraps `MetricsSystem` with `factory` once, so libraries'
/// own metrics land in the same registry; tests make one `ServiceMetrics`
/// each.
///
/// Two kinds of sources:
/// - requests per route and status, and their latency, recorded by
///   `RequestMetricsMiddleware` as they happen;
/// - everything the service already counts for `/health` (accepted,
///   rejected by reason, unavailable, the archiver's counters, backlog, lag,
///   dependency state) is copied into the registry when it is scraped, so the
///   request path pays nothing twice and `/metrics`, `/pipeline` and `/health`
///   always agree.
package final class ServiceMetrics: Sendable {
    package let registry: PrometheusCollectorRegistry
    package let factory: PrometheusMetricsFactory
    let requests: RequestMetrics
    private let mirrored: Mutex<Mirrored>

    package init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets[RequestMetrics.durationName] = RequestMetrics.durationBuckets
        self.registry = registry
        self.factory = factory
        self.requests = RequestMetrics(factory: factory)
        self.mirrored = Mutex(Mirrored(factory: factory))
    }

    /// Brings the copied values up to date and renders the registry as
    /// Prometheus text (format 0.0.4).
    func scrape(report: HealthReport, counters: ServiceCounters.Snapshot, now: Timestamp) -> [UInt8] {
        mirrored.withLock { $0.update(report: report, counters: counters, now: now) }
        return registry.emitToBuffer()
    }
}

/// Counters and gauges that copy values counted elsewhere.
private struct Mirrored {
    /// A Prometheus counter following a monotonic count kept elsewhere.
    struct Follower {
        let counter: CoreMetrics.Counter
        var last: Int64 = 0

        init(_ label: String, _ dimensions: [(String, String)] = [], factory: any MetricsFactory) {
            counter = CoreMetrics.Counter(label: label, dimensions: dimensions, factory: factory)
        }

        mutating func follow(_ value: Int64) {
            if value > last { counter.increment(by: value - last) }
            last = max(last, value)
        }
    }

    var initials: Follower
    var followups: Follower
    var retries: Follower
    var followupReplays: Follower
    var unavailable: Follower
    var rejected: [RejectReason: Follower]
    var archivedEvents: Follower
    var archiveBatches: Follower
    var archiveFailures: Follower
    var archiveRetries: Follower
    var archiveInterruptions: Follower
    var deadLetters: Follower
    let backlog: CoreMetrics.Gauge
    let backlogEvents: CoreMetrics.Gauge
    let acceptsEvents: CoreMetrics.Gauge
    let lag: CoreMetrics.Gauge
    let archivedTotal: CoreMetrics.Gauge
    let waiting: CoreMetrics.Gauge
    let archiverRunning: CoreMetrics.Gauge
    let up: [String: CoreMetrics.Gauge]
    let latency: [String: CoreMetrics.Gauge]

    init(factory: any MetricsFactory) {
        initials = Follower("symbolstream_events_accepted_total", [("kind", "initial")], factory: factory)
        followups = Follower("symbolstream_events_accepted_total", [("kind", "followup")], factory: factory)
        retries = Follower("symbolstream_initial_retries_total", factory: factory)
        followupReplays = Follower("symbolstream_followup_replays_total", factory: factory)
        unavailable = Follower("symbolstream_requests_unavailable_total", factory: factory)
        rejected = Dictionary(
            uniqueKeysWithValues: RejectReason.allCases.map {
                ($0, Follower("symbolstream_requests_rejected_total", [("reason", $0.rawValue)], factory: factory))
            })
        archivedEvents = Follower("symbolstream_archive_events_total", factory: factory)
        archiveBatches = Follower("symbolstream_archive_batches_total", factory: factory)
        archiveFailures = Follower("symbolstream_archive_failures_total", factory: factory)
        archiveRetries = Follower("symbolstream_archive_retries_total", factory: factory)
        archiveInterruptions = Follower("symbolstream_archive_interruptions_total", factory: factory)
        deadLetters = Follower("symbolstream_archive_dead_letters_total", factory: factory)
        backlog = CoreMetrics.Gauge(label: "symbolstream_archive_backlog_entries", factory: factory)
        backlogEvents = CoreMetrics.Gauge(label: "symbolstream_archive_backlog_events", factory: factory)
        acceptsEvents = CoreMetrics.Gauge(label: "symbolstream_accepting_events", factory: factory)
        lag = CoreMetrics.Gauge(label: "symbolstream_archive_lag_seconds", factory: factory)
        archivedTotal = CoreMetrics.Gauge(label: "symbolstream_archived_events", factory: factory)
        waiting = CoreMetrics.Gauge(label: "symbolstream_requests_waiting_for_initial", factory: factory)
        archiverRunning = CoreMetrics.Gauge(label: "symbolstream_archiver_running", factory: factory)
        let dependencies = ["redis", "mariadb"]
        up = Dictionary(
            uniqueKeysWithValues: dependencies.map { ($0, CoreMetrics.Gauge(label: "symbolstream_dependency_up", dimensions: [("dependency", $0)], factory: factory)) })
        latency = Dictionary(
            uniqueKeysWithValues: dependencies.map {
                ($0, CoreMetrics.Gauge(label: "symbolstream_dependency_latency_seconds", dimensions: [("dependency", $0)], factory: factory))
            })
    }

    mutating func update(report: HealthReport, counters: ServiceCounters.Snapshot, now: Timestamp) {
        initials.follow(counters.initials)
        followups.follow(counters.followups)
        retries.follow(counters.retries)
        followupReplays.follow(counters.followupReplays)
        unavailable.follow(counters.unavailable)
        for reason in RejectReason.allCases { rejected[reason]?.follow(counters.rejected[reason] ?? 0) }
        if let archiver = report.archiver {
            archivedEvents.follow(archiver.events)
            archiveBatches.follow(archiver.batches)
            archiveFailures.follow(archiver.failures)
            archiveRetries.follow(archiver.retries)
            archiveInterruptions.follow(archiver.interruptions)
            deadLetters.follow(archiver.deadLetters)
        }
        archiverRunning.record(report.archiver == nil ? 0 : 1)
        // Gauges keep their last value while Redis cannot be asked; `up` says so.
        if let pipeline = report.eventLog {
            backlog.record(pipeline.backlog)
            backlogEvents.record(pipeline.backlogEvents)
            lag.record(pipeline.archiveLag(now: now))
            archivedTotal.record(pipeline.archived)
            waiting.record(pipeline.waitingRequests)
        }
        // 0 while events cannot be taken: Redis down or refusing writes (`/health` is 503).
        acceptsEvents.record(report.acceptsEvents ? 1 : 0)
        for (name, state) in [("redis", report.redis), ("mariadb", report.mariadb)] {
            up[name]?.record(state.isUp ? 1 : 0)
            if let milliseconds = state.latencyMilliseconds { latency[name]?.record(milliseconds / 1000) }
        }
    }
}

/// Request counts and latency per route and status, resolved once per pair
/// and then reused: a request costs one short locked lookup in a small table, an atomic add and
/// a histogram update, with no label arrays built.
final class RequestMetrics: Sendable {
    static let countName = "symbolstream_http_requests_total"
    static let durationName = "symbolstream_http_request_duration_seconds"
    /// From 100 µs (a dashboard read) to seconds (a dependency timing out).
    static let durationBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500),
    ]
    /// Hummingbird's name for requests no route matched.
    static let unmatchedRoute = "NotFound"

    struct Key: Hashable {
        var route: String
        var status: Int
    }

    final class Entry: Sendable {
        let requests: CoreMetrics.Counter
        let duration: CoreMetrics.Timer

        init(_ key: Key, factory: any MetricsFactory) {
            let route = key.route == RequestMetrics.unmatchedRoute ? "unmatched" : key.route
            let dimensions = [("route", route), ("status", String(key.status))]
            requests = CoreMetrics.Counter(label: RequestMetrics.countName, dimensions: dimensions, factory: factory)
            duration = CoreMetrics.Timer(label: RequestMetrics.durationName, dimensions: dimensions, factory: factory)
        }
    }

    private let factory: PrometheusMetricsFactory
    private let entries = Mutex<[Key: Entry]>([:])

    init(factory: PrometheusMetricsFactory) {
        self.factory = factory
    }

    func record(route: String?, status: Int, nanoseconds: UInt64) {
        let key = Key(route: route ?? Self.unmatchedRoute, status: status)
        let entry = entries.withLock { table in
            if let entry = table[key] { return entry }
            let entry = Entry(key, factory: factory)
            table[key] = entry
            return entry
        }
        entry.requests.increment()
        entry.duration.recordNanoseconds(Int64(clamping: nanoseconds))
    }
}

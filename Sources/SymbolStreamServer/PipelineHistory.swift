import Synchronization
import SymbolStreamCore

/// The pipeline's cumulative counts at one moment: what `PipelineHistory`
/// keeps, so that the dashboard can draw rates over time.
public struct PipelineSample: Sendable, Hashable {
    public var time: Timestamp
    public var initials: Int64 = 0
    public var followups: Int64 = 0
    public var rejected: Int64 = 0
    public var unavailable: Int64 = 0
    /// This process's archiver (zero when it runs none).
    public var archivedEvents: Int64 = 0
    public var archiveFailures: Int64 = 0
    /// Gauges; nil when Redis could not be asked. The backlog in events.
    public var backlog: Int64?
    public var lagSeconds: Double?

    public init(time: Timestamp) {
        self.time = time
    }

    public init(time: Timestamp, counters: ServiceCounters.Snapshot, report: HealthReport) {
        self.time = time
        initials = counters.initials
        followups = counters.followups
        rejected = counters.rejected.values.reduce(0, +)
        unavailable = counters.unavailable
        archivedEvents = report.archiver?.events ?? 0
        archiveFailures = report.archiver?.failures ?? 0
        backlog = report.eventLog?.backlogEvents
        lagSeconds = report.eventLog?.archiveLag(now: time)
    }
}

/// The last `capacity` samples, oldest first, in a ring: the in-process
/// memory behind the page's "success and failure over time" (a restart
/// starts it afresh; Prometheus keeps the long history). Owned by the
/// application and handed to the routes and the sampler.
public final class PipelineHistory: Sendable {
    private struct Ring {
        var samples: [PipelineSample] = []
        var next = 0
    }

    public let capacity: Int
    /// How often the sampler records (for readers: the expected spacing).
    public let interval: Duration
    private let ring = Mutex(Ring())

    /// Enough samples, taken every `interval`, to cover `span`.
    public convenience init(covering span: Duration, every interval: Duration) {
        let count = span / interval
        self.init(capacity: Int(max(2, min(count.rounded(.up), 100_000))), interval: interval)
    }

    public init(capacity: Int = 720, interval: Duration = .seconds(5)) {
        precondition(capacity >= 2, "a history needs at least two samples to show a rate")
        self.capacity = capacity
        self.interval = interval
    }

    public func record(_ sample: PipelineSample) {
        ring.withLock { ring in
            if ring.samples.count < capacity {
                ring.samples.append(sample)
            } else {
                ring.samples[ring.next] = sample
                ring.next = (ring.next + 1) % capacity
            }
        }
    }

    /// Oldest first.
    public var samples: [PipelineSample] {
        ring.withLock { ring in Array(ring.samples[ring.next...] + ring.samples[..<ring.next]) }
    }
}

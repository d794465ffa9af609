import Synchronization
import SymbolStreamCore

/// The pipeline's cumulative counts at one moment: what `PipelineHistory`
/// keeps, so that the dashboard can draw rates over time.
package struct PipelineSample: Sendable, Hashable {
    package var time: Timestamp
    package var initials: Int64 = 0
    package var followups: Int64 = 0
    package var rejected: Int64 = 0
    package var unavailable: Int64 = 0
    /// This process's archiver (zero when it runs none).
    package var archivedEvents: Int64 = 0
    package var archiveFailures: Int64 = 0
    /// Gauges; nil when Redis could not be asked. The backlog in events.
    package var backlog: Int64?
    package var lagSeconds: Double?

    package init(time: Timestamp) {
        self.time = time
    }

    package init(time: Timestamp, counters: ServiceCounters.Snapshot, report: HealthReport) {
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
package final class PipelineHistory: Sendable {
    private struct Ring {
        var samples: [PipelineSample] = []
        var next = 0
    }

    package let capacity: Int
    /// How often the sampler records (for readers: the expected spacing).
    package let interval: Duration
    private let ring = Mutex(Ring())

    /// Enough samples, taken every `interval`, to cover `span`.
    package convenience init(covering span: Duration, every interval: Duration) {
        let count = span / interval
        self.init(capacity: Int(max(2, min(count.rounded(.up), 100_000))), interval: interval)
    }

    package init(capacity: Int = 720, interval: Duration = .seconds(5)) {
        precondition(capacity >= 2, "a history needs at least two samples to show a rate")
        self.capacity = capacity
        self.interval = interval
    }

    package func record(_ sample: PipelineSample) {
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
    package var samples: [PipelineSample] {
        ring.withLock { ring in Array(ring.samples[ring.next...] + ring.samples[..<ring.next]) }
    }
}

import SymbolStreamCore

/// The state of each dependency and of the archive path, for `/health`.
package struct HealthReport: Sendable, Hashable {
    package struct Dependency: Sendable, Hashable {
        package var isUp: Bool
        package var latencyMilliseconds: Double?
        package var error: String?
        /// Reachable, but refusing writes (Redis: `MISCONF`, `OOM`,
        /// `READONLY`…): its refusal. Nil when writes are taken (or it is down).
        package var writesRefused: String?

        package init(isUp: Bool, latencyMilliseconds: Double? = nil, error: String? = nil, writesRefused: String? = nil) {
            self.isUp = isUp
            self.latencyMilliseconds = latencyMilliseconds
            self.error = error
            self.writesRefused = writesRefused
        }

        /// Up and taking writes.
        package var isWritable: Bool { isUp && writesRefused == nil }
    }

    package var redis: Dependency
    package var mariadb: Dependency
    /// Nil when Redis could not be asked.
    package var eventLog: EventLogStatus?
    /// Nil when this process runs no archiver (`serve --no-archiver`).
    package var archiver: ArchiverStatistics?

    package init(redis: Dependency, mariadb: Dependency, eventLog: EventLogStatus?, archiver: ArchiverStatistics?) {
        self.redis = redis
        self.mariadb = mariadb
        self.eventLog = eventLog
        self.archiver = archiver
    }

    /// Whether events can be taken now: Redis up and taking writes (SPEC:
    /// `/health` is `503` otherwise). MariaDB only delays the archive.
    package var acceptsEvents: Bool { redis.isWritable }
}

/// Where `/health` gets its report: live checks in production, a fixed
/// report in route tests.
package protocol HealthProbe: Sendable {
    func report() async -> HealthReport
}

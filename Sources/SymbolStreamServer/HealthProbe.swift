import SymbolStreamCore

/// The state of each dependency and of the archive path, for `/health`.
public struct HealthReport: Sendable, Hashable {
    public struct Dependency: Sendable, Hashable {
        public var isUp: Bool
        public var latencyMilliseconds: Double?
        public var error: String?
        /// Reachable, but refusing writes (Redis: `MISCONF`, `OOM`,
        /// `READONLY`…): its refusal. Nil when writes are taken (or it is down).
        public var writesRefused: String?

        public init(isUp: Bool, latencyMilliseconds: Double? = nil, error: String? = nil, writesRefused: String? = nil) {
            self.isUp = isUp
            self.latencyMilliseconds = latencyMilliseconds
            self.error = error
            self.writesRefused = writesRefused
        }

        /// Up and taking writes.
        public var isWritable: Bool { isUp && writesRefused == nil }
    }

    public var redis: Dependency
    public var mariadb: Dependency
    /// Nil when Redis could not be asked.
    public var eventLog: EventLogStatus?
    /// Nil when this process runs no archiver (`serve --no-archiver`).
    public var archiver: ArchiverStatistics?

    public init(redis: Dependency, mariadb: Dependency, eventLog: EventLogStatus?, archiver: ArchiverStatistics?) {
        self.redis = redis
        self.mariadb = mariadb
        self.eventLog = eventLog
        self.archiver = archiver
    }

    /// Whether events can be taken now: Redis up and taking writes (SPEC:
    /// `/health` is `503` otherwise). MariaDB only delays the archive.
    public var acceptsEvents: Bool { redis.isWritable }
}

/// Where `/health` gets its report: live checks in production, a fixed
/// report in route tests.
public protocol HealthProbe: Sendable {
    func report() async -> HealthReport
}

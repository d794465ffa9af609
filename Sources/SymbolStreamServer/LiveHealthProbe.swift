import MariaDBArchive
import MariaDBClient
import RedisStore
import SymbolStreamCore

/// Asks Redis (through the store) and MariaDB (a ping) on every report, both
/// at once, so `/health` reports the state of now, not of the last error;
/// each check is bounded (`BoundedHealthProbe`), so a hung server makes it
/// report that server down, at once or after a short deadline, never hang.
struct LiveHealthProbe: HealthProbe {
    private let probe: BoundedHealthProbe<ContinuousClock>

    init(log: RedisEventLog, database: MariaDBPool, archiver: Archiver?, deadline: Duration) {
        probe = BoundedHealthProbe(
            deadline: deadline, clock: ContinuousClock(),
            redis: { await Self.checkRedis(log) },
            mariadb: { await Self.checkMariaDB(database) },
            archiver: { archiver?.statistics })
    }

    func report() async -> HealthReport { await probe.report() }

    /// The log's status and whether every shard's server takes writes, in
    /// two pipelines at once.
    static func checkRedis(_ log: RedisEventLog) async -> RedisHealth {
        let start = ContinuousClock.now
        async let writes = log.redis.writeRefusal()
        async let status = log.status()
        do {
            let (refusal, status) = try await (writes, status)
            return RedisHealth(
                dependency: HealthReport.Dependency(isUp: true, latencyMilliseconds: milliseconds(since: start), writesRefused: refusal),
                eventLog: status)
        } catch {
            return RedisHealth(dependency: HealthReport.Dependency(isUp: false, error: "\(error)"), eventLog: nil)
        }
    }

    /// A ping on a pooled connection: on a hung server it holds one of the
    /// pool's threads until the connection's read timeout; the bounded
    /// check sends no other meanwhile.
    static func checkMariaDB(_ database: MariaDBPool) async -> HealthReport.Dependency {
        let start = ContinuousClock.now
        do {
            let alive = try await database.withConnection { $0.ping() }
            return alive
                ? HealthReport.Dependency(isUp: true, latencyMilliseconds: milliseconds(since: start))
                : HealthReport.Dependency(isUp: false, error: "ping failed")
        } catch {
            return HealthReport.Dependency(isUp: false, error: "\(error)")
        }
    }

    static func milliseconds(since start: ContinuousClock.Instant) -> Double {
        milliseconds(ContinuousClock.now - start)
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }
}

/// What the Redis check finds: the server's state and the event log's.
struct RedisHealth: Sendable {
    var dependency: HealthReport.Dependency
    /// Nil when Redis could not be asked.
    var eventLog: EventLogStatus?
}

/// A health report from two dependency checks, each with its own deadline
/// and at most one of each running (`BoundedCheck`): a check that is late
/// reports its dependency down, saying how long it has been waiting. Redis
/// late is `503` (events cannot be taken); MariaDB late is `degraded`.
struct BoundedHealthProbe<C: Clock>: HealthProbe where C.Duration == Duration {
    let redis: BoundedCheck<RedisHealth, C>
    let mariadb: BoundedCheck<HealthReport.Dependency, C>
    let archiver: @Sendable () -> ArchiverStatistics?

    init(
        deadline: Duration, clock: C, redis: @escaping @Sendable () async -> RedisHealth,
        mariadb: @escaping @Sendable () async -> HealthReport.Dependency, archiver: @escaping @Sendable () -> ArchiverStatistics?
    ) {
        self.redis = BoundedCheck(deadline: deadline, clock: clock, check: redis)
        self.mariadb = BoundedCheck(deadline: deadline, clock: clock, check: mariadb)
        self.archiver = archiver
    }

    func report() async -> HealthReport {
        async let redisOutcome = redis.run()
        async let mariadbOutcome = mariadb.run()
        let redisHealth: RedisHealth
        switch await redisOutcome {
        case .answered(let health): redisHealth = health
        case .late(let waiting): redisHealth = RedisHealth(dependency: Self.late(waiting, deadline: redis.deadline), eventLog: nil)
        }
        let mariadbState: HealthReport.Dependency
        switch await mariadbOutcome {
        case .answered(let state): mariadbState = state
        case .late(let waiting): mariadbState = Self.late(waiting, deadline: mariadb.deadline)
        }
        return HealthReport(redis: redisHealth.dependency, mariadb: mariadbState, eventLog: redisHealth.eventLog, archiver: archiver())
    }

    /// A dependency whose check has not answered by its deadline.
    static func late(_ waiting: Duration, deadline: Duration) -> HealthReport.Dependency {
        let seconds = (LiveHealthProbe.milliseconds(waiting) / 100).rounded() / 10
        return HealthReport.Dependency(
            isUp: false, error: "no answer for \(seconds) s (deadline \(deadline)); no other check is sent until this one ends")
    }
}

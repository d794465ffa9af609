import MariaDBArchive
import MariaDBClient
import RedisStore
import SymbolStreamCore

/// Asks Redis (through the store) and MariaDB (a ping) on every call, both at
/// once, so `/health` reports the state of now, not of the last error.
struct LiveHealthProbe: HealthProbe {
    let log: RedisEventLog
    let database: MariaDBPool
    let archiver: Archiver?

    func report() async -> HealthReport {
        async let redis = checkRedis()
        async let mariadb = checkMariaDB()
        let (redisState, eventLog) = await redis
        return HealthReport(redis: redisState, mariadb: await mariadb, eventLog: eventLog, archiver: archiver?.statistics)
    }

    private func checkRedis() async -> (HealthReport.Dependency, EventLogStatus?) {
        let start = ContinuousClock.now
        do {
            let status = try await log.status()
            return (HealthReport.Dependency(isUp: true, latencyMilliseconds: Self.milliseconds(since: start)), status)
        } catch {
            return (HealthReport.Dependency(isUp: false, error: "\(error)"), nil)
        }
    }

    private func checkMariaDB() async -> HealthReport.Dependency {
        let start = ContinuousClock.now
        do {
            let alive = try await database.withConnection { $0.ping() }
            return alive
                ? HealthReport.Dependency(isUp: true, latencyMilliseconds: Self.milliseconds(since: start))
                : HealthReport.Dependency(isUp: false, error: "ping failed")
        } catch {
            return HealthReport.Dependency(isUp: false, error: "\(error)")
        }
    }

    static func milliseconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
    }
}

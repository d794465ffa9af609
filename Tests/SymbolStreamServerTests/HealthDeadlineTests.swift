import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import SymbolStreamCore
import TestSupport
import Testing

@testable import SymbolStreamServer

/// `/health` never hangs on a hung dependency (MariaDB or Redis stopped with
/// SIGSTOP: connections accepted, nothing answered): each check has its own
/// deadline, and a check that hangs is not sent again while it waits. On a
/// manual clock, so the deadlines are checked exactly, however loaded the
/// machine. (Against a real frozen MariaDB: `Tests/fault` `mariadb_freeze`.)
@Suite(.timeLimit(.minutes(1))) struct HealthDeadlineTests {
    static let deadline = Duration.milliseconds(500)

    /// A dependency check that hangs until released, counting its calls.
    final class Check<Value: Sendable>: Sendable {
        private struct State {
            var calls = 0
            var hangs = true
            var waiting: [CheckedContinuation<Value, Never>] = []
        }
        private let state = Mutex(State())
        private let value: Value

        init(_ value: Value) { self.value = value }

        var calls: Int { state.withLock { $0.calls } }

        func run() async -> Value {
            await withCheckedContinuation { continuation in
                let hangs = state.withLock { state in
                    state.calls += 1
                    if state.hangs { state.waiting.append(continuation) }
                    return state.hangs
                }
                if !hangs { continuation.resume(returning: value) }
            }
        }

        /// Answers the hung calls, and every later one at once.
        func release() {
            let waiting = state.withLock { state in
                state.hangs = false
                defer { state.waiting = [] }
                return state.waiting
            }
            waiting.forEach { $0.resume(returning: value) }
        }

        /// Returns once the check has been called `count` times.
        func waitForCalls(_ count: Int) async {
            while calls < count { await Task.yield() }
        }
    }

    static let redisUp = RedisHealth(dependency: .init(isUp: true, latencyMilliseconds: 0.2), eventLog: nil)
    static let mariadbUp = HealthReport.Dependency(isUp: true, latencyMilliseconds: 0.3)

    static func probe(
        clock: ManualClock, redis: Check<RedisHealth>, mariadb: Check<HealthReport.Dependency>
    ) -> BoundedHealthProbe<ManualClock> {
        BoundedHealthProbe(
            deadline: deadline, clock: clock, redis: { await redis.run() }, mariadb: { await mariadb.run() }, archiver: { nil })
    }

    @Test func aHungMariaDBIsDownAfterItsDeadlineAndIsNotAskedAgainWhileItHangs() async throws {
        let clock = ManualClock()
        let redis = Check(Self.redisUp)
        redis.release()
        let mariadb = Check(Self.mariadbUp)
        let probe = Self.probe(clock: clock, redis: redis, mariadb: mariadb)

        let answered = Mutex(false)
        let first = Task {
            let report = await probe.report()
            answered.withLock { $0 = true }
            return report
        }
        await mariadb.waitForCalls(1)
        // Not before the deadline...
        clock.advance(by: Self.deadline - .milliseconds(1))
        for _ in 0..<100 { await Task.yield() }
        #expect(!answered.withLock { $0 })
        // ...and then at once: degraded (200), Redis up, ingest goes on.
        clock.advance(by: .milliseconds(1))
        let report = await first.value
        #expect(!report.mariadb.isUp)
        #expect(report.mariadb.error?.hasPrefix("no answer for 0.5 s") == true)
        #expect(report.redis.isUp && report.acceptsEvents)
        #expect(report.status == "degraded")

        // The check still hangs: later reports answer without waiting, say
        // for how long it has been waiting, and send no second check.
        clock.advance(by: .seconds(10))
        let second = await probe.report()
        #expect(second.mariadb.error?.hasPrefix("no answer for 10.5 s") == true)
        #expect(second.status == "degraded")
        #expect(mariadb.calls == 1)
        #expect(redis.calls == 2)

        // Once it answers, the next report asks again.
        mariadb.release()
        while probe.mariadb.isRunning { await Task.yield() }
        let third = await probe.report()
        #expect(mariadb.calls == 2)
        #expect(third.mariadb.isUp && third.status == "ok")
    }

    @Test func reportsAtTheSameTimeShareOneCheckAndItsDeadline() async throws {
        let clock = ManualClock()
        let redis = Check(Self.redisUp)
        redis.release()
        let mariadb = Check(Self.mariadbUp)
        let probe = Self.probe(clock: clock, redis: redis, mariadb: mariadb)

        let first = Task { await probe.report() }
        await mariadb.waitForCalls(1)
        clock.advance(by: .milliseconds(300))
        let second = Task { await probe.report() }
        await redis.waitForCalls(2)
        // The deadline counts from the start of the shared check: 200 ms more.
        clock.advance(by: .milliseconds(200))
        let reports = [await first.value, await second.value]
        #expect(reports.allSatisfy { !$0.mariadb.isUp && $0.status == "degraded" })
        #expect(mariadb.calls == 1)
        mariadb.release()
    }

    @Test func aHungRedisMakesTheReportUnavailable() async throws {
        let clock = ManualClock()
        let redis = Check(Self.redisUp)
        let mariadb = Check(Self.mariadbUp)
        mariadb.release()
        let probe = Self.probe(clock: clock, redis: redis, mariadb: mariadb)

        let first = Task { await probe.report() }
        await redis.waitForCalls(1)
        clock.advance(by: Self.deadline)
        let report = await first.value
        #expect(!report.redis.isUp && !report.acceptsEvents)
        #expect(report.status == "unavailable")
        #expect(report.eventLog == nil)
        #expect(report.mariadb.isUp)
        redis.release()
    }

    @Test func aCheckThatAnswersInTimeLeavesNoTimerBehind() async throws {
        let clock = ManualClock()
        let redis = Check(Self.redisUp)
        let mariadb = Check(Self.mariadbUp)
        redis.release()
        mariadb.release()
        let probe = Self.probe(clock: clock, redis: redis, mariadb: mariadb)
        let report = await probe.report()
        #expect(report.status == "ok")
        // Each timer is cancelled when its check answers.
        var rounds = 0
        while clock.sleeperCount > 0, rounds < 10_000 {
            await Task.yield()
            rounds += 1
        }
        #expect(clock.sleeperCount == 0)
    }

    // MARK: The route

    struct FixedHealth: HealthProbe {
        var report: HealthReport
        func report() async -> HealthReport { report }
    }

    static func health(_ report: HealthReport) async throws -> (status: HTTPResponse.Status, body: String) {
        let dependencies = RouteDependencies(
            store: InMemoryEventStore(), health: FixedHealth(report: report), guesser: Guesser(model: GuessModel(), seed: 1),
            logger: Logger(label: "test"))
        let answer = Mutex<(HTTPResponse.Status, String)>((.ok, ""))
        try await Application(router: buildRouter(dependencies)).test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                answer.withLock { $0 = (response.status, String(buffer: response.body)) }
            }
        }
        return answer.withLock { $0 }
    }

    /// SPEC: 503 whenever events cannot be taken, Redis refusing writes included.
    @Test func aRedisRefusingWritesIsUnavailable() async throws {
        let oom = "OOM command not allowed when used memory > 'maxmemory'."
        let refusing = HealthReport(
            redis: .init(isUp: true, latencyMilliseconds: 0.2, writesRefused: oom), mariadb: .init(isUp: true), eventLog: nil,
            archiver: nil)
        let (status, body) = try await Self.health(refusing)
        #expect(status == .serviceUnavailable)
        #expect(body.contains(#""status":"unavailable""#))
        #expect(body.contains(#""redis":{"status":"refusing_writes","latency_ms":0.2,"error":"OOM command not allowed"#))

        let late = HealthReport(
            redis: .init(isUp: true), mariadb: BoundedHealthProbe<ManualClock>.late(.seconds(3), deadline: Self.deadline), eventLog: nil,
            archiver: nil)
        let (lateStatus, lateBody) = try await Self.health(late)
        #expect(lateStatus == .ok)
        #expect(lateBody.contains(#""status":"degraded""#))
        #expect(lateBody.contains(#""mariadb":{"status":"down","error":"no answer for 3.0 s"#))
    }
}

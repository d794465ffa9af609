import NIOConcurrencyHelpers
import Testing

@testable import RedisClient

@Suite("Cluster map refresh schedule: coalesced requests, waiters")
struct ClusterRefreshScheduleTests {
    @Test(.timeLimit(.minutes(1)))
    func requestsWhileTheLoopIsBusyMakeOneMoreRead() async {
        let schedule = ClusterRefreshSchedule()
        schedule.open()
        let first = schedule.attemptStarting()
        // A thousand requests during an attempt: one flag.
        for _ in 0..<1000 { schedule.request() }
        schedule.attemptFinished(first)
        // The loop's next wait returns at once, and the one after it waits for its timer.
        await schedule.waitForRequest(timeout: .seconds(600))
        _ = schedule.attemptStarting()
        let start = ContinuousClock.now
        await schedule.waitForRequest(timeout: .milliseconds(50))
        #expect(ContinuousClock.now - start >= .milliseconds(50))
    }

    @Test(.timeLimit(.minutes(1)))
    func aRequestWakesTheWaitingLoop() async {
        let schedule = ClusterRefreshSchedule()
        schedule.open()
        async let woken: Void = schedule.waitForRequest(timeout: .seconds(600))
        try? await Task.sleep(for: .milliseconds(20))
        schedule.request()
        await woken
    }

    @Test(.timeLimit(.minutes(1)))
    func waitersWaitForAnAttemptThatStartsAfterThem() async throws {
        let schedule = ClusterRefreshSchedule()
        schedule.open()
        let running = schedule.attemptStarting()  // under way before the waiter asks
        let resumed = NIOLockedValueBox(false)
        let waiter = Task {
            await schedule.waitForRefresh()
            resumed.withLockedValue { $0 = true }
        }
        try await Task.sleep(for: .milliseconds(50))
        schedule.attemptFinished(running)
        try await Task.sleep(for: .milliseconds(50))
        #expect(!resumed.withLockedValue { $0 }, "an attempt that predates the wait does not count")
        let next = schedule.attemptStarting()
        schedule.attemptFinished(next)
        await waiter.value
        #expect(resumed.withLockedValue { $0 })
    }

    @Test(.timeLimit(.minutes(1)))
    func closingOrCancellingEndsEveryWait() async {
        let schedule = ClusterRefreshSchedule()
        schedule.open()
        let waiter = Task { await schedule.waitForRefresh() }
        let cancelled = Task { await schedule.waitForRefresh() }
        try? await Task.sleep(for: .milliseconds(20))
        cancelled.cancel()
        await cancelled.value
        schedule.close()
        await waiter.value
        // Closed: no more waiting at all.
        await schedule.waitForRefresh()
        await schedule.waitForRequest(timeout: .seconds(600))
    }
}

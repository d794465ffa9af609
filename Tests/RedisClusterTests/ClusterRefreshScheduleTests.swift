import Testing

@testable import RedisClient

@Suite("Cluster map refresh schedule: coalesced requests")
struct ClusterRefreshScheduleTests {
    @Test(.timeLimit(.minutes(1)))
    func requestsWhileTheLoopIsBusyMakeOneMoreRead() async {
        let schedule = ClusterRefreshSchedule()
        schedule.open()
        schedule.readStarting()
        // A thousand requests during a read: one flag.
        for _ in 0..<1000 { schedule.request() }
        // The loop's next wait returns at once, and the one after it waits for its timer.
        await schedule.waitForRequest(timeout: .seconds(600))
        schedule.readStarting()
        let start = ContinuousClock.now
        await schedule.waitForRequest(timeout: .milliseconds(50))
        #expect(ContinuousClock.now - start >= .milliseconds(50))
    }

    @Test(.timeLimit(.minutes(1)))
    func aReadAnswersTheRequestsBeforeIt() async {
        let schedule = ClusterRefreshSchedule()
        schedule.open()
        schedule.request()
        schedule.readStarting()
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
    func cancellingOrClosingEndsTheWait() async {
        let schedule = ClusterRefreshSchedule()
        schedule.open()
        let cancelled = Task { await schedule.waitForRequest(timeout: .seconds(600)) }
        try? await Task.sleep(for: .milliseconds(20))
        cancelled.cancel()
        await cancelled.value
        let closed = Task { await schedule.waitForRequest(timeout: .seconds(600)) }
        try? await Task.sleep(for: .milliseconds(20))
        schedule.close()
        await closed.value
        // Closed: no more waiting at all.
        await schedule.waitForRequest(timeout: .seconds(600))
    }
}

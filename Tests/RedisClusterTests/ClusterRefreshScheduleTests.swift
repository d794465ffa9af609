import TestSupport
import Testing

@testable import RedisClient

@Suite("Cluster map refresh schedule: coalesced requests")
struct ClusterRefreshScheduleTests {
    @Test(.timeLimit(.minutes(1)))
    func requestsWhileTheLoopIsBusyMakeOneMoreRead() async {
        let clock = ManualClock()
        let schedule = ClusterRefreshSchedule(clock: clock)
        schedule.open()
        schedule.readStarting()
        // A thousand requests during a read: one flag.
        for _ in 0..<1000 { schedule.request() }
        // The loop's next wait returns at once, without its timer…
        await schedule.waitForRequest(timeout: .seconds(600))
        #expect(clock.sleeps.isEmpty)
        // …and the one after it waits for its timer.
        schedule.readStarting()
        async let waited: Void = schedule.waitForRequest(timeout: .milliseconds(50))
        await clock.waitForSleepers(1)
        #expect(clock.sleeps == [.milliseconds(50)])
        clock.advance(by: .milliseconds(50))
        await waited
    }

    @Test(.timeLimit(.minutes(1)))
    func aReadAnswersTheRequestsBeforeIt() async {
        let clock = ManualClock()
        let schedule = ClusterRefreshSchedule(clock: clock)
        schedule.open()
        schedule.request()
        schedule.readStarting()
        // The request was answered by the read: the wait is for the timer.
        async let waited: Void = schedule.waitForRequest(timeout: .milliseconds(50))
        await clock.waitForSleepers(1)
        #expect(clock.sleeps == [.milliseconds(50)])
        clock.advance(by: .milliseconds(50))
        await waited
    }

    @Test(.timeLimit(.minutes(1)))
    func aRequestWakesTheWaitingLoop() async {
        let clock = ManualClock()
        let schedule = ClusterRefreshSchedule(clock: clock)
        schedule.open()
        async let woken: Void = schedule.waitForRequest(timeout: .seconds(600))
        await clock.waitForSleepers(1)  // the loop is waiting
        schedule.request()
        await woken
    }

    @Test(.timeLimit(.minutes(1)))
    func cancellingOrClosingEndsTheWait() async {
        let clock = ManualClock()
        let schedule = ClusterRefreshSchedule(clock: clock)
        schedule.open()
        let cancelled = Task { await schedule.waitForRequest(timeout: .seconds(600)) }
        await clock.waitForSleepers(1)  // the loop is waiting
        cancelled.cancel()
        await cancelled.value
        let closed = Task { await schedule.waitForRequest(timeout: .seconds(600)) }
        await clock.waitForSleepers(1)  // the loop is waiting
        schedule.close()
        await closed.value
        // Closed: no more waiting at all.
        await schedule.waitForRequest(timeout: .seconds(600))
    }
}

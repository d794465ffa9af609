import NIOCore
import Testing

@testable import RedisClient

/// The command handler's bookkeeping on its own: strings stand for the
/// tasks waiting, and every decision is an action to compare.
@Suite struct RedisCommandStateMachineTests {
    typealias Machine = RedisCommandStateMachine<String, String>
    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func repliesGoToTheirCommandsInOrder() {
        var machine = Machine()
        machine.written(.single("a"), deadline: Self.start)
        machine.written(.pipeline("b", replies: 2), deadline: Self.start)
        machine.written(.single("c"), deadline: Self.start)
        #expect(machine.inFlightCount == 3)
        #expect(machine.replyReceived(.integer(1)) == .succeed("a", .integer(1), thenClose: false))
        #expect(machine.replyReceived(.simpleString("OK")) == .wait)
        // An error reply inside a pipeline stays in place.
        #expect(machine.replyReceived(.error("ERR x")) == .succeedPipeline("b", [.simpleString("OK"), .error("ERR x")], thenClose: false))
        // A single command's error reply fails it.
        #expect(machine.replyReceived(.error("NOSCRIPT y")) == .fail("c", .server("NOSCRIPT y"), thenClose: false))
        #expect(machine.inFlightCount == 0)
        #expect(machine.acceptsCommands)
    }

    @Test func aReplyWithoutACommandClosesTheConnection() {
        var machine = Machine()
        let failure = RedisClientError.protocolError("reply without a command in flight: \(RESPValue.integer(7))")
        #expect(machine.replyReceived(.integer(7)) == .close(failure))
        #expect(!machine.acceptsCommands)
        #expect(machine.channelClosed().error == failure)
    }

    @Test func onlyTheOldestCommandIsCheckedForItsDeadline() {
        var machine = Machine()
        #expect(machine.checkTimeout(now: Self.start + .hours(1)) == .scheduleNextCheck)
        machine.written(.single("slow"), deadline: Self.start + .milliseconds(750))
        machine.written(.single("quick"), deadline: Self.start + .milliseconds(100))
        // The second is past its deadline, but waits behind the first by design.
        #expect(machine.checkTimeout(now: Self.start + .milliseconds(500)) == .scheduleNextCheck)
        #expect(machine.checkTimeout(now: Self.start + .milliseconds(750)) == .scheduleNextCheck)
        #expect(machine.checkTimeout(now: Self.start + .milliseconds(751)) == .close(inFlight: 2))
        #expect(!machine.acceptsCommands)
        let closed = machine.channelClosed()
        #expect(closed.error == .timeout)
        #expect(closed.waiters == [.single("slow"), .single("quick")])
    }

    @Test func aGracefulCloseWaitsForTheLastReply() {
        var machine = Machine()
        machine.written(.single("a"), deadline: Self.start)
        machine.written(.pipeline("b", replies: 1), deadline: Self.start)
        #expect(machine.closeGracefully() == false)
        #expect(!machine.acceptsCommands)
        #expect(machine.replyReceived(.null) == .succeed("a", .null, thenClose: false))
        #expect(machine.replyReceived(.null) == .succeedPipeline("b", [.null], thenClose: true))
        // Closed without a failure: nothing was cut off.
        #expect(machine.channelClosed().error == .connectionClosed)

        var idle = Machine()
        #expect(idle.closeGracefully() == true)
    }

    @Test func theFirstFailureIsTheOneCommandsInFlightGet() {
        var machine = Machine()
        machine.written(.pipeline("p", replies: 3), deadline: Self.start)
        #expect(machine.replyReceived(.integer(1)) == .wait)
        machine.fail(.protocolError("bad bytes"))
        machine.fail(.connectionClosed)
        #expect(machine.checkTimeout(now: Self.start + .seconds(1)) == .close(inFlight: 1))
        let closed = machine.channelClosed()
        #expect(closed.error == .protocolError("bad bytes"))
        #expect(closed.waiters == [.pipeline("p", replies: 3)])
        // Closing again (handler removal after channelInactive) finds nobody.
        #expect(machine.channelClosed().waiters.isEmpty)
    }

    @Test func aConnectionThatClosesByItselfFailsItsCommandsAsClosed() {
        var machine = Machine()
        machine.written(.single("a"), deadline: Self.start)
        let closed = machine.channelClosed()
        #expect(closed.error == .connectionClosed)
        #expect(closed.waiters == [.single("a")])
        #expect(!machine.acceptsCommands)
    }
}

import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RedisClient
import Testing

/// Runs a task's jobs on one event loop, as a handler runs on its
/// connection's loop in the service (where NIO is the global executor).
private final class EventLoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop

    init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

@Suite("RedisClient sends on the caller's event loop", .enabled(if: TestRedis.isAvailable), .timeLimit(.minutes(5)))
struct LoopAffinityTests {
    @Test func aCommandFromAnEventLoopGoesOutOnThatLoopsConnection() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let loops = Array(group.makeIterator())
        try await TestRedis.withConfiguration { configuration in
            // Which Redis client id each loop's connection has.
            let idByLoop = NIOLockedValueBox([Int: Int64]())
            let client = RedisClient(configuration: configuration, eventLoopGroup: group, logger: TestRedis.logger) { connection in
                let id = try await connection.send(RedisCommand("CLIENT", "ID")).int
                let loop = loops.firstIndex { $0 === connection.eventLoop }
                idByLoop.withLockedValue { $0[loop ?? -1] = id }
            }
            #expect(client.laneCount == 2)
            try await TestRedis.withRunningClient(client) {
                try await client.waitUntilConnected()
                while client.liveConnectionCount < 2 { try await Task.sleep(for: .milliseconds(10)) }
                let ids = idByLoop.withLockedValue { $0 }
                #expect(Set(ids.keys) == [0, 1])
                for (index, loop) in loops.enumerated() {
                    let (lane, seen) = try await withTaskExecutorPreference(EventLoopTaskExecutor(loop)) {
                        var seen = Set<Int64>()
                        for _ in 0..<20 { seen.insert(try await client.send(RedisCommand("CLIENT", "ID")).int ?? -1) }
                        return (client.currentLane, seen)
                    }
                    #expect(lane == index)
                    #expect(seen == [ids[index]!], "loop \(index) used connections \(seen), its own is \(ids[index]!)")
                }
                // Off the loops, commands go round-robin over both.
                var seen = Set<Int64>()
                for _ in 0..<20 { seen.insert(try await client.send(RedisCommand("CLIENT", "ID")).int ?? -1) }
                #expect(seen == Set(ids.values))
            }
        }
        try await group.shutdownGracefully()
    }
}

/// Which lane (`RedisClient.currentLane`, the queue `RequestBatcher` puts a
/// caller in) a caller gets, on the pool's loops and off them. In `serve`
/// NIO is Swift's global executor, so handlers run on the loops; tests and
/// anything else run on the cooperative pool, where lanes go in turn.
@Suite struct LaneTests {
    @Test func onALoopTheLoopsLaneOffTheLoopsEveryLaneInTurn() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let loops = Array(group.makeIterator())
        let client = RedisClient(configuration: RedisConfiguration(), eventLoopGroup: group, logger: TestRedis.logger)
        #expect(client.laneCount == 2)

        // Off the loops (this test runs on Swift's default executor).
        let offLoop = (0..<6).map { _ in client.currentLane }
        #expect(Set(offLoop) == [0, 1])
        #expect(zip(offLoop, offLoop.dropFirst()).allSatisfy { $0 != $1 }, "\(offLoop)")

        for (index, loop) in loops.enumerated() {
            // On the loop's own thread, as a channel handler is.
            let onLoop = try await loop.submit { (0..<4).map { _ in client.currentLane } }.get()
            #expect(onLoop == [index, index, index, index])
            // A task whose jobs run on the loop, as every task does when NIO is
            // the global executor.
            let inTask = await withTaskExecutorPreference(EventLoopTaskExecutor(loop)) { client.currentLane }
            #expect(inTask == index)
        }
        try await group.shutdownGracefully()
    }

    @Test func oneConnectionOrOneLoopIsOneLane() async throws {
        var configuration = RedisConfiguration()
        configuration.connectionCount = 1
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let client = RedisClient(configuration: configuration, eventLoopGroup: group, logger: TestRedis.logger)
        #expect(client.laneCount == 1)
        #expect((0..<4).map { _ in client.currentLane } == [0, 0, 0, 0])
        let onLoop = try await group.next().submit { client.currentLane }.get()
        #expect(onLoop == 0)
        try await group.shutdownGracefully()
    }
}

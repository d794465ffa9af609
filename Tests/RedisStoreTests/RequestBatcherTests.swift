import NIOConcurrencyHelpers
import Testing

@testable import RedisStore

/// The lane a test task pretends to run on.
private enum TestLane {
    @TaskLocal static var current = 0
}

@Suite struct RequestBatcherTests {
    @Test func lanesBatchApartAndEveryRequestGetsItsOwnReply() async throws {
        // Each call records the lane it was sent from and its requests; it is
        // held until enough requests are queued behind it to form batches.
        let calls = NIOLockedValueBox([(lane: Int, requests: [Int])]())
        let batcher = RequestBatcher<Int, Int>(lanes: 2, currentLane: { TestLane.current }, maximumSenders: 1, maximumBatch: 8) {
            requests in
            calls.withLockedValue { $0.append((TestLane.current, requests)) }
            try await Task.sleep(for: .milliseconds(5))
            return requests.map { $0 * 10 }
        }
        let replies = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for request in 0..<200 {
                group.addTask {
                    try await TestLane.$current.withValue(request % 2) { (request, try await batcher.submit(request)) }
                }
            }
            return try await group.reduce(into: [Int: Int]()) { $0[$1.0] = $1.1 }
        }
        #expect(replies == Dictionary(uniqueKeysWithValues: (0..<200).map { ($0, $0 * 10) }))

        let sent = calls.withLockedValue { $0 }
        #expect(sent.flatMap(\.requests).sorted() == Array(0..<200), "each request sent exactly once")
        for call in sent {
            #expect(call.requests.count <= 8)
            // A lane's batch holds only its own callers' requests.
            #expect(call.requests.allSatisfy { $0 % 2 == call.lane }, "lane \(call.lane) sent \(call.requests)")
        }
        #expect(sent.count < 200, "concurrent requests shared calls")
    }

    @Test func aLaneOutOfRangeFallsBackToAValidOne() async throws {
        let batcher = RequestBatcher<Int, Int>(lanes: 2, currentLane: { 7 }, maximumSenders: 1, maximumBatch: 4) { $0.map { -$0 } }
        #expect(try await batcher.submit(3) == -3)
    }
}

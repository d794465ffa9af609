/// One primary of a cluster as the cluster client uses it: its address and a
/// ``RedisClient`` pool of connections to it, which keeps itself connected
/// while `run()` runs, until `stop()` (the node is no longer a primary in the
/// map) or cancellation (the cluster client stops).
final class ClusterNode: Sendable {
    let address: RedisNodeAddress
    let client: RedisClient
    private let stopSignal: AsyncStream<Void>
    private let stopContinuation: AsyncStream<Void>.Continuation

    init(address: RedisNodeAddress, client: RedisClient) {
        self.address = address
        self.client = client
        (self.stopSignal, self.stopContinuation) = AsyncStream.makeStream(of: Void.self)
    }

    /// Runs the pool until `stop()` or cancellation; the pool then closes its
    /// connections, letting the commands in flight finish.
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await self.client.run() }
            group.addTask {
                // Ends when `stop()` finishes the stream, or on cancellation.
                for await _ in self.stopSignal {}
            }
            _ = await group.next()
            group.cancelAll()
        }
    }

    /// Ends `run()`; harmless when it never ran.
    func stop() {
        self.stopContinuation.finish()
    }
}

import RedisClient
import SymbolStreamCore

extension RedisEventLog {
    /// Every entry still in the log (logged, not yet archived and trimmed), in
    /// log order, read `page` entries at a time with `XRANGE`. Reading does not
    /// deliver them to the consumer group: the archiver is not disturbed.
    public func backlog(page: Int = 500) async throws -> [Entry] {
        let store = RedisEventStore(client: client, layout: layout)
        var entries = [Entry]()
        var start = "-"
        while true {
            let reply = try await store.call(
                RedisCommand("XRANGE", RedisArgument(layout.stream), RedisArgument(start), "+", "COUNT", RedisArgument(page)))
            guard let items = reply.array else { throw RedisEventStore.unexpected(reply) }
            let batch = try items.map(Self.entry)
            entries += batch
            guard batch.count == page, let last = batch.last else { return entries }
            start = "(" + last.streamID
        }
    }
}

import RedisClient
import SymbolStreamCore

extension RedisEventStore {
    /// One pipeline of `HGETALL`, one per bucket of the span: the cost is the
    /// number of buckets, never the number of events.
    public func series(_ span: BucketSpan) async throws -> [SymbolStats] {
        guard span.count > 0 else { return [] }
        let commands = span.buckets.map { RedisCommand("HGETALL", RedisArgument(layout.bucket($0))) }
        let replies = try await Self.pipelineOnce(commands, client: client)
        guard replies.count == span.count else { throw Self.unexpected(.null) }
        return try replies.map(Self.symbolStats)
    }

    /// A bucket hash (`HGETALL` reply: symbol → packed statistics); empty when
    /// the bucket has no events.
    static func symbolStats(_ reply: RESPValue) throws -> SymbolStats {
        guard let fields = reply.array, fields.count % 2 == 0 else { throw unexpected(reply) }
        var stats = SymbolStats()
        var index = 0
        while index < fields.count {
            guard let name = fields[index].string, let symbol = Symbol(parsing: name), let value = fields[index + 1].bytes,
                let decoded = RecordCodec.stats(value)
            else { throw unexpected(reply) }
            stats[symbol.index] = decoded
            index += 2
        }
        return stats
    }
}

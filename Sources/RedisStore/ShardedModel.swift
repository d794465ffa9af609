import SymbolStreamCore

/// The reference model split the way the store splits events: one
/// `AggregateModel` per shard, each applying the events of its own shard.
/// What each shard's keys must hold (`rebuild` writes it, `verify` compares
/// with it); the store's answers merge the shards' as these do.
package struct ShardedModel: Sendable {
    package let layout: RedisLayout
    /// By shard index.
    package private(set) var shards: [AggregateModel]

    package init(layout: RedisLayout, expectedRequests: Int = 0, idempotencyWindow: Int64 = IdempotencyKey.defaultWindowSeconds) {
        self.layout = layout
        self.shards = Array(
            repeating: AggregateModel(expectedRequests: expectedRequests / layout.shardCount, idempotencyWindow: idempotencyWindow),
            count: layout.shardCount)
    }

    @discardableResult
    package mutating func apply(_ event: IngestEvent) -> IngestOutcome {
        shards[layout.shard(of: event.id).index].apply(event)
    }

    package func request(_ id: RequestUUID) -> RequestRecord? {
        shards[layout.shard(of: id).index].request(id)
    }

    /// All-time statistics over every shard, by symbol index.
    package var totals: [BucketStats] {
        var totals = Array(repeating: BucketStats(), count: Symbol.all.count)
        for shard in shards {
            for index in totals.indices { totals[index].merge(shard.totals[index]) }
        }
        return totals
    }

    /// The rankings over every shard, merged as the store merges the shards' sorted sets.
    package var rankings: Rankings {
        var rankings = Rankings()
        for shard in shards { rankings.merge(shard.rankings) }
        return rankings
    }

    /// Requests whose followups wait for their initial, over every shard.
    package var orphanCount: Int { shards.reduce(0) { $0 + $1.orphans.count } }
}

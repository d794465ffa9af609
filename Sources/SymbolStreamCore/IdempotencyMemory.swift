/// The idempotency keys of counted followups, remembered for a window: the
/// reference semantics of what `ss_ingest` keeps in a shard's `k:` hashes.
///
/// Time is cut into buckets of `window` seconds (by the followup's receive
/// time); a key is remembered in its followup's bucket, and a followup finds
/// a key in its own bucket, the one before or the one after (the one after
/// covers fronts whose clocks differ a little). So a key is remembered for at
/// least `window` seconds after its followup and for less than `2 × window`:
/// a retry within the window never counts twice, a retry after twice the
/// window counts again, and in between it depends on where the bucket edges
/// fall. A bucket nobody can look into any more (two behind the newest) is
/// dropped whole, as Redis expires it.
package struct IdempotencyMemory: Sendable, Hashable {
    /// Seconds, at least 1.
    package let window: Int64
    private var buckets: [Int64: Set<Remembered>] = [:]
    private var newest = Int64.min

    struct Remembered: Sendable, Hashable {
        var id: RequestUUID
        var key: IdempotencyKey
    }

    package init(window: Int64) {
        precondition(window >= 1, "the idempotency window is at least a second")
        self.window = window
    }

    /// The bucket of a receive time.
    package func bucket(of time: Timestamp) -> Int64 { time.second.floorDivided(by: window) }

    /// Whether `key` was already remembered for `id` around `time`; if not,
    /// remembers it. Returns true for a new key (the followup counts).
    package mutating func remember(_ key: IdempotencyKey, of id: RequestUUID, at time: Timestamp) -> Bool {
        let entry = Remembered(id: id, key: key)
        let bucket = bucket(of: time)
        for probe in (bucket - 1)...(bucket + 1) where buckets[probe]?.contains(entry) == true { return false }
        buckets[bucket, default: []].insert(entry)
        if bucket > newest {
            newest = bucket
            buckets = buckets.filter { $0.key > bucket - 2 }
        }
        return true
    }

    /// How many keys are remembered now (for tests).
    package var count: Int { buckets.values.reduce(0) { $0 + $1.count } }
}

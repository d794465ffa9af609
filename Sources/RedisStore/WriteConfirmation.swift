import RedisClient
import SymbolStreamCore

/// Whether Redis wrote an ingest call to its append-only file before the
/// events are acknowledged.
///
/// Redis answers a write before it knows: it runs the command, queues the
/// reply, and in `beforeSleep` writes the AOF buffer, then sends the replies
/// (Redis 7.0 `server.c` `beforeSleep`, `aof.c` `flushAppendOnlyFile`). With
/// `appendfsync always` a failed write makes Redis exit before any reply goes
/// out. With `everysec` (and `no`) the reply goes out anyway: the data stays
/// in Redis's memory only, `aof_last_write_status` becomes `err`, and writes
/// (and `PING`) are refused with `MISCONF` until a retry of the write
/// succeeds. A kill -9 before that loses what the client was told is stored.
///
/// A `PING` sent once the call's reply has arrived is read in a later turn of
/// Redis's event loop, so after that write: `MISCONF` means it failed (and no
/// retry has succeeded since), and the events are answered `503` rather than
/// `200`. A `PING` pipelined with the call would run before the write and
/// prove nothing. What it cannot see: with `everysec`, a write Redis
/// postponed because a background fsync was still running (for up to 2 s)
/// has not been tried yet when the `PING` runs (see docs/guarantees.md).
package enum WriteConfirmation {
    static let command = RedisCommand("PING")

    /// Why the events of a confirmed call cannot be acknowledged, or nil if
    /// they can: the reply to `command` (or the failure to get one).
    static func refusal(_ reply: Result<[RESPValue], any Error>) -> StoreUnavailableError? {
        switch reply {
        case .success(let values):
            guard let value = values.first else { return unconfirmed("no reply") }
            if case .error(let message) = value { return unconfirmed(message) }
            return nil
        case .failure(let error):
            return unconfirmed((error as? StoreUnavailableError)?.reason ?? "\(error)")
        }
    }

    private static func unconfirmed(_ why: String) -> StoreUnavailableError {
        StoreUnavailableError(dependency: "redis", reason: "Redis ran the call but may not have written it to its append-only file: \(why)")
    }
}

/// The function library (`symbolstream.lua`, Redis 7 `FUNCTION LOAD`),
/// embedded in the binary at build time: every write an ingest batch makes
/// happens inside one call of `ss_ingest`, atomically, in one round trip.
///
/// It is loaded with `FUNCTION LOAD REPLACE` on every new connection, so a
/// restarted or flushed Redis gets it back before the connection is used;
/// Redis also persists functions in its AOF.
///
/// Why batches: requests that arrive while a call is in flight share the next
/// one. Per new initial Redis then does one `HSETNX` of the uuid map (a read
/// only for retries, conflicts and followups); rollup deltas are summed in Lua
/// and written once per bucket per batch, and the rankings' sorted sets get
/// one `ZADD` each per batch. One field per symbol keeps every hash at 26
/// fields or fewer, so listpack lookups stay short.
enum FunctionLibrary {
    static let source = String(decoding: PackageResources.symbolstream_lua, as: UTF8.self)

    /// The library's functions.
    enum Function: String {
        /// ARGV prefix, packed events (`IngestArgument`) and, for keyed
        /// followups, their digests and the idempotency window → 2 bytes per event.
        case ingest = "ss_ingest"
        /// ARGV prefix: creates the archiver's consumer group.
        case setup = "ss_setup"
        /// ARGV prefix, events archived, entry ids…: acknowledges and trims the log.
        case acknowledge = "ss_ack"
        /// ARGV prefix → backlog entries, oldest un-archived µs, archived, waiting, backlog events (read-only).
        case status = "ss_status"
        /// ARGV prefix, glob, cursor: one step of deleting every aggregate.
        case reset = "ss_reset"
        /// The format constants the Swift codecs share with the library (read-only).
        case format = "ss_format"
        /// Nothing, as a writing function: refused exactly when an ingest would be.
        case probe = "ss_probe"

        /// Read-only functions go out as `FCALL_RO`.
        var isReadOnly: Bool { self == .status || self == .format }
    }
}

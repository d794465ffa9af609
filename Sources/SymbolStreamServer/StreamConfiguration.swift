/// Limits of the `/stream` WebSocket route (flags `--stream-*` of `serve`).
package struct StreamConfiguration: Sendable {
    /// Events per message at most. Up to `RedisEventStore.maximumBatch` (256)
    /// a message is one atomic `ss_ingest` call; `serve` refuses more.
    package var maximumEvents = 256
    /// Bytes per message (all its frames together) at most; a bigger message
    /// closes the connection with 1009. 256 events of about 80 bytes fit in
    /// 64 KiB with room for whitespace.
    package var maximumMessageBytes = 64 * 1024
    /// A connection that sends no message for this long is closed (1000).
    package var idleTimeout: Duration = .seconds(60)
    /// How long the server waits for the client's answer to its close frame
    /// before dropping the connection.
    package var closeTimeout: Duration = .seconds(5)
    /// Messages refused as a whole (not an array of events) in a row before the
    /// connection is closed with 1008: a client stuck sending garbage.
    package var maximumRefusedInARow = 16
    /// Which web pages may open a connection (`Origin`); by default the
    /// service's own and clients that send no `Origin` (not browsers).
    package var allowedOrigins = OriginPolicy()
    /// Times the idle and close timeouts above (tests pass a manual clock).
    package var clock: any Clock<Duration> = ContinuousClock()

    package init() {}
}

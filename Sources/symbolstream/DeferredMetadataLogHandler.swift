import Logging

/// `StreamLogHandler`'s output, with its metadata kept as it is until a line
/// is written. `StreamLogHandler` formats its metadata whenever it changes,
/// and Hummingbird sets a request id on every request's logger: that was 4%
/// of a dashboard read's CPU, for lines that, at the default level, are
/// never written.
struct DeferredMetadataLogHandler: LogHandler {
    private var output: StreamLogHandler
    var metadata = Logger.Metadata()

    init(_ output: StreamLogHandler) {
        self.output = output
    }

    var logLevel: Logger.Level {
        get { output.logLevel }
        set { output.logLevel = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { output.metadataProvider }
        set { output.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        if !metadata.isEmpty {
            event.metadata = metadata.merging(event.metadata ?? [:]) { _, explicit in explicit }
        }
        output.log(event: event)
    }
}

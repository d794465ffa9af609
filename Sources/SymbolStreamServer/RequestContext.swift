import Hummingbird

/// The request context: Hummingbird's basic one with a small upload limit, as
/// no route takes more than a form with two short fields.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(source: Source) {
        self.coreContext = .init(source: source)
    }

    public var maxUploadSize: Int { Self.uploadLimit }
    /// No route takes more than a form with two short fields.
    public static let uploadLimit = 16 * 1024
}

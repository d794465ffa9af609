import Hummingbird

/// The request context: Hummingbird's basic one with a small upload limit, as
/// no route takes more than a form with two short fields.
package struct AppRequestContext: RequestContext {
    package var coreContext: CoreRequestContextStorage

    package init(source: Source) {
        self.coreContext = .init(source: source)
    }

    package var maxUploadSize: Int { Self.uploadLimit }
    /// No route takes more than a form with two short fields.
    package static let uploadLimit = 16 * 1024
}

import Hummingbird
import SymbolStreamCore

/// Refuses (400, `malformed_encoding`, naming `query`) a request to any route
/// whose query string is not valid percent-encoded UTF-8, also when the
/// broken part is a parameter the route does not read: one rule for every
/// route (docs/decisions.md), and a broken URL is refused rather than
/// half-read. Unknown routes stay 404.
struct QueryEncodingMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if context.endpointPath != nil, let query = request.uri.query, !query.isEmpty {
            try FormParameters.checkEncoding(query)
        }
        return try await next(request, context)
    }
}

import Hummingbird
import Logging
import NIOCore
import Synchronization
import SymbolStreamCore

/// The methods each route path accepts, so that a known path with the wrong
/// method is a 405 (with `Allow`) rather than the router's 404.
package final class RouteCatalog: Sendable {
    private let entries = Mutex<[(segments: [Substring], method: HTTPRequest.Method)]>([])

    package init() {}

    func add(_ path: String, _ method: HTTPRequest.Method) {
        let segments = path.split(separator: "/")
        entries.withLock { $0.append((segments, method)) }
    }

    func allowedMethods(for path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        return entries.withLock { entries in
            entries.filter { entry in
                entry.segments.count == segments.count
                    && zip(entry.segments, segments).allSatisfy { pattern, actual in pattern.hasPrefix(":") || pattern == actual }
            }.map(\.method)
        }
    }
}

/// A failure that is the client's answer: it renders itself as the JSON
/// error shape (Hummingbird's `HTTPResponseError`) and says how it counts in
/// `/health`, so `ErrorMiddleware` needs no list of error types.
protocol ClientFacingError: HTTPResponseError {
    /// `{"error": message}`, naming the parameter at fault where there is one.
    var message: String { get }
    var headers: HTTPFields { get }
    func count(in counters: ServiceCounters)
}

extension ClientFacingError {
    package var headers: HTTPFields { [:] }

    package func response(from request: Request, context: some RequestContext) throws -> Response {
        .error(message, status: status, headers: headers)
    }
}

/// Bad input (400): counted under its reason.
extension InputError: ClientFacingError {
    package var status: HTTPResponse.Status { .badRequest }
    func count(in counters: ServiceCounters) { counters.rejected(reason) }
}

/// A request refused because its uuid is already taken by another symbol.
struct UUIDConflictError: ClientFacingError {
    var id: SymbolStreamCore.RequestUUID
    var existing: Symbol

    var status: HTTPResponse.Status { .conflict }

    /// Also what `/stream` answers for such an event.
    var message: String {
        "uuid: \(id) was already used with symbol '\(existing.letter)'; a retry must repeat the same symbol"
    }

    func count(in counters: ServiceCounters) { counters.rejected(.uuidConflict) }
}

/// A store down (503, with `Retry-After`): counted as unavailable, not as a reject.
extension StoreUnavailableError: ClientFacingError {
    package var status: HTTPResponse.Status { .serviceUnavailable }
    package var headers: HTTPFields { [.retryAfter: "1"] }
    /// Also what `/stream` answers for events it could not store.
    var message: String { "service unavailable: \(dependency) is not reachable; retry shortly" }
    func count(in counters: ServiceCounters) { counters.unavailable() }
}

/// Turns every failure into the JSON error shape, with the right status:
/// the client-facing errors render themselves (400 bad input naming the
/// parameter, 409 uuid conflict, 503 dependency down with `Retry-After`);
/// here are 404/405 routing, 413 body too large and 500 for bugs.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let catalog: RouteCatalog
    let counters: ServiceCounters
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as any ClientFacingError {
            error.count(in: counters)
            if let error = error as? StoreUnavailableError {
                // Once per request would flood the log (and block its writers) in
                // an outage at full load; the clients log the outage itself.
                logger.debug("dependency unavailable", metadata: ["dependency": "\(error.dependency)", "reason": "\(error.reason)"])
            }
            return try error.response(from: request, context: context)
        } catch is NIOTooManyBytesError {
            counters.rejected(.bodyTooLarge)
            return .error("body: request body larger than \(context.maxUploadSize) bytes", status: .contentTooLarge)
        } catch let error as HTTPError {
            return response(for: error, request: request)
        } catch {
            logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return .error("internal error", status: .internalServerError)
        }
    }

    private func response(for error: HTTPError, request: Request) -> Response {
        switch error.status {
        case .notFound:
            let allowed = catalog.allowedMethods(for: request.uri.path)
            if !allowed.isEmpty {
                let names = allowed.map(\.rawValue).joined(separator: ", ")
                return .error("method \(request.method.rawValue) not allowed on \(request.uri.path); use \(names)", status: .methodNotAllowed, headers: [.allow: names])
            }
            return .error("no route \(request.uri.path)", status: .notFound)
        case .contentTooLarge:
            counters.rejected(.bodyTooLarge)
            return .error("body: request body too large", status: .contentTooLarge)
        default:
            return .error(error.body ?? error.status.reasonPhrase, status: error.status)
        }
    }
}

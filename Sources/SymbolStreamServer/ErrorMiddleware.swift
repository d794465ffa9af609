import Hummingbird
import Logging
import NIOCore
import Synchronization
import SymbolStreamCore

/// The methods each route path accepts, so that a known path with the wrong
/// method is a 405 (with `Allow`) rather than the router's 404.
public final class RouteCatalog: Sendable {
    private let entries = Mutex<[(segments: [Substring], method: HTTPRequest.Method)]>([])

    public init() {}

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

/// A request refused because its uuid is already taken by another symbol.
struct UUIDConflictError: Error {
    var id: SymbolStreamCore.RequestID
    var existing: Symbol

    /// Also what `/stream` answers for such an event.
    var message: String {
        "uuid: \(id) was already used with symbol '\(existing.letter)'; a retry must repeat the same symbol"
    }
}

extension StoreUnavailableError {
    /// Also what `/stream` answers for events it could not store.
    var clientMessage: String { "service unavailable: \(dependency) is not reachable; retry shortly" }
}

/// Turns every failure into the JSON error shape, with the right status:
/// 400 bad input (naming the parameter), 404/405 routing, 409 uuid conflict,
/// 413 body too large, 503 dependency down (with `Retry-After`), 500 bugs.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let catalog: RouteCatalog
    let counters: ServiceCounters
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as ValidationError {
            counters.rejected(error.reason)
            return .error(error.message, status: .badRequest)
        } catch let error as UUIDConflictError {
            counters.rejected(.uuidConflict)
            return .error(error.message, status: .conflict)
        } catch let error as StoreUnavailableError {
            counters.unavailable()
            // Once per request would flood the log (and block its writers) in
            // an outage at full load; the clients log the outage itself.
            logger.debug("dependency unavailable", metadata: ["dependency": "\(error.dependency)", "reason": "\(error.reason)"])
            return .error(error.clientMessage, status: .serviceUnavailable, headers: [.retryAfter: "1"])
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

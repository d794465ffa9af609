import Hummingbird
import Logging
import SymbolStreamCore

/// What the routes need; the HTTP layer sees storage only through protocols.
package struct RouteDependencies: Sendable {
    package var store: any EventStore
    package var health: any HealthProbe
    package var guesser: Guesser
    package var clock: EventClock
    package var counters: ServiceCounters
    package var logger: Logger
    /// The dashboard page, pipeline history and metrics.
    package var observability: Observability
    /// Which uuids the stores can hold (the archive's rule in production).
    package var admission: any EventAdmission

    package init(
        store: any EventStore, health: any HealthProbe, guesser: Guesser, clock: EventClock = EventClock(),
        counters: ServiceCounters = ServiceCounters(), logger: Logger, observability: Observability = Observability(),
        admission: any EventAdmission = AdmitEveryEvent()
    ) {
        self.store = store
        self.health = health
        self.guesser = guesser
        self.clock = clock
        self.counters = counters
        self.logger = logger
        self.observability = observability
        self.admission = admission
    }

    /// The ingest use case both the HTTP routes and `/stream` call.
    var ingest: IngestService {
        IngestService(store: store, guesser: guesser, clock: clock, admission: admission, counters: counters)
    }
}

/// All routes of the service.
package func buildRouter(_ dependencies: RouteDependencies) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self, options: .autoGenerateHeadEndpoints)
    let catalog = RouteCatalog()
    router.add(middleware: RequestMetricsMiddleware(metrics: dependencies.observability.metrics.requests))
    router.add(middleware: ErrorMiddleware(catalog: catalog, counters: dependencies.counters, logger: dependencies.logger))
    router.add(middleware: QueryEncodingMiddleware())
    let routes = SymbolStreamRoutes(dependencies: dependencies)

    func on(_ path: String, _ method: HTTPRequest.Method, _ handler: @escaping @Sendable (Request, AppRequestContext) async throws -> Response) {
        catalog.add(path, method)
        router.on(RouterPath(path), method: method) { request, context in try await handler(request, context) }
    }
    on("/initial", .post, routes.initial)
    on("/followup", .post, routes.followup)
    on("/dashboard/symbol/:symbol", .get, routes.symbolDashboard)
    on("/dashboard/range/:lower/:upper", .get, routes.rangeDashboard)
    on("/requests/:uuid", .get, routes.requestRecord)
    on("/health", .get, routes.health)
    InsightRoutes(dependencies: dependencies).register(on)
    on("/stream", .get, routes.streamWithoutUpgrade)  // the WebSocket itself: buildStreamRouter
    return router
}

struct SymbolStreamRoutes: Sendable {
    let dependencies: RouteDependencies
    let ingest: IngestService

    init(dependencies: RouteDependencies) {
        self.dependencies = dependencies
        self.ingest = dependencies.ingest
    }

    // MARK: Ingest

    /// `POST /initial?uuid=…&symbol=…` → `True` / `False`.
    @Sendable func initial(_ request: Request, context: AppRequestContext) async throws -> Response {
        let parameters = try await Self.parameters(of: request, context: context)
        let id = try Validate.requestID(try parameters.value("uuid"))
        let symbol = try Validate.symbol(try parameters.value("symbol"))
        // Checked like everywhere, and otherwise ignored: an initial is
        // idempotent by its uuid already.
        _ = try Self.idempotencyKey(of: request)
        switch try await ingest.record(.initial(id, symbol)) {
        case .initial(.accepted(let guess)), .initial(.retry(let guess)):
            return guess ? .text("True") : .text("False")
        default:
            throw IngestServiceError.outcomeKind  // conflicts throw; a followup's outcome cannot come
        }
    }

    /// `POST /followup?uuid=…` → `hooray`. With an `Idempotency-Key` header,
    /// a retry of the same followup (same uuid, same key) within the window
    /// counts nothing and gets the same answer, marked `Idempotent-Replayed: true`.
    @Sendable func followup(_ request: Request, context: AppRequestContext) async throws -> Response {
        let parameters = try await Self.parameters(of: request, context: context)
        let id = try Validate.requestID(try parameters.value("uuid"))
        let key = try Self.idempotencyKey(of: request)
        let outcome = try await ingest.record(.followup(id, idempotencyKey: key))
        var response = Response.text("hooray")
        if outcome == .followup(.replayed) { response.headers[Self.replayedHeader] = "true" }
        return response
    }

    /// (`HTTPField`, through the type Hummingbird exports.)
    typealias HeaderName = HTTPFields.Element.Name
    static let idempotencyKeyHeader = HeaderName("Idempotency-Key")!
    static let replayedHeader = HeaderName("Idempotent-Replayed")!

    /// The `Idempotency-Key` header, if any (the same value given twice is
    /// harmless, two different ones a 400, as for parameters).
    static func idempotencyKey(of request: Request) throws(InputError) -> IdempotencyKey? {
        let name = "Idempotency-Key"
        let values = request.headers[values: idempotencyKeyHeader]
        guard let first = values.first else { return nil }
        guard values.allSatisfy({ $0 == first }) else {
            throw InputError(parameter: name, reason: .duplicateParameter, message: "\(name): given more than once with different values")
        }
        return try Validate.idempotencyKey(first, parameter: name, header: true)
    }

    /// Query-string parameters, plus those of a form-encoded body (as the
    /// original Flask service accepted both).
    ///
    /// The body is read to its end whatever it holds, also when the
    /// parameters are in the query string: an event is taken only from a
    /// whole request, never stored while its body is still coming (or may
    /// never come). On the server `serve` runs, `HTTPRequestGuard` passes a
    /// request on only once it is complete; reading it here keeps the rule
    /// for any server the routes run on.
    static func parameters(of request: Request, context: AppRequestContext) async throws -> FormParameters {
        var parameters = try FormParameters(parsing: request.uri.query ?? "")
        let body = try await request.body.collect(upTo: context.maxUploadSize)
        if let type = request.headers[.contentType], type.lowercased().hasPrefix("application/x-www-form-urlencoded") {
            try parameters.append(parsing: String(buffer: body))
        }
        return parameters
    }

    // MARK: Reads

    @Sendable func symbolDashboard(_ request: Request, context: AppRequestContext) async throws -> Response {
        let symbol = try Validate.symbol(try Self.pathParameter("symbol", context))
        return .json(JSONValue(try await dependencies.store.summary(of: symbol)))
    }

    @Sendable func rangeDashboard(_ request: Request, context: AppRequestContext) async throws -> Response {
        let range = try Validate.range(lower: try Self.pathParameter("lower", context), upper: try Self.pathParameter("upper", context))
        let summaries = try await dependencies.store.summaries(in: range)
        return .json(.array(summaries.map(JSONValue.init)))
    }

    @Sendable func requestRecord(_ request: Request, context: AppRequestContext) async throws -> Response {
        let id = try Validate.requestID(try Self.pathParameter("uuid", context))
        try dependencies.admission.check(id)
        guard let record = try await dependencies.store.request(id) else {
            return .error("uuid: no request \(id) is known", status: .notFound)
        }
        return .json(JSONValue(record))
    }

    /// Path parameters arrive percent-encoded (`2017-06-28%2012:00:00`).
    static func pathParameter(_ name: String, _ context: AppRequestContext) throws(InputError) -> String {
        let raw = context.parameters.get(name) ?? ""
        return try FormParameters.decode(raw.utf8, parameter: name)
    }

    // MARK: Health

    /// 200 while events can be taken (Redis up and taking writes), 503
    /// otherwise; MariaDB being down only delays the archive, so it makes the
    /// status "degraded".
    @Sendable func health(_ request: Request, context: AppRequestContext) async throws -> Response {
        let report = await dependencies.health.report()
        let body = HealthJSON.health(report: report, counters: dependencies.counters.snapshot, now: dependencies.clock.now())
        return .json(body, status: report.acceptsEvents ? .ok : .serviceUnavailable)
    }
}

import Dispatch
import Hummingbird

/// Counts every request and its latency by route and final status. It runs
/// outside `ErrorMiddleware`, so it sees the status the client got (400, 404,
/// 503, …) rather than the error thrown. Hummingbird's own `MetricsMiddleware`
/// builds its label arrays on every request; this one reuses resolved handles
/// (`RequestMetrics`), one per route and status.
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: RequestMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        // `ErrorMiddleware`, inside this one, turns every error into a response.
        let response = try await next(request, context)
        metrics.record(route: context.endpointPath, status: response.status.code, nanoseconds: DispatchTime.now().uptimeNanoseconds &- start)
        return response
    }
}

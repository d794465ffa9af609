import Dispatch
import Hummingbird

/// Counts every request and its latency by route and final status. It runs
/// outside `ErrorMiddleware`, so it sees the status the client got (400, 404,
/// 503, …) rather than the error thrown. Hummingbird's own `MetricsMiddleware`
/// builds label arrays and looks the metrics up in the global registry on
/// every request; this one reuses resolved handles (`RequestMetrics`).
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: RequestMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        do {
            let response = try await next(request, context)
            metrics.record(route: context.endpointPath, status: response.status.code, nanoseconds: DispatchTime.now().uptimeNanoseconds &- start)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            metrics.record(route: context.endpointPath, status: status, nanoseconds: DispatchTime.now().uptimeNanoseconds &- start)
            throw error
        }
    }
}

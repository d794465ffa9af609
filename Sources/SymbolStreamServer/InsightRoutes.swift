import Hummingbird
import NIOCore
import SymbolStreamCore

/// The routes for people watching the service rather than feeding it: the
/// dashboard page and the JSON it reads (`/dashboard/series`,
/// `/dashboard/accuracy`, `/pipeline`), and `/metrics` for Prometheus. None is
/// on the ingest path.
struct InsightRoutes: Sendable {
    let dependencies: RouteDependencies

    var observability: Observability { dependencies.observability }

    typealias Handler = @Sendable (Request, AppRequestContext) async throws -> Response

    func register(_ on: (String, HTTPRequest.Method, @escaping Handler) -> Void) {
        on("/dashboard", .get, page)
        on("/dashboard/assets/dashboard.js", .get, pageScript)
        on("/dashboard/assets/dashboard.css", .get, pageStyle)
        on("/dashboard/assets/chart.js", .get, chartScript)
        on("/dashboard/series", .get, series)
        on("/dashboard/accuracy", .get, accuracy)
        on("/dashboard/top", .get, top)
        on("/pipeline", .get, pipeline)
        on("/metrics", .get, metrics)
    }

    // MARK: The page

    private static let pageHeaders: HTTPFields = [
        .contentType: "text/html; charset=utf-8", .cacheControl: "no-cache",
        .contentSecurityPolicy: DashboardPage.contentSecurityPolicy, .xFrameOptions: "DENY",
    ]
    private static let pageBody = ByteBuffer(string: DashboardPage.html)
    // The page's own script and stylesheet change with the binary: revalidated, like the page.
    private static let scriptHeaders: HTTPFields = [.contentType: "text/javascript; charset=utf-8", .cacheControl: "no-cache"]
    private static let scriptBody = ByteBuffer(string: DashboardPage.script)
    private static let styleHeaders: HTTPFields = [.contentType: "text/css; charset=utf-8", .cacheControl: "no-cache"]
    private static let styleBody = ByteBuffer(string: DashboardPage.style)

    @Sendable func page(_ request: Request, context: AppRequestContext) async throws -> Response {
        Response(status: .ok, headers: Self.pageHeaders, body: .init(byteBuffer: Self.pageBody))
    }

    @Sendable func pageScript(_ request: Request, context: AppRequestContext) async throws -> Response {
        Response(status: .ok, headers: Self.scriptHeaders, body: .init(byteBuffer: Self.scriptBody))
    }

    @Sendable func pageStyle(_ request: Request, context: AppRequestContext) async throws -> Response {
        Response(status: .ok, headers: Self.styleHeaders, body: .init(byteBuffer: Self.styleBody))
    }

    @Sendable func chartScript(_ request: Request, context: AppRequestContext) async throws -> Response {
        switch observability.chartScript {
        case .loaded(let bytes, _):
            return Response(
                status: .ok, headers: [.contentType: "text/javascript; charset=utf-8", .cacheControl: "public, max-age=3600"],
                body: .init(byteBuffer: bytes))
        case .missing(let path):
            return .error(
                "chart-js: Chart.js is not available (\(path.isEmpty ? "no file configured" : "nothing readable at \(path)")); install libjs-chart.js or set --chart-js",
                status: .notFound)
        }
    }

    // MARK: Dashboard data

    /// `GET /dashboard/series?from=…&to=…[&step=second|minute|hour|day]`:
    /// initials and followups per rollup bucket, in total and per symbol.
    @Sendable func series(_ request: Request, context: AppRequestContext) async throws -> Response {
        let parameters = try FormParameters(parsing: request.uri.query ?? "")
        let range = try Validate.queryRange(from: try parameters.value("from"), to: try parameters.value("to"))
        let span = try Validate.seriesSpan(range, step: try parameters.value("step"))
        let buckets = try await dependencies.store.series(span)
        return .json(Self.seriesJSON(span, buckets))
    }

    static func seriesJSON(_ span: BucketSpan, _ buckets: [SymbolStats]) -> JSONValue {
        var counts = [[JSONValue]](repeating: [], count: 26)
        var followups = [[JSONValue]](repeating: [], count: 26)
        var totalCounts = [JSONValue]()
        var totalFollowups = [JSONValue]()
        for stats in buckets {
            var count: Int64 = 0
            var followed: Int64 = 0
            for (index, symbol) in stats.enumerated() {
                counts[index].append(.int(symbol.count))
                followups[index].append(.int(symbol.followups))
                count += symbol.count
                followed += symbol.followups
            }
            totalCounts.append(.int(count))
            totalFollowups.append(.int(followed))
        }
        let symbols = Symbol.all.map { symbol -> (String, JSONValue) in
            (symbol.letter, .object([("count", .array(counts[symbol.index])), ("followups", .array(followups[symbol.index]))]))
        }
        return .object([
            ("from", JSONValue(span.lower)),
            // The end of the last bucket, exclusive; in the last bucket of
            // 9999 it would be 10000-01-01, which the wire format cannot
            // write: there it is the last microsecond of 9999 (inclusive).
            ("to", JSONValue(min(span.upper, Timestamp.wireRange.upperBound))),
            ("step", .string(span.level.name)),
            ("step_seconds", .int(span.level.seconds)),
            ("times", .array((0..<span.count).map { JSONValue(span.start(of: $0)) })),
            ("count", .array(totalCounts)),
            ("followups", .array(totalFollowups)),
            ("symbols", .object(symbols)),
        ])
    }

    /// `GET /dashboard/accuracy?from=…&to=…`: how the answers went down, per
    /// symbol and in total, for initials received in `[from, to)` (exact, like
    /// `/dashboard/range`). See `SymbolAnswers` for the definitions.
    @Sendable func accuracy(_ request: Request, context: AppRequestContext) async throws -> Response {
        let parameters = try FormParameters(parsing: request.uri.query ?? "")
        let range = try Validate.queryRange(from: try parameters.value("from"), to: try parameters.value("to"))
        let quality = AnswerQuality(try await dependencies.store.summaries(in: range))
        return .json(Self.accuracyJSON(range, quality))
    }

    static func accuracyJSON(_ range: TimeRange, _ quality: AnswerQuality) -> JSONValue {
        func ratio(_ value: Double?) -> JSONValue { value.map { .double($0) } ?? .null }
        func bool(_ value: Bool?) -> JSONValue { value.map { .bool($0) } ?? .null }
        let symbols = quality.symbols.map { answers -> JSONValue in
            .object([
                ("symbol", .string(answers.symbol.letter)),
                ("vowel", bool(answers.modelVowel)),
                ("count", .int(answers.summary.count)),
                ("answered_true", .int(answers.summary.answeredTrue)),
                ("followups", .int(answers.summary.followups)),
                ("followups_answered_true", .int(answers.summary.followupsAnsweredTrue)),
                ("followup_rate_after_true", ratio(answers.followupRateAfterTrue)),
                ("followup_rate_after_false", ratio(answers.followupRateAfterFalse)),
                ("accuracy", ratio(answers.accuracy)),
                ("implied_vowel", bool(answers.impliedVowel)),
                ("implied_accuracy", ratio(answers.impliedAccuracy)),
            ])
        }
        return .object([
            ("from", JSONValue(range.lower)),
            ("to", JSONValue(range.upper)),
            ("initials", .int(quality.initials)),
            ("followups", .int(quality.followups)),
            ("accuracy", ratio(quality.accuracy)),
            ("implied_accuracy", ratio(quality.impliedAccuracy)),
            ("followup_rate_after_correct", ratio(quality.followupRateAfterCorrect)),
            ("followup_rate_after_wrong", ratio(quality.followupRateAfterWrong)),
            ("symbols", .array(symbols)),
        ])
    }

    /// `GET /dashboard/top?by=initials|followups|rate|recent&n=1…26`: the
    /// leaderboard, all time, from the rankings' sorted sets (see
    /// `Rankings.top` for the order and ties).
    @Sendable func top(_ request: Request, context: AppRequestContext) async throws -> Response {
        let parameters = try FormParameters(parsing: request.uri.query ?? "")
        let order = try Validate.rankingOrder(try parameters.value("by"))
        let limit = try Validate.rankingLimit(try parameters.value("n"))
        let rankings = try await dependencies.store.rankings()
        return .json(Self.topJSON(order, limit, rankings.top(by: order, limit: limit)))
    }

    static func topJSON(_ order: RankingOrder, _ limit: Int, _ rows: [RankedSymbol]) -> JSONValue {
        .object([
            ("by", .string(order.rawValue)),
            ("n", .int(Int64(limit))),
            (
                "top",
                .array(
                    rows.map { row in
                        .object([
                            ("symbol", .string(row.symbol.letter)),
                            ("count", .int(row.count)),
                            ("followups", .int(row.followups)),
                            ("rate", row.rate.map { .double($0) } ?? .null),
                            ("latest", row.latest.map { JSONValue($0) } ?? .null),
                        ])
                    })
            ),
        ])
    }

    // MARK: Pipeline health

    /// `GET /pipeline`: what came in, what was turned away, what reached
    /// MariaDB, what waits, and the same over the last hour as rates. Always
    /// `200` (it reports the outage when there is one; `/health` is the probe).
    @Sendable func pipeline(_ request: Request, context: AppRequestContext) async throws -> Response {
        let report = await dependencies.health.report()
        let counters = dependencies.counters.snapshot
        let now = dependencies.clock.now()
        return .json(HealthJSON.pipeline(report: report, counters: counters, history: observability.history, now: now))
    }


    // MARK: Prometheus

    private static let metricsHeaders: HTTPFields = [.contentType: "text/plain; version=0.0.4; charset=utf-8"]

    /// `GET /metrics`: Prometheus text format.
    @Sendable func metrics(_ request: Request, context: AppRequestContext) async throws -> Response {
        let report = await dependencies.health.report()
        let bytes = observability.metrics.scrape(report: report, counters: dependencies.counters.snapshot, now: dependencies.clock.now())
        return Response(status: .ok, headers: Self.metricsHeaders, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

extension HTTPFields.Element.Name {
    /// `X-Frame-Options` (clickjacking; the CSP's `frame-ancestors` for older browsers).
    static let xFrameOptions = Self("X-Frame-Options")!
}

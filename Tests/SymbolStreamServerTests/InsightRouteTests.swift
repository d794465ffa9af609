import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import MariaDBArchive
import NIOCore
import RedisStore
import SymbolStreamCore
import Testing

@testable import SymbolStreamServer
import NIOFoundationEssentialsCompat

/// The dashboard page and its data routes, `/pipeline` and `/metrics`, over
/// the in-memory store (end to end with a browser: `Tests/e2e/test_dashboard.py`).
@Suite struct InsightRouteTests {
    struct Fixture {
        var store = InMemoryEventStore()
        var counters = ServiceCounters()
        var observability = Observability()
        var health: any HealthProbe = RouteTests.StubHealth()
        var flip = 0.0

        func app() -> some ApplicationProtocol {
            let dependencies = RouteDependencies(
                store: store, health: health, guesser: Guesser(model: GuessModel(flipProbability: flip), seed: 1), clock: RouteTests.clock(),
                counters: counters, logger: Logger(label: "test"), observability: observability)
            return Application(router: buildRouter(dependencies))
        }
    }

    static func json(_ response: TestResponse) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(buffer: response.body))
        return try #require(object as? [String: Any])
    }

    static func send(_ client: some TestClientProtocol, initials: [(String, followups: Int)], firstID: Int = 0) async throws {
        for (n, (symbol, followups)) in initials.enumerated() {
            let id = String(format: "00000000-0000-4000-8000-%012d", firstID + n)
            try await client.execute(uri: "/initial?uuid=\(id)&symbol=\(symbol)", method: .post) { #expect($0.status == .ok) }
            for _ in 0..<followups {
                try await client.execute(uri: "/followup?uuid=\(id)", method: .post) { #expect($0.status == .ok) }
            }
        }
    }

    // MARK: /dashboard/top

    @Test func topRanksSymbolsEveryWay() async throws {
        try await Fixture().app().test(.router) { client in
            try await client.execute(uri: "/dashboard/top", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"by":"initials","n":10,"top":[]}"#)
            }
            // b: 3 initials, 1 followup; e: 2 and 2; a: 1 and 1 (the latest); c: 1 and 0.
            // Ties: a and c by initials (letter), a and b by followups (letter),
            // e and a by rate (more initials first).
            try await Self.send(client, initials: [("b", 1), ("e", 2), ("b", 0), ("c", 0), ("b", 0), ("e", 0), ("a", 1)])
            let expected: [String: String] = [
                "initials": "bea", "followups": "eab", "rate": "eab", "recent": "aeb",
            ]
            for (by, letters) in expected {
                try await client.execute(uri: "/dashboard/top?by=\(by)&n=3", method: .get) { response in
                    let json = try Self.json(response)
                    #expect(json["by"] as? String == by && json["n"] as? Int == 3)
                    let rows = try #require(json["top"] as? [[String: Any]])
                    #expect(rows.compactMap { $0["symbol"] as? String }.joined() == letters, "\(by)")
                }
            }
            try await client.execute(uri: "/dashboard/top?by=rate&n=26", method: .get) { response in
                #expect(
                    String(buffer: response.body)
                        == #"{"by":"rate","n":26,"top":[{"symbol":"e","count":2,"followups":2,"rate":1.0,"latest":"2017-06-29 13:15:01.173543"},"#
                        + #"{"symbol":"a","count":1,"followups":1,"rate":1.0,"latest":"2017-06-29 13:15:01.173544"},"#
                        + #"{"symbol":"b","count":3,"followups":1,"rate":0.3333333333333333,"latest":"2017-06-29 13:15:01.173542"},"#
                        + #"{"symbol":"c","count":1,"followups":0,"rate":0.0,"latest":"2017-06-29 13:15:01.173541"}]}"#)
            }
        }
    }

    @Test func topErrorsNameTheParameterAndAreCounted() async throws {
        let fixture = Fixture()
        try await fixture.app().test(.router) { client in
            for (query, name) in [("by=best", "by"), ("by=", "by"), ("n=0", "n"), ("n=27", "n"), ("n=x", "n"), ("n=-1", "n"), ("by=rate&by=recent", "by")] {
                try await client.execute(uri: "/dashboard/top?\(query)", method: .get) { response in
                    #expect(response.status == .badRequest)
                    let error = try Self.json(response)["error"] as? String
                    #expect(error?.hasPrefix(name + ": ") == true, "\(query): \(error ?? "")")
                }
            }
        }
        #expect(fixture.counters.snapshot.rejected[.invalidRanking] == 6)
    }

    // MARK: /dashboard/series

    @Test func seriesCountsPerBucketAndSymbol() async throws {
        try await Fixture().app().test(.router) { client in
            // The test clock starts at 2017-06-29 13:15:01.173535 and ticks a microsecond per event.
            try await Self.send(client, initials: [("e", 2), ("e", 0), ("b", 1), ("z", 0)])
            try await client.execute(uri: "/dashboard/series?from=2017-06-29T13:14:30&to=2017-06-29%2013:17:00&step=minute", method: .get) { response in
                #expect(response.status == .ok)
                let body = try Self.json(response)
                #expect(body["from"] as? String == "2017-06-29 13:14:00.000000")
                #expect(body["to"] as? String == "2017-06-29 13:17:00.000000")
                #expect(body["step"] as? String == "minute" && body["step_seconds"] as? Int == 60)
                #expect(body["times"] as? [String] == ["2017-06-29 13:14:00.000000", "2017-06-29 13:15:00.000000", "2017-06-29 13:16:00.000000"])
                #expect(body["count"] as? [Int] == [0, 4, 0])
                #expect(body["followups"] as? [Int] == [0, 3, 0])
                let symbols = try #require(body["symbols"] as? [String: [String: [Int]]])
                #expect(symbols.count == 26)
                #expect(symbols["e"] == ["count": [0, 2, 0], "followups": [0, 2, 0]])
                #expect(symbols["b"] == ["count": [0, 1, 0], "followups": [0, 1, 0]])
                #expect(symbols["a"] == ["count": [0, 0, 0], "followups": [0, 0, 0]])
                // Keys in a..z order, as written.
                let text = String(buffer: response.body)
                #expect(text.range(of: "\"a\":")!.lowerBound < text.range(of: "\"z\":")!.lowerBound)
            }
            // Without a step: the finest level within the cap (seconds, for 20 minutes).
            try await client.execute(uri: "/dashboard/series?from=2017-06-29T13:00:00&to=2017-06-29T13:20:00", method: .get) { response in
                let body = try Self.json(response)
                #expect(body["step"] as? String == "second" && (body["count"] as? [Int])?.count == 1200)
                #expect((body["count"] as? [Int])?.reduce(0, +) == 4)
            }
            try await client.execute(uri: "/dashboard/series?from=2017-06-29&to=2017-06-29&step=hour", method: .get) { response in
                let body = try Self.json(response)
                #expect(body["times"] as? [String] == [])
            }
        }
    }

    /// The last bucket of year 9999 ends at 10000-01-01, which the wire format
    /// cannot write (issue 13: it came out as "0000-01-01 00:00:00.000000"):
    /// the answer's `to` is clamped to the last microsecond of 9999.
    @Test(arguments: ["second", "minute", "hour", "day"])
    func aSeriesEndingInTheLastBucketOf9999EndsAtItsLastMicrosecond(step: String) async throws {
        try await Fixture().app().test(.router) { client in
            let uri = "/dashboard/series?from=9999-12-31T23:58:00&to=9999-12-31T23:59:59.999999&step=\(step)"
            try await client.execute(uri: uri, method: .get) { response in
                #expect(response.status == .ok)
                let body = try Self.json(response)
                #expect(body["to"] as? String == "9999-12-31 23:59:59.999999")
                let times = try #require(body["times"] as? [String])
                #expect(times.allSatisfy { $0.hasPrefix("9999-12-31 ") })
                #expect((body["count"] as? [Int])?.count == times.count)
            }
        }
    }

    @Test func seriesErrorsNameTheParameterAndAreCounted() async throws {
        let fixture = Fixture()
        try await fixture.app().test(.router) { client in
            for (query, parameter) in [
                ("to=2017-06-30", "from"), ("from=2017-06-29", "to"), ("from=2017-06-29&to=2017-06-30&step=week", "step"),
                ("from=2017-06-29&to=2017-06-30&step=second", "step"), ("from=2017-06-30&to=2017-06-29", "from"),
                ("from=2017-06-31&to=2017-07-01", "from"), ("from=2000-01-01&to=2017-01-01", "to"),
                ("from=2017-06-29&from=2017-06-28&to=2017-06-30", "from"),
            ] {
                try await client.execute(uri: "/dashboard/series?\(query)", method: .get) { response in
                    RouteTests().expectError(response, .badRequest, mentioning: parameter)
                    #expect(String(buffer: response.body).hasPrefix("{\"error\":\"\(parameter):"), "\(query)")
                }
            }
        }
        let rejected = fixture.counters.snapshot.rejected
        #expect(rejected[.invalidStep] == 1 && rejected[.tooManyBuckets] == 2 && rejected[.missingParameter] == 2)
        #expect(rejected[.invertedRange] == 1 && rejected[.invalidBound] == 1 && rejected[.duplicateParameter] == 1)
    }

    // MARK: /dashboard/accuracy

    @Test func accuracyBreaksAnswersDown() async throws {
        // Flip probability 1: every answer is wrong by the model.
        try await Fixture(flip: 1).app().test(.router) { client in
            try await Self.send(client, initials: [("e", 0), ("e", 0), ("b", 2), ("b", 1), ("y", 1)])
            try await client.execute(uri: "/dashboard/accuracy?from=2017-06-29&to=2017-06-30", method: .get) { response in
                #expect(response.status == .ok)
                let body = try Self.json(response)
                #expect(body["from"] as? String == "2017-06-29 00:00:00.000000" && body["initials"] as? Int == 5 && body["followups"] as? Int == 4)
                #expect(body["accuracy"] as? Double == 0)
                #expect(body["followup_rate_after_wrong"] as? Double == 3.0 / 4)
                #expect(body["followup_rate_after_correct"] is NSNull)
                #expect(body["implied_accuracy"] is NSNull)  // no symbol got both answers
                let symbols = try #require(body["symbols"] as? [[String: Any]])
                #expect(symbols.map { $0["symbol"] as? String } == Symbol.all.map(\.letter))
                let b = symbols[1]
                #expect(b["vowel"] as? Bool == false && b["count"] as? Int == 2 && b["answered_true"] as? Int == 2)
                #expect(b["followups"] as? Int == 3 && b["followups_answered_true"] as? Int == 3)
                #expect(b["followup_rate_after_true"] as? Double == 1.5 && b["followup_rate_after_false"] is NSNull)
                #expect(b["accuracy"] as? Double == 0 && b["implied_vowel"] is NSNull)
                #expect(symbols[24]["vowel"] is NSNull && symbols[24]["accuracy"] is NSNull)
                #expect(symbols[0]["count"] as? Int == 0 && symbols[0]["accuracy"] is NSNull)
            }
            // Outside the initials' range: nothing, and nulls rather than zeros for ratios.
            try await client.execute(uri: "/dashboard/accuracy?from=2017-06-30&to=2017-07-01", method: .get) { response in
                let body = try Self.json(response)
                #expect(body["initials"] as? Int == 0 && body["accuracy"] is NSNull)
            }
            try await client.execute(uri: "/dashboard/accuracy?from=2017-06-30", method: .get) { response in
                RouteTests().expectError(response, .badRequest, mentioning: "to")
            }
        }
    }

    // MARK: /pipeline

    @Test func pipelineReportsCountsArchiveAndRatesOverTime() async throws {
        struct Health: HealthProbe {
            func report() async -> HealthReport {
                var archiver = ArchiverStatistics()
                archiver.events = 40
                archiver.batches = 3
                archiver.failures = 2
                archiver.retries = 2
                return HealthReport(
                    redis: .init(isUp: true, latencyMilliseconds: 0.5), mariadb: .init(isUp: false, error: "connection refused"),
                    eventLog: EventLogStatus(backlog: 7, oldestUnarchived: Timestamp(microseconds: 1_498_742_100_000_000), archived: 90, waitingRequests: 1, backlogEvents: 12),
                    archiver: archiver)
            }
        }
        let history = PipelineHistory(capacity: 3, interval: .seconds(2))
        var sample = PipelineSample(time: Timestamp(microseconds: 1_000_000))
        history.record(sample)
        sample.time = Timestamp(microseconds: 3_000_000)
        sample.initials = 10
        sample.followups = 4
        sample.rejected = 1
        sample.archivedEvents = 6
        sample.backlog = 2
        sample.lagSeconds = 0.25
        history.record(sample)
        let fixture = Fixture(observability: Observability(history: history), health: Health())
        try await fixture.app().test(.router) { client in
            try await Self.send(client, initials: [("a", 1)])
            try await client.execute(uri: "/initial?uuid=nope&symbol=a", method: .post) { #expect($0.status == .badRequest) }
            try await client.execute(uri: "/pipeline", method: .get) { response in
                #expect(response.status == .ok)
                let body = try Self.json(response)
                #expect(body["status"] as? String == "degraded")
                #expect((body["mariadb"] as? [String: Any])?["status"] as? String == "down")
                let events = try #require(body["events"] as? [String: Int])
                #expect(events == ["accepted": 2, "initials": 1, "followups": 1, "retries": 0, "followup_replays": 0, "rejected": 1, "unavailable": 0])
                #expect((body["rejected"] as? [String: Int])?["invalid_uuid"] == 1)
                let archive = try #require(body["archive"] as? [String: Any])
                #expect(archive["archived_total"] as? Int == 90 && archive["backlog"] as? Int == 12 && archive["backlog_log_entries"] as? Int == 7 && archive["failures"] as? Int == 2)
                #expect(archive["retries"] as? Int == 2 && archive["archived_by_this_process"] as? Int == 40 && archive["archiver"] as? String == "running")
                #expect((archive["lag_seconds"] as? Double ?? 0) > 0)
                let rates = try #require(body["history"] as? [String: Any])
                #expect(rates["interval_seconds"] as? Double == 2)
                #expect(rates["times"] as? [String] == ["1970-01-01 00:00:03.000000"])
                #expect(rates["accepted_per_second"] as? [Double] == [7])
                #expect(rates["rejected_per_second"] as? [Double] == [0.5])
                #expect(rates["archived_per_second"] as? [Double] == [3])
                #expect(rates["backlog"] as? [Int] == [2] && rates["lag_seconds"] as? [Double] == [0.25])
            }
        }
    }

    @Test func theHistoryKeepsTheLastSamplesInOrder() async {
        let history = PipelineHistory(capacity: 3, interval: .seconds(1))
        for second in 1...5 { history.record(PipelineSample(time: Timestamp(second: Int64(second), offset: 0))) }
        #expect(history.samples.map(\.time.second) == [3, 4, 5])
        #expect(PipelineHistory(covering: .seconds(3600), every: .seconds(5)).capacity == 720)

        // The sampler records what the health probe and the counters say.
        let counters = ServiceCounters()
        let sampler = PipelineSampler(history: history, health: RouteTests.StubHealth(), counters: counters, clock: RouteTests.clock())
        await sampler.sample()
        #expect(history.samples.last?.time == Timestamp(microseconds: RouteTests.start))
        #expect(history.samples.count == 3)
    }

    // MARK: /metrics

    @Test func metricsParseAsPrometheusTextAndFollowRequests() async throws {
        let fixture = Fixture()
        try await fixture.app().test(.router) { client in
            try await Self.send(client, initials: [("a", 1), ("e", 0)])
            try await client.execute(uri: "/initial?uuid=nope&symbol=a", method: .post)
            try await client.execute(uri: "/no/such/route", method: .get)
            try await client.execute(uri: "/initial", method: .get)
            var scrape = try await Self.scrape(client)
            #expect(scrape.types["symbolstream_http_requests_total"] == "counter")
            #expect(scrape.types["symbolstream_http_request_duration_seconds"] == "histogram")
            #expect(scrape.types["symbolstream_archive_lag_seconds"] == "gauge")
            #expect(scrape.value("symbolstream_http_requests_total", ["route": "/initial", "status": "200"]) == 2)
            #expect(scrape.value("symbolstream_http_requests_total", ["route": "/initial", "status": "400"]) == 1)
            #expect(scrape.value("symbolstream_http_requests_total", ["route": "/followup", "status": "200"]) == 1)
            #expect(scrape.value("symbolstream_http_requests_total", ["route": "unmatched", "status": "404"]) == 1)
            #expect(scrape.value("symbolstream_http_requests_total", ["route": "unmatched", "status": "405"]) == 1)
            #expect(scrape.value("symbolstream_http_request_duration_seconds_count", ["route": "/initial", "status": "200"]) == 2)
            #expect(scrape.value("symbolstream_http_request_duration_seconds_bucket", ["route": "/initial", "status": "200", "le": "+Inf"]) == 2)
            #expect(scrape.value("symbolstream_requests_rejected_total", ["reason": "invalid_uuid"]) == 1)
            #expect(scrape.value("symbolstream_requests_rejected_total", ["reason": "invalid_symbol"]) == 0)
            #expect(scrape.value("symbolstream_events_accepted_total", ["kind": "initial"]) == 2)
            #expect(scrape.value("symbolstream_dependency_up", ["dependency": "redis"]) == 1)

            // Values move as requests are made.
            for _ in 0..<3 { try await client.execute(uri: "/dashboard/symbol/e", method: .get) }
            try await client.execute(uri: "/dashboard/symbol/7", method: .get)
            try await Self.send(client, initials: [("i", 0)], firstID: 100)
            scrape = try await Self.scrape(client)
            #expect(scrape.value("symbolstream_http_requests_total", ["route": "/dashboard/symbol/{symbol}", "status": "200"]) == 3)
            #expect(scrape.value("symbolstream_http_requests_total", ["route": "/dashboard/symbol/{symbol}", "status": "400"]) == 1)
            #expect(scrape.value("symbolstream_requests_rejected_total", ["reason": "invalid_symbol"]) == 1)
            #expect(scrape.value("symbolstream_events_accepted_total", ["kind": "initial"]) == 3)
            #expect(scrape.value("symbolstream_http_requests_total", ["route": "/metrics", "status": "200"]) == 1)
        }
    }

    /// A strict reader of the Prometheus text format (0.0.4): every line is a
    /// `# TYPE`/`# HELP` comment or `name{label="value",…} number`; each
    /// sample belongs to a family declared before it; a histogram's buckets
    /// are cumulative and end with `+Inf` equal to `_count`.
    struct Scrape {
        var types: [String: String] = [:]
        var samples: [String: Double] = [:]

        static func key(_ name: String, _ labels: [String: String]) -> String {
            name + "{" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") + "}"
        }

        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? { samples[Self.key(name, labels)] }

        init(parsing text: String) throws {
            struct Malformed: Error { var line: String }
            let name = try Regex("^[a-zA-Z_:][a-zA-Z0-9_:]*$")
            let label = try Regex(#"^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"$"#)
            #expect(text.hasSuffix("\n"))
            for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
                if line.hasPrefix("# TYPE ") {
                    let parts = line.split(separator: " ")
                    guard parts.count == 4, parts[2].wholeMatch(of: name) != nil,
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3]), types[String(parts[2])] == nil
                    else { throw Malformed(line: String(line)) }
                    types[String(parts[2])] = String(parts[3])
                    continue
                }
                if line.hasPrefix("# HELP ") { continue }
                guard let space = line.lastIndex(of: " ") else { throw Malformed(line: String(line)) }
                let series = line[..<space]
                let number = line[line.index(after: space)...]
                guard let value = Double(number) ?? (number == "+Inf" ? .infinity : nil) else { throw Malformed(line: String(line)) }
                var metric = series
                var labels = [String: String]()
                if let brace = series.firstIndex(of: "{") {
                    guard series.hasSuffix("}") else { throw Malformed(line: String(line)) }
                    metric = series[..<brace]
                    let inside = series[series.index(after: brace)..<series.index(before: series.endIndex)]
                    for pair in inside.split(separator: ",") {
                        guard let match = pair.wholeMatch(of: label), let key = match.output[1].substring,
                            let text = match.output[2].substring, labels[String(key)] == nil
                        else { throw Malformed(line: String(line)) }
                        labels[String(key)] = String(text)
                    }
                }
                guard metric.wholeMatch(of: name) != nil else { throw Malformed(line: String(line)) }
                let family = ["_bucket", "_sum", "_count"].first { metric.hasSuffix($0) && types[String(metric.dropLast($0.count))] == "histogram" }
                    .map { String(metric.dropLast($0.count)) } ?? String(metric)
                guard types[family] != nil else { throw Malformed(line: "no # TYPE before: \(line)") }
                guard samples.updateValue(value, forKey: Self.key(String(metric), labels)) == nil else { throw Malformed(line: "twice: \(line)") }
            }
            // Histograms: cumulative buckets ending in +Inf == _count.
            for (family, type) in types where type == "histogram" {
                let buckets = samples.filter { $0.key.hasPrefix(family + "_bucket{") }
                var bySeries = [String: [(Double, Double)]]()
                for (key, value) in buckets {
                    let inside = key.dropFirst(family.count + "_bucket{".count).dropLast()
                    var labels = inside.split(separator: ",").map(String.init)
                    guard let le = labels.firstIndex(where: { $0.hasPrefix("le=") }) else { throw Malformed(line: key) }
                    let bound = labels.remove(at: le).dropFirst(3)
                    bySeries[labels.joined(separator: ","), default: []].append((bound == "+Inf" ? .infinity : Double(bound) ?? .nan, value))
                }
                for (labels, points) in bySeries {
                    let sorted = points.sorted { $0.0 < $1.0 }
                    #expect(zip(sorted, sorted.dropFirst()).allSatisfy { $0.1 <= $1.1 }, "\(family){\(labels)} buckets not cumulative")
                    #expect(sorted.last?.0 == .infinity && sorted.last?.1 == samples[family + "_count{" + labels + "}"], "\(family){\(labels)}")
                }
            }
        }
    }

    static func scrape(_ client: some TestClientProtocol) async throws -> Scrape {
        try await client.execute(uri: "/metrics", method: .get) { response in
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
            return try Scrape(parsing: String(buffer: response.body))
        }
    }

    // MARK: The page

    @Test func thePageIsServedAndChartJSOnlyWhenPresent() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("chart-\(UUID().uuidString).js")
        try Data("/*! Chart.js stand-in */".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let present = Fixture(observability: Observability(chartScript: ChartScript.load(path: file.path)))
        try await present.app().test(.router) { client in
            try await client.execute(uri: "/dashboard", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                let html = String(buffer: response.body)
                #expect(html.hasPrefix("<!doctype html>") && html.hasSuffix("</html>\n"))
                for part in ["/dashboard/assets/chart.js", "/dashboard/assets/dashboard.js", "/dashboard/assets/dashboard.css", "/pipeline",
                             "id=\"kpi-realtime\"", "id=\"chart-series\"", "id=\"preset\"", "type=\"datetime-local\""] {
                    #expect(html.contains(part), "\(part)")
                }
                // No inline script or style: the Content-Security-Policy allows the page's own files only.
                #expect(!html.contains("<script>") && !html.contains("<style") && !html.contains(" style=") && !html.contains(" on"))
                #expect(
                    response.headers[.contentSecurityPolicy]
                        == "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
                )
                #expect(response.headers[.xFrameOptions] == "DENY")
            }
            try await client.execute(uri: "/dashboard/assets/dashboard.js", method: .get) { response in
                #expect(response.status == .ok && response.headers[.contentType] == "text/javascript; charset=utf-8")
                let script = String(buffer: response.body)
                for part in ["/dashboard/range/", "/dashboard/series?", "/dashboard/accuracy?", "securitypolicyviolation"] {
                    #expect(script.contains(part), "\(part)")
                }
            }
            try await client.execute(uri: "/dashboard/assets/dashboard.css", method: .get) { response in
                #expect(response.status == .ok && response.headers[.contentType] == "text/css; charset=utf-8")
                #expect(String(buffer: response.body).contains("--accent"))
            }
            try await client.execute(uri: "/dashboard/assets/chart.js", method: .get) { response in
                #expect(response.status == .ok && response.headers[.contentType] == "text/javascript; charset=utf-8")
                #expect(String(buffer: response.body) == "/*! Chart.js stand-in */")
            }
        }
        let missing = Fixture(observability: Observability(chartScript: ChartScript.load(path: "/nonexistent/chart.js")))
        try await missing.app().test(.router) { client in
            try await client.execute(uri: "/dashboard/assets/chart.js", method: .get) { response in
                RouteTests().expectError(response, .notFound, mentioning: "chart-js")
                #expect(String(buffer: response.body).contains("/nonexistent/chart.js"))
            }
            try await client.execute(uri: "/dashboard", method: .post) { response in
                #expect(response.status == .methodNotAllowed)
            }
        }
    }
}

import Foundation
import Hummingbird
import Logging
import SymbolStreamCore
import Testing

@testable import SymbolStreamServer

/// openapi.yaml lists exactly the routes `buildRouter` registers: a route added
/// without its entry (or an entry left behind by a removed route) fails here.
/// The schemas themselves are checked against live answers by the fuzz run
/// (Tests/fuzz/test_fuzz.py).
@Suite struct OpenAPIRouteTests {
    static let document = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("openapi.yaml")

    /// "METHOD /path/{param}" of every operation under `paths:`. The document
    /// keeps the usual layout (a path two spaces in, its methods four), which
    /// is all this needs to read.
    static func documentedRoutes() throws -> Set<String> {
        let text = try String(contentsOf: document, encoding: .utf8)
        let methods: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
        var routes = Set<String>()
        var inPaths = false
        var path: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if !line.hasPrefix(" ") && !line.isEmpty && !line.hasPrefix("#") {
                inPaths = line.hasPrefix("paths:")
                path = nil
                continue
            }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), !line.hasPrefix("   "), line.hasSuffix(":") {
                path = String(line.dropFirst(2).dropLast())
            } else if let path, line.hasPrefix("    "), !line.hasPrefix("     "), let colon = line.firstIndex(of: ":") {
                let key = line[line.index(line.startIndex, offsetBy: 4)..<colon]
                if methods.contains(String(key)) { routes.insert("\(key.uppercased()) \(path)") }
            }
        }
        return routes
    }

    static func registeredRoutes() -> Set<String> {
        let dependencies = RouteDependencies(
            store: InMemoryEventStore(), health: RouteTests.StubHealth(), guesser: Guesser(model: GuessModel(), seed: 1),
            logger: Logger(label: "test"))
        return Set(buildRouter(dependencies).routes.map { "\($0.method.rawValue) \($0.path)" })
    }

    @Test func everyRegisteredRouteIsDocumentedAndViceVersa() throws {
        let documented = try Self.documentedRoutes()
        let registered = Self.registeredRoutes()
        #expect(registered.count >= 6)
        #expect(registered.subtracting(documented).sorted() == [], "registered but missing from openapi.yaml")
        #expect(documented.subtracting(registered).sorted() == [], "in openapi.yaml but not registered")
    }

    @Test func theReaderSeesTheDocumentsOperations() throws {
        // Guards the reader itself: a layout it misread would make the test above vacuous.
        let documented = try Self.documentedRoutes()
        #expect(documented.contains("POST /initial"))
        #expect(documented.contains("GET /dashboard/range/{lower}/{upper}"))
        #expect(!documented.contains { $0.contains("components") || $0.hasPrefix("PARAMETERS") })
    }
}

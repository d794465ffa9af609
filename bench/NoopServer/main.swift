import Hummingbird

// The framework ceiling for the benchmarks: Hummingbird answering the same
// routes while doing no work at all (no parsing, no storage).
// Usage: noop-server [port]
let port = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 5090
let router = Router()
router.post("/initial") { _, _ in "True" }
router.post("/followup") { _, _ in "hooray" }
router.get("/dashboard/symbol/:symbol") { _, _ in
    #"{"symbol":"e","count":0,"earliest":null,"latest":null,"followups":0}"#
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()

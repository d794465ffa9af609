import Hummingbird
import HummingbirdTesting
import SymbolStreamCore
import Testing

@testable import SymbolStreamServer

/// The guard in front of the routes on the server `serve` runs: requests it
/// refuses are answered with a JSON error, on the first request of a
/// connection as on a later one, and counted per reason.
@Suite struct HTTPRequestGuardTests {
    typealias T = StreamTesting

    static let limits = HTTPRequestGuard.Limits(maximumBody: 16 * 1024, maximumHeaderBytes: 8 * 1024, maximumHeaderCount: 64)

    static func app(_ dependencies: RouteDependencies) -> some ApplicationProtocol {
        Application(
            router: buildRouter(dependencies),
            server: .symbolStream(dependencies, stream: T.stream(), http1: .init(idleTimeout: .seconds(30)), limits: limits),
            logger: T.logger)
    }

    static func oversizedPost(_ uuid: String) -> [UInt8] {
        Array("POST /initial?uuid=\(uuid)&symbol=e HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n".utf8)
            + [UInt8](repeating: UInt8(ascii: "x"), count: 20000)
    }

    @Test(arguments: [0, 1, 3])
    func anOversizedBodyIsRefusedAfterAnyNumberOfRequests(answeredBefore: Int) async throws {
        let store = RecordingStore()
        let counters = ServiceCounters()
        try await Self.app(T.dependencies(store: store, counters: counters)).test(.live) { client in
            let connection = try await RawHTTPConnection(port: try #require(client.port))
            for _ in 0..<answeredBefore {
                try await connection.send("GET /dashboard/symbol/a HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
                #expect(try await connection.response()?.status == 200)
            }
            try await connection.send(Self.oversizedPost(T.uuid(1)))
            let refused = try #require(try await connection.response())
            #expect(refused.status == 413)
            #expect(refused.body == #"{"error":"body: 20000 bytes declared; no route takes more than 16384"}"#)
            await connection.close()
        }
        #expect(counters.snapshot.rejected == [.bodyTooLarge: 1])
        #expect(store.batches.isEmpty && store.singleCalls == 0)
    }

    @Test(arguments: [0, 2])
    func bytesThatAreNotHTTPAreAnsweredWithAJSONError(answeredBefore: Int) async throws {
        let counters = ServiceCounters()
        try await Self.app(T.dependencies(store: RecordingStore(), counters: counters)).test(.live) { client in
            let connection = try await RawHTTPConnection(port: try #require(client.port))
            for _ in 0..<answeredBefore {
                try await connection.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
                #expect(try await connection.response()?.status == 200)
            }
            try await connection.send("G(T /health HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
            let refused = try #require(try await connection.response())
            #expect(refused.status == 400)
            #expect(refused.body.hasPrefix(#"{"error":"request: not valid HTTP/1.1"#))
            await connection.close()
        }
        #expect(counters.snapshot.rejected == [.malformedRequest: 1])
    }
}

import Testing

@testable import RedisClient

@Suite("Cluster redirects and node addresses")
struct ClusterRedirectTests {
    static let replier = RedisNodeAddress(host: "10.0.0.9", port: 7001)

    @Test(arguments: [
        ("MOVED 3999 127.0.0.1:6381", ClusterRedirect.moved(slot: 3999, to: RedisNodeAddress(host: "127.0.0.1", port: 6381))),
        ("ASK 3999 127.0.0.1:6381", .ask(slot: 3999, to: RedisNodeAddress(host: "127.0.0.1", port: 6381))),
        // An empty endpoint: the node that replied, at the port given.
        ("MOVED 16383 :6380", .moved(slot: 16383, to: RedisNodeAddress(host: "10.0.0.9", port: 6380))),
        ("ASK 0 :6380", .ask(slot: 0, to: RedisNodeAddress(host: "10.0.0.9", port: 6380))),
        ("MOVED 12 redis-b.internal:6379", .moved(slot: 12, to: RedisNodeAddress(host: "redis-b.internal", port: 6379))),
        // IPv6 as Redis writes it (no brackets), and with them.
        ("MOVED 7 2001:db8::1:7002", .moved(slot: 7, to: RedisNodeAddress(host: "2001:db8::1", port: 7002))),
        ("ASK 7 [::1]:7002", .ask(slot: 7, to: RedisNodeAddress(host: "::1", port: 7002))),
        ("TRYAGAIN Multiple keys request during rehashing of slot", .tryAgain),
        ("CLUSTERDOWN The cluster is down", .clusterDown),
        ("CLUSTERDOWN Hash slot not served", .clusterDown),
    ])
    func parsesClusterErrors(message: String, expected: ClusterRedirect) {
        #expect(ClusterRedirect(errorMessage: message, replyingNode: Self.replier) == expected)
    }

    @Test(arguments: [
        "ERR unknown command", "MOVEDX 1 a:1", "MOVED", "MOVED 1", "MOVED abc 127.0.0.1:1", "MOVED 16384 127.0.0.1:7000",
        "MOVED 1 127.0.0.1", "MOVED 1 127.0.0.1:0", "MOVED 1 127.0.0.1:99999", "ASK 1 127.0.0.1:x", "NOSCRIPT No matching script",
        "WRONGTYPE Operation against a key holding the wrong kind of value", "",
    ])
    func ignoresOtherErrors(message: String) {
        #expect(ClusterRedirect(errorMessage: message, replyingNode: Self.replier) == nil)
    }

    @Test func parsesAddresses() {
        #expect(RedisNodeAddress("127.0.0.1:7001") == RedisNodeAddress(host: "127.0.0.1", port: 7001))
        #expect(RedisNodeAddress(" redis-a:6379 ") == RedisNodeAddress(host: "redis-a", port: 6379))
        #expect(RedisNodeAddress("[::1]:7001") == RedisNodeAddress(host: "::1", port: 7001))
        #expect(RedisNodeAddress("::1:7001") == RedisNodeAddress(host: "::1", port: 7001))
        for bad in ["", "host", "host:", ":7001", "host:0", "host:65536", "host:x", "a b:1"] {
            #expect(RedisNodeAddress(bad) == nil, "\(bad)")
        }
        #expect(RedisNodeAddress(host: "::1", port: 7001).description == "[::1]:7001")
        #expect(RedisNodeAddress(host: "127.0.0.1", port: 7001).description == "127.0.0.1:7001")
    }

    @Test func parsesSeedLists() {
        #expect(
            RedisNodeAddress.list("127.0.0.1:7001,127.0.0.1:7002, 127.0.0.1:7001")
                == [RedisNodeAddress(host: "127.0.0.1", port: 7001), RedisNodeAddress(host: "127.0.0.1", port: 7002)])
        #expect(RedisNodeAddress.list("") == nil)
        #expect(RedisNodeAddress.list("127.0.0.1:7001,") == nil)
        #expect(RedisNodeAddress.list("127.0.0.1:7001,nonsense") == nil)
    }

    @Test func configurationDescriptionHidesThePassword() {
        let configuration = RedisClusterConfiguration(
            seeds: [RedisNodeAddress(host: "a", port: 1), RedisNodeAddress(host: "b", port: 2)],
            node: RedisConfiguration(password: "s3cret"))
        #expect(configuration.description == "redis-cluster://a:1,b:2 (password set)")
        #expect(!configuration.description.contains("s3cret"))
    }
}

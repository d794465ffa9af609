import Testing

@testable import RedisClient

/// `CLUSTER SHARDS` replies as RESP2 delivers them (maps as flat arrays of
/// names and values), built field by field as Redis 7.0 writes them.
enum ShardsFixture {
    static func bulk(_ text: String) -> RESPValue { .bulkString(Array(text.utf8)) }

    static func node(
        id: String, port: Int?, ip: String = "127.0.0.1", endpoint: String? = nil, role: String, health: String = "online",
        tlsPort: Int? = nil
    ) -> RESPValue {
        var fields: [RESPValue] = [bulk("id"), bulk(id)]
        if let port { fields += [bulk("port"), .integer(Int64(port))] }
        if let tlsPort { fields += [bulk("tls-port"), .integer(Int64(tlsPort))] }
        fields += [bulk("ip"), bulk(ip), bulk("endpoint"), bulk(endpoint ?? ip)]
        fields += [bulk("role"), bulk(role), bulk("replication-offset"), .integer(1234), bulk("health"), bulk(health)]
        return .array(fields)
    }

    static func shard(slots: [Int], nodes: [RESPValue]) -> RESPValue {
        .array([bulk("slots"), .array(slots.map { .integer(Int64($0)) }), bulk("nodes"), .array(nodes)])
    }

    /// What `redis-cli --cluster create` of six local nodes gives: shards
    /// listed in the server's order (not by slot), replicas after primaries.
    static let threeShards: RESPValue = .array([
        shard(
            slots: [10923, 16383],
            nodes: [
                node(id: "c", port: 7003, role: "master"), node(id: "e", port: 7005, role: "replica", health: "loading"),
            ]),
        shard(
            slots: [0, 5460],
            nodes: [node(id: "a", port: 7001, role: "master"), node(id: "f", port: 7006, role: "replica")]),
        shard(
            slots: [5461, 10922],
            nodes: [node(id: "b", port: 7002, role: "master"), node(id: "d", port: 7004, role: "replica")]),
    ])

    static let replier = RedisNodeAddress(host: "10.0.0.9", port: 7001)

    static func address(_ port: Int) -> RedisNodeAddress { RedisNodeAddress(host: "127.0.0.1", port: port) }
}

@Suite("Cluster slot map from CLUSTER SHARDS")
struct ClusterSlotMapTests {
    typealias F = ShardsFixture

    @Test func readsThreeShards() throws {
        let map = try ClusterSlotMap(clusterShardsReply: F.threeShards, replyingNode: F.replier)
        #expect(map.shards.map(\.primary.address.port) == [7001, 7002, 7003])
        #expect(map.shards.map(\.slots) == [[0...5460], [5461...10922], [10923...16383]])
        #expect(map.shards.map { $0.replicas.map(\.address.port) } == [[7006], [7004], [7005]])
        #expect(map.shards[2].replicas[0].health == .loading)
        #expect(map.shards.map(\.primary.id) == ["a", "b", "c"])
        for (slot, port) in [(0, 7001), (5460, 7001), (5461, 7002), (10922, 7002), (10923, 7003), (16383, 7003)] {
            #expect(map.primary(forSlot: UInt16(slot))?.address == F.address(port), "slot \(slot)")
        }
        #expect(map.unassignedSlots.isEmpty)
        #expect(map.addresses.map(\.port) == [7001, 7002, 7003, 7006, 7004, 7005])
        // Keys land where their CRC16 slot says: "foo" is slot 12182, the third shard.
        #expect(map.primary(forSlot: HashSlot.of(key: "foo"))?.address == F.address(7003))
    }

    @Test func manyRangesPerShardAfterAMigration() throws {
        // Slot 100 moved from the first shard to the second.
        let reply: RESPValue = .array([
            F.shard(slots: [0, 99, 101, 5460], nodes: [F.node(id: "a", port: 7001, role: "master")]),
            F.shard(slots: [100, 100, 5461, 16383], nodes: [F.node(id: "b", port: 7002, role: "master")]),
        ])
        let map = try ClusterSlotMap(clusterShardsReply: reply, replyingNode: F.replier)
        #expect(map.primary(forSlot: 99)?.id == "a")
        #expect(map.primary(forSlot: 100)?.id == "b")
        #expect(map.primary(forSlot: 101)?.id == "a")
        #expect(map.shards[1].slots == [100...100, 5461...16383])
        #expect(map.unassignedSlots.isEmpty)
    }

    @Test func slotsMayComeAsBulkStrings() throws {
        let reply: RESPValue = .array([
            .array([
                F.bulk("slots"), .array([F.bulk("0"), F.bulk("16383")]), F.bulk("nodes"),
                .array([F.node(id: "a", port: 7001, role: "master")]),
            ])
        ])
        let map = try ClusterSlotMap(clusterShardsReply: reply, replyingNode: F.replier)
        #expect(map.primary(forSlot: 16383)?.id == "a")
    }

    @Test func unassignedSlotsAreReported() throws {
        let reply: RESPValue = .array([
            F.shard(slots: [0, 99, 200, 16382], nodes: [F.node(id: "a", port: 7001, role: "master")])
        ])
        let map = try ClusterSlotMap(clusterShardsReply: reply, replyingNode: F.replier)
        #expect(map.unassignedSlots == [100...199, 16383...16383])
        #expect(map.primary(forSlot: 150) == nil)
        #expect(map.shardIndex(forSlot: 16383) == nil)
    }

    @Test func aFreshClusterNodeServesNoSlot() throws {
        // `CLUSTER SHARDS` of a node in cluster mode before `--cluster create`.
        let reply: RESPValue = .array([F.shard(slots: [], nodes: [F.node(id: "a", port: 7001, role: "master")])])
        let map = try ClusterSlotMap(clusterShardsReply: reply, replyingNode: F.replier)
        #expect(map.shards.count == 1)
        #expect(map.unassignedSlots == [0...16383])
    }

    @Test func afterAFailoverTheFormerPrimaryServesNothing() throws {
        // Redis 7.0 lists each primary as a shard: the failed former primary
        // comes as a shard of its own, without slots.
        let reply: RESPValue = .array([
            F.shard(slots: [], nodes: [F.node(id: "a", port: 7001, role: "master", health: "fail")]),
            F.shard(slots: [0, 16383], nodes: [F.node(id: "f", port: 7006, role: "master")]),
        ])
        let map = try ClusterSlotMap(clusterShardsReply: reply, replyingNode: F.replier)
        #expect(map.primary(forSlot: 0)?.address == F.address(7006))
        #expect(map.shards.map(\.primary.address.port) == [7006, 7001])
        #expect(map.shards[1].primary.health == .failed)
        #expect(map.shards[1].slots.isEmpty)
    }

    @Test func ofTwoPrimariesInOneShardTheHealthyOneServes() throws {
        // Servers that group shards by shard id list the failed former
        // primary beside the new one.
        let reply: RESPValue = .array([
            F.shard(
                slots: [0, 16383],
                nodes: [
                    F.node(id: "a", port: 7001, role: "master", health: "fail"), F.node(id: "f", port: 7006, role: "primary"),
                ])
        ])
        let map = try ClusterSlotMap(clusterShardsReply: reply, replyingNode: F.replier)
        #expect(map.primary(forSlot: 0)?.id == "f")
    }

    @Test func unknownEndpointsAreReachedAtTheReplyingHost() throws {
        let reply: RESPValue = .array([
            F.shard(slots: [0, 8191], nodes: [F.node(id: "a", port: 7001, ip: "192.168.1.5", endpoint: "?", role: "master")]),
            F.shard(slots: [8192, 16383], nodes: [F.node(id: "b", port: 7002, ip: "", endpoint: "", role: "master")]),
        ])
        let map = try ClusterSlotMap(clusterShardsReply: reply, replyingNode: F.replier)
        #expect(map.primary(forSlot: 0)?.address == RedisNodeAddress(host: "192.168.1.5", port: 7001))
        #expect(map.primary(forSlot: 8192)?.address == RedisNodeAddress(host: "10.0.0.9", port: 7002))
    }

    @Test func hostnameEndpointsAreUsed() throws {
        let reply: RESPValue = .array([
            F.shard(slots: [0, 16383], nodes: [F.node(id: "a", port: 6379, ip: "10.1.1.1", endpoint: "redis-a.internal", role: "master")])
        ])
        let map = try ClusterSlotMap(clusterShardsReply: reply, replyingNode: F.replier)
        #expect(map.primary(forSlot: 1)?.address == RedisNodeAddress(host: "redis-a.internal", port: 6379))
    }

    @Test func tlsOnlyReplicasAreSkipped() throws {
        let reply: RESPValue = .array([
            F.shard(
                slots: [0, 16383],
                nodes: [F.node(id: "a", port: 7001, role: "master"), F.node(id: "t", port: nil, role: "replica", tlsPort: 8001)])
        ])
        let map = try ClusterSlotMap(clusterShardsReply: reply, replyingNode: F.replier)
        #expect(map.shards[0].replicas.isEmpty)
    }

    @Test func mapsCompareByRouting() throws {
        let map = try ClusterSlotMap(clusterShardsReply: F.threeShards, replyingNode: F.replier)
        let again = try ClusterSlotMap(clusterShardsReply: F.threeShards, replyingNode: F.replier)
        #expect(map == again)
        #expect(map.routesLike(again))
        #expect(!map.routesLike(.empty))
    }

    @Test(arguments: [
        (RESPValue.simpleString("OK"), "not an array"),
        (.array([.array([F.bulk("slots")])]), "not a list of names and values"),
        (.array([.array([F.bulk("slots"), .array([])])]), "lacks its slots or nodes"),
        (.array([F.shard(slots: [0], nodes: [F.node(id: "a", port: 7001, role: "master")])]), "not start-end pairs"),
        (.array([F.shard(slots: [5, 4], nodes: [F.node(id: "a", port: 7001, role: "master")])]), "bad slot range"),
        (.array([F.shard(slots: [0, 16384], nodes: [F.node(id: "a", port: 7001, role: "master")])]), "bad slot range"),
        (.array([F.shard(slots: [0, 10], nodes: [F.node(id: "a", port: 7001, role: "replica")])]), "has no primary"),
        (
            .array([
                F.shard(slots: [0, 10], nodes: [F.node(id: "a", port: 7001, role: "master")]),
                F.shard(slots: [10, 20], nodes: [F.node(id: "b", port: 7002, role: "master")]),
            ]), "slot 10 is claimed by both"
        ),
    ])
    func rejectsReplies(reply: RESPValue, problem: String) {
        #expect {
            try ClusterSlotMap(clusterShardsReply: reply, replyingNode: F.replier)
        } throws: { error in
            "\(error)".contains(problem)
        }
    }
}

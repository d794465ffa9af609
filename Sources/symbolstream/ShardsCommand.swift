import ArgumentParser
import Foundation
import RedisClient
import RedisStore
import ServiceLifecycle

/// `symbolstream shards`: where each shard of the layout lives. A shard's
/// keys share one hash tag, so a shard is one Redis Cluster slot: moving a
/// shard to another primary is moving that slot (docs/scaling.md).
struct ShardsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shards",
        abstract: "Print each shard of the layout: its Redis Cluster slot, its keys' prefix, and the node serving it (primary, replicas).",
        discussion: "Writes nothing. On a single server every shard is on it.")

    @OptionGroup var stores: StoreOptions

    func run() async throws {
        let logger = try stores.makeLogger(label: "symbolstream.shards")
        let layout = try stores.layout()
        var configuration = try stores.redis()
        configuration.commandTimeout = .seconds(10)
        let seeds = try stores.clusterSeeds()
        let topology = RedisStoreClient.topology(configuration: configuration, clusterSeeds: seeds, logger: logger)
        let client = RedisStoreClient(redis: topology, layout: layout)
        let lines = try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await topology.run() }
            defer { group.cancelAll() }
            // Print what can be known even with a node down: wait for a map
            // only (cluster), not for every node.
            let clock = ContinuousClock()
            let deadline = clock.now.advanced(by: .seconds(10))
            var map = ClusterSlotMap.empty
            if let cluster = topology as? RedisClusterClient {
                while cluster.slotMap.shards.isEmpty, clock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
                map = cluster.slotMap
                if map.shards.isEmpty {
                    throw ShardsError(description: "no Redis Cluster map within 10 s: \(cluster.unavailableReason ?? "no reason known")")
                }
            } else {
                try await topology.waitUntilAvailable(timeout: .seconds(10))
            }
            let recorded: String
            do {
                recorded = try await RedisAdmin(redis: client).recordedShardCount().map { "Redis records \($0)" } ?? "none recorded yet"
            } catch {
                recorded = "the record is unreadable now: \(error)"
            }
            var lines = ["prefix \(layout.prefix), \(layout.shardCount) shards (\(recorded))"]
            lines.append(Self.row("shard", "slot", "keys", "primary", "replicas"))
            for shard in layout.shards {
                if seeds.isEmpty {
                    lines.append(Self.row("\(shard.index)", "\(shard.slot)", shard.prefix + "…", "\(configuration.host):\(configuration.port)", "-"))
                } else if let owner = map.shardIndex(forSlot: shard.slot).map({ map.shards[$0] }) {
                    let primary = "\(owner.primary.address)" + (owner.primary.health == .online ? "" : " (\(owner.primary.health))")
                    let replicas = owner.replicas.map { "\($0.address)" + ($0.health == .online ? "" : " (\($0.health))") }
                    lines.append(Self.row("\(shard.index)", "\(shard.slot)", shard.prefix + "…", primary, replicas.isEmpty ? "-" : replicas.joined(separator: ",")))
                } else {
                    lines.append(Self.row("\(shard.index)", "\(shard.slot)", shard.prefix + "…", "no node serves this slot", "-"))
                }
            }
            return lines
        }
        for line in lines { print(line) }
    }

    static func row(_ columns: String...) -> String {
        let widths = [6, 6, 14, 24]
        return zip(columns, widths + [0]).map { column, width in column.padding(toLength: max(width, column.count + 1), withPad: " ", startingAt: 0) }
            .joined().trimmingCharacters(in: .whitespaces)
    }
}

struct ShardsError: Error, CustomStringConvertible {
    var description: String
}

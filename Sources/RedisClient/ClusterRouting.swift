/// The routing table requests read: a slot map and the pool of each of its
/// primaries. Immutable; a refresh builds a new one and swaps it in, so a
/// request routes with one lock-protected read of a reference and two array
/// reads, and a change never shows half done.
final class ClusterRouting: Sendable {
    let map: ClusterSlotMap
    /// The pool of each shard's primary, by index in `map.shards`; nil for a
    /// shard that gets none (a failed former primary that serves no slot).
    let nodes: [ClusterNode?]
    /// Whether every slot has an owner.
    let coversAllSlots: Bool
    /// Why a slot has no node, when the map is empty: no map yet, or stopped.
    let emptyReason: String

    init(map: ClusterSlotMap, nodes: [ClusterNode?], emptyReason: String = "") {
        precondition(map.shards.count == nodes.count)
        self.map = map
        self.nodes = nodes
        self.coversAllSlots = map.unassignedSlots.isEmpty
        self.emptyReason = emptyReason
    }

    /// No map at all, for `reason`.
    static func empty(_ reason: String) -> ClusterRouting {
        ClusterRouting(map: .empty, nodes: [], emptyReason: reason)
    }

    /// The pool of the primary that serves `slot`.
    @inline(__always)
    func node(forSlot slot: UInt16) -> ClusterNode? {
        guard let index = map.shardIndex(forSlot: slot) else { return nil }
        return nodes[index]
    }

    /// The pool of the primary at `address`, if it is one.
    func node(at address: RedisNodeAddress) -> ClusterNode? {
        for case let node? in nodes where node.address == address { return node }
        return nil
    }

    /// Why `slot` has no pool to go to.
    func unavailableReason(slot: UInt16) -> String {
        if map.shards.isEmpty { return "Redis Cluster: \(emptyReason)" }
        if let primary = map.primary(forSlot: slot) {
            return "Redis Cluster: slot \(slot)'s primary \(primary.address) is \(primary.health)"
        }
        return "Redis Cluster: slot \(slot) is served by no node (CLUSTERDOWN)"
    }
}

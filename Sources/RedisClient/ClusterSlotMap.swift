/// Which primary serves each hash slot of a Redis Cluster, as one node
/// described it (`CLUSTER SHARDS`). Immutable: a refresh builds a new map and
/// swaps it in whole, so routing a command is one array read with no lock on
/// the map itself.
package struct ClusterSlotMap: Sendable, Equatable {
    /// What `CLUSTER SHARDS` says of a node's health.
    package enum Health: Sendable, Hashable {
        case online
        /// Loading its data set (after a restart): not serving yet.
        case loading
        /// Marked failed by the cluster (`fail`), or any state we do not know.
        case failed
    }

    package struct Node: Sendable, Hashable {
        package var id: String
        package var address: RedisNodeAddress
        package var health: Health
    }

    /// A primary, the slots it serves (inclusive ranges, ascending) and its replicas.
    package struct Shard: Sendable, Hashable {
        package var primary: Node
        package var slots: [ClosedRange<UInt16>]
        package var replicas: [Node]

        package init(primary: Node, slots: [ClosedRange<UInt16>], replicas: [Node] = []) {
            self.primary = primary
            self.slots = slots
            self.replicas = replicas
        }
    }

    /// Every shard with a primary: those that serve slots first, by their
    /// first slot, then slotless ones (a node just added, a failed former
    /// primary) by address.
    package let shards: [Shard]
    /// For each slot, the index in `shards` of its owner, or `Self.unassigned`.
    private let owners: [UInt16]

    static let unassigned = UInt16.max

    /// A map in which no slot has an owner (before the first refresh).
    package static let empty = ClusterSlotMap(validatedShards: [])

    /// Builds the map; a slot claimed by two shards is an error (no node
    /// reports such a view of its own cluster).
    package init(shards: [Shard]) throws(ClusterMapError) {
        let sorted = shards.sorted(by: Self.order)
        var owners = [UInt16](repeating: Self.unassigned, count: Int(HashSlot.count))
        for (index, shard) in sorted.enumerated() {
            for range in shard.slots {
                guard range.upperBound < HashSlot.count else {
                    throw ClusterMapError("slot range \(range.lowerBound)-\(range.upperBound) is beyond slot \(HashSlot.count - 1)")
                }
                for slot in range {
                    guard owners[Int(slot)] == Self.unassigned else {
                        throw ClusterMapError(
                            "slot \(slot) is claimed by both \(sorted[Int(owners[Int(slot)])].primary.address) and \(shard.primary.address)")
                    }
                    owners[Int(slot)] = UInt16(index)
                }
            }
        }
        self.shards = sorted
        self.owners = owners
    }

    private init(validatedShards: [Shard]) {
        self.shards = validatedShards
        self.owners = [UInt16](repeating: Self.unassigned, count: Int(HashSlot.count))
    }

    private static func order(_ a: Shard, _ b: Shard) -> Bool {
        switch (a.slots.first?.lowerBound, b.slots.first?.lowerBound) {
        case let (x?, y?): return x < y
        case (.some, nil): return true
        case (nil, .some): return false
        case (nil, nil): return (a.primary.address.host, a.primary.address.port) < (b.primary.address.host, b.primary.address.port)
        }
    }

    /// The index in ``shards`` of the shard that serves `slot`, if any.
    @inline(__always)
    package func shardIndex(forSlot slot: UInt16) -> Int? {
        let owner = self.owners[Int(slot & (HashSlot.count - 1))]
        return owner == Self.unassigned ? nil : Int(owner)
    }

    /// The primary that serves `slot`, if any.
    package func primary(forSlot slot: UInt16) -> Node? {
        shardIndex(forSlot: slot).map { shards[$0].primary }
    }

    /// Slots no shard serves, as ascending ranges.
    package var unassignedSlots: [ClosedRange<UInt16>] {
        var ranges: [ClosedRange<UInt16>] = []
        var start: Int? = nil
        for slot in 0...Int(HashSlot.count) {
            let free = slot < Int(HashSlot.count) && owners[slot] == Self.unassigned
            if free, start == nil { start = slot }
            if !free, let first = start {
                ranges.append(UInt16(first)...UInt16(slot - 1))
                start = nil
            }
        }
        return ranges
    }

    /// Every node the map names, primaries first: where to ask next time.
    package var addresses: [RedisNodeAddress] {
        var result: [RedisNodeAddress] = []
        for shard in shards where !result.contains(shard.primary.address) { result.append(shard.primary.address) }
        for shard in shards {
            for replica in shard.replicas where !result.contains(replica.address) { result.append(replica.address) }
        }
        return result
    }

    /// Two maps route alike: the same primaries at the same addresses serve
    /// the same slots (health and replicas aside).
    package func routesLike(_ other: ClusterSlotMap) -> Bool {
        owners == other.owners && shards.map(\.primary.address) == other.shards.map(\.primary.address)
    }

    package static func == (a: ClusterSlotMap, b: ClusterSlotMap) -> Bool {
        a.shards == b.shards
    }
}

/// A `CLUSTER SHARDS` reply that does not describe a usable cluster.
package struct ClusterMapError: Error, Sendable, Hashable, CustomStringConvertible {
    package var description: String

    package init(_ description: String) {
        self.description = description
    }
}

extension ClusterSlotMap.Shard: CustomStringConvertible {
    package var description: String {
        let slots = slots.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ",")
        return "\(primary.address) [\(slots.isEmpty ? "no slots" : slots)]\(primary.health == .online ? "" : " (\(primary.health))")"
    }
}

extension ClusterSlotMap: CustomStringConvertible {
    package var description: String {
        shards.isEmpty ? "no shards" : shards.map(\.description).joined(separator: ", ")
    }
}

// MARK: - CLUSTER SHARDS

extension ClusterSlotMap {
    /// Reads a `CLUSTER SHARDS` reply (Redis 7.0+; RESP2, where each map is a
    /// flat array of names and values).
    ///
    /// - Parameter replyingNode: The node that sent the reply: a node whose
    ///   endpoint is unknown to the cluster (`?` or empty) is reached at that
    ///   node's host, as Redis' specification asks of `MOVED` with no host.
    ///
    /// A shard's primary is its node of role `master` (`primary` in Valkey);
    /// when a shard lists two (a failed former primary beside the new one, as
    /// servers that group shards by shard id do), the healthiest one wins.
    /// Nodes without a plain TCP `port` (TLS only) are skipped: this client
    /// does not speak TLS.
    package init(clusterShardsReply reply: RESPValue, replyingNode: RedisNodeAddress) throws(ClusterMapError) {
        guard let shardReplies = reply.array else {
            throw ClusterMapError("CLUSTER SHARDS replied \(reply), not an array of shards")
        }
        var shards: [Shard] = []
        for shardReply in shardReplies {
            let fields = try Self.fields(shardReply, what: "shard")
            guard let slotValues = fields["slots"]?.array, let nodeValues = fields["nodes"]?.array else {
                throw ClusterMapError("a shard of CLUSTER SHARDS lacks its slots or nodes")
            }
            let slots = try Self.slotRanges(slotValues)
            var primaries: [Node] = []
            var replicas: [Node] = []
            for nodeValue in nodeValues {
                let node = try Self.nodeFields(nodeValue, replyingNode: replyingNode)
                guard let parsed = node.parsed else { continue }
                if node.isPrimary { primaries.append(parsed) } else { replicas.append(parsed) }
            }
            // The healthiest primary serves; any other is a former one, gone.
            guard let primary = primaries.min(by: { Self.rank($0.health) < Self.rank($1.health) }) else {
                // A shard without a primary serves nothing; the cluster will
                // promote a replica or report the slots down.
                if !slots.isEmpty {
                    throw ClusterMapError("the shard of slots \(slots.first!.lowerBound)-\(slots.last!.upperBound) has no primary")
                }
                continue
            }
            shards.append(Shard(primary: primary, slots: slots, replicas: replicas.sorted { $0.address.description < $1.address.description }))
        }
        try self.init(shards: shards)
    }

    private static func rank(_ health: Health) -> Int {
        switch health {
        case .online: 0
        case .loading: 1
        case .failed: 2
        }
    }

    /// A RESP2 map: an array of alternating names and values.
    private static func fields(_ value: RESPValue, what: String) throws(ClusterMapError) -> [String: RESPValue] {
        guard let elements = value.array, elements.count % 2 == 0 else {
            throw ClusterMapError("a \(what) of CLUSTER SHARDS is not a list of names and values: \(value)")
        }
        var fields: [String: RESPValue] = [:]
        for index in stride(from: 0, to: elements.count, by: 2) {
            guard let name = elements[index].string else {
                throw ClusterMapError("a \(what) of CLUSTER SHARDS has a field name that is not a string: \(elements[index])")
            }
            fields[name] = elements[index + 1]
        }
        return fields
    }

    private static func slotRanges(_ values: [RESPValue]) throws(ClusterMapError) -> [ClosedRange<UInt16>] {
        guard values.count % 2 == 0 else { throw ClusterMapError("CLUSTER SHARDS slots are not start-end pairs: \(values)") }
        var ranges: [ClosedRange<UInt16>] = []
        for index in stride(from: 0, to: values.count, by: 2) {
            guard let start = values[index].int, let end = values[index + 1].int,
                start >= 0, start <= end, end < Int64(HashSlot.count)
            else {
                throw ClusterMapError("CLUSTER SHARDS has a bad slot range \(values[index])-\(values[index + 1])")
            }
            ranges.append(UInt16(start)...UInt16(end))
        }
        return ranges.sorted { $0.lowerBound < $1.lowerBound }
    }

    private static func nodeFields(
        _ value: RESPValue, replyingNode: RedisNodeAddress
    ) throws(ClusterMapError) -> (parsed: Node?, isPrimary: Bool) {
        let fields = try Self.fields(value, what: "node")
        guard let role = fields["role"]?.string else { throw ClusterMapError("a node of CLUSTER SHARDS has no role") }
        let isPrimary = role == "master" || role == "primary"
        guard let portValue = fields["port"]?.int, portValue > 0, portValue <= 65535 else { return (nil, isPrimary) }
        var host = fields["endpoint"]?.string ?? ""
        if host.isEmpty || host == "?" { host = fields["ip"]?.string ?? "" }
        if host.isEmpty || host == "?" { host = replyingNode.host }
        let health: Health =
            switch fields["health"]?.string {
            case "online", nil: .online
            case "loading": .loading
            default: .failed
            }
        let node = Node(id: fields["id"]?.string ?? "", address: RedisNodeAddress(host: host, port: Int(portValue)), health: health)
        return (node, isPrimary)
    }
}

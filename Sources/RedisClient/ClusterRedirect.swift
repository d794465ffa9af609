/// What a cluster node's error reply asks of the client. Each of these means
/// the command did not run, so sending it again is safe.
enum ClusterRedirect: Sendable, Hashable {
    /// `MOVED <slot> <host>:<port>`: the slot belongs to another primary for
    /// good; send there, and re-read the map.
    case moved(slot: UInt16, to: RedisNodeAddress)
    /// `ASK <slot> <host>:<port>`: the slot is being migrated and this key
    /// is already (or is to be created) at the target; send `ASKING` and the
    /// command there, once, and leave the map as it is.
    case ask(slot: UInt16, to: RedisNodeAddress)
    /// `TRYAGAIN …`: a multi-key command whose keys are split by a migration
    /// in progress; send it again shortly.
    case tryAgain
    /// `CLUSTERDOWN …`: the cluster (or this slot) is not served right now.
    case clusterDown

    /// Parses an error reply; nil for any error that is not about the cluster.
    ///
    /// - Parameter replyingNode: Where the reply came from: a redirect with an
    ///   empty host (`MOVED 3999 :6380`, a node whose endpoint is unknown)
    ///   means that node's host.
    init?(errorMessage message: String, replyingNode: RedisNodeAddress) {
        let utf8 = message.utf8
        // Cheap first-byte test: this runs for every error reply.
        guard let first = utf8.first, first == UInt8(ascii: "M") || first == UInt8(ascii: "A") || first == UInt8(ascii: "T") || first == UInt8(ascii: "C")
        else { return nil }
        if message.hasPrefix("TRYAGAIN") {
            self = .tryAgain
            return
        }
        if message.hasPrefix("CLUSTERDOWN") {
            self = .clusterDown
            return
        }
        let isMoved = message.hasPrefix("MOVED ")
        guard isMoved || message.hasPrefix("ASK ") else { return nil }
        let parts = message.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 3, let slot = UInt16(parts[1]), slot < HashSlot.count,
            let colon = parts[2].lastIndex(of: ":"), let port = Int(parts[2][parts[2].index(after: colon)...]),
            (1...65535).contains(port)
        else { return nil }
        var host = parts[2][..<colon]
        if host.first == "[", host.last == "]" { host = host.dropFirst().dropLast() }
        let target = RedisNodeAddress(host: host.isEmpty ? replyingNode.host : String(host), port: port)
        self = isMoved ? .moved(slot: slot, to: target) : .ask(slot: slot, to: target)
    }
}

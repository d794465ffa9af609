/// Where a Redis Cluster is and how ``RedisClusterClient`` talks to it.
package struct RedisClusterConfiguration: Sendable {
    /// Nodes to ask for the slot map: any of the cluster's nodes (one is
    /// enough; more survive that one being down). The map then names the rest.
    package var seeds: [RedisNodeAddress]
    /// How to talk to each node: credentials, timeouts, connections per node
    /// (``RedisConfiguration/connectionCount``). Its host and port are not
    /// used, and its database must be 0 (a cluster has no other).
    package var node: RedisConfiguration
    /// How often the map is re-read while everything works: catches a
    /// change (resharding, failover, a node added) before a `MOVED` does.
    package var refreshInterval: Duration
    /// How often it is re-read while a slot has no reachable primary or the
    /// map cannot be had: a failover shows within this much of the cluster
    /// deciding it.
    package var degradedRefreshInterval: Duration
    /// At most one re-read per this interval however many `MOVED`s,
    /// `CLUSTERDOWN`s or lost connections ask for one.
    package var minimumRefreshGap: Duration
    /// Redirects (`MOVED`, `ASK`, `TRYAGAIN`) followed for one command before
    /// it fails as unavailable.
    package var maximumRedirects: Int
    /// The pause before a command that got `TRYAGAIN` is sent again.
    package var tryAgainDelay: Duration

    package init(
        seeds: [RedisNodeAddress],
        node: RedisConfiguration = RedisConfiguration(),
        refreshInterval: Duration = .seconds(5),
        degradedRefreshInterval: Duration = .milliseconds(100),
        minimumRefreshGap: Duration = .milliseconds(20),
        maximumRedirects: Int = 5,
        tryAgainDelay: Duration = .milliseconds(20)
    ) {
        self.seeds = seeds
        self.node = node
        self.refreshInterval = refreshInterval
        self.degradedRefreshInterval = degradedRefreshInterval
        self.minimumRefreshGap = minimumRefreshGap
        self.maximumRedirects = maximumRedirects
        self.tryAgainDelay = tryAgainDelay
    }

    /// The per-node configuration for the server at `address`.
    func node(at address: RedisNodeAddress) -> RedisConfiguration {
        var configuration = self.node
        configuration.host = address.host
        configuration.port = address.port
        return configuration
    }
}

extension RedisClusterConfiguration: CustomStringConvertible {
    /// Names the seeds and the user, never the password.
    package var description: String {
        let user = node.username.map { "\($0)@" } ?? ""
        return "redis-cluster://\(user)\(seeds.map(\.description).joined(separator: ","))\(node.password == nil ? "" : " (password set)")"
    }
}

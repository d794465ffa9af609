/// Where one Redis server listens: a host (name or IP address) and a port.
package struct RedisNodeAddress: Sendable, Hashable {
    package var host: String
    package var port: Int

    package init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`, `[IPv6]:port`, or `IPv6:port` (the last colon
    /// separates the port, as in Redis' own `MOVED` replies).
    package init?(_ text: some StringProtocol) {
        let text = Substring(text).trimmingSpaces
        guard let colon = text.lastIndex(of: ":"),
            let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port)
        else { return nil }
        var host = text[..<colon]
        if host.first == "[", host.last == "]" { host = host.dropFirst().dropLast() }
        guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "," }) else { return nil }
        self.init(host: String(host), port: port)
    }

    /// Parses a comma-separated list such as `--redis-cluster`'s
    /// `127.0.0.1:7001,127.0.0.1:7002`; nil when it is empty or any entry is
    /// not `host:port`.
    package static func list(_ text: String) -> [RedisNodeAddress]? {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        var addresses: [RedisNodeAddress] = []
        for part in parts {
            guard let address = RedisNodeAddress(part) else { return nil }
            if !addresses.contains(address) { addresses.append(address) }
        }
        return addresses.isEmpty ? nil : addresses
    }
}

extension RedisNodeAddress: CustomStringConvertible {
    package var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var text = self
        while text.first == " " { text.removeFirst() }
        while text.last == " " { text.removeLast() }
        return text
    }
}

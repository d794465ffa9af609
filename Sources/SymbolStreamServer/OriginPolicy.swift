import Foundation

/// Which web pages may open a `/stream` WebSocket (`--stream-allowed-origins`).
///
/// A browser lets any page open a WebSocket to any server and sends the
/// page's `Origin` with the handshake; it is the server's to refuse (the
/// same-origin policy does not cover WebSockets). Without this, any site a
/// user visits could push events into the service from the user's browser.
/// Clients that are not browsers send no `Origin`, or one naming the socket
/// they connect to (`ws://host`, as swift-websocket's client does), and are
/// let in: the check is against pages, not a form of authentication.
///
/// Allowed: a handshake without `Origin` or with a `ws:`/`wss:` one (no page
/// has such an origin, and a page cannot choose its `Origin`); one whose
/// origin is the server's own (its host and port are the `Host` header's);
/// one listed. `*` allows every origin. Refused: every other page, and
/// `null` (a sandboxed page or a local file).
package struct OriginPolicy: Sendable, Hashable {
    /// Listed origins, normalized (`scheme://host:port`, lower case).
    package private(set) var listed: Set<String> = []
    package private(set) var allowsEveryOrigin = false

    /// Same origin and non-browser clients only.
    package init() {}

    /// A comma-separated list of origins (`https://dash.example.com`,
    /// `http://localhost:8080`) or `*`; empty for the default.
    package init(parsing list: String) throws(OriginPolicyError) {
        for item in list.split(separator: ",") {
            let entry = String(item.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
            guard !entry.isEmpty else { continue }
            if entry == "*" {
                allowsEveryOrigin = true
            } else if let origin = Origin(parsing: entry) {
                listed.insert(origin.normalized)
            } else {
                throw OriginPolicyError(entry: entry)
            }
        }
    }

    /// Whether a handshake with this `Origin` (nil: none) and `Host` may go on.
    package func allows(origin: String?, host: String?) -> Bool {
        guard let origin else { return true }
        if allowsEveryOrigin { return true }
        // `null` (a sandboxed page, a file) and anything unreadable: refused.
        guard let parsed = Origin(parsing: origin) else { return false }
        if parsed.scheme == "ws" || parsed.scheme == "wss" { return true }
        if listed.contains(parsed.normalized) { return true }
        return host.flatMap { parsed.isServed(byHost: $0) } ?? false
    }
}

package struct OriginPolicyError: Error, CustomStringConvertible {
    package var entry: String
    package var description: String {
        "'\(entry)' is not an origin like https://example.com or http://localhost:8080 (or * for any)"
    }
}

/// `scheme://host[:port]`, as browsers send it in `Origin`.
struct Origin: Hashable {
    var scheme: String
    var host: String
    var port: Int

    init?(parsing text: String) {
        guard let separator = text.range(of: "://") else { return nil }
        let scheme = text[..<separator.lowerBound].lowercased()
        guard !scheme.isEmpty, scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) }) else { return nil }
        guard let authority = Authority(parsing: text[separator.upperBound...]) else { return nil }
        guard let port = authority.port ?? Self.defaultPort(scheme) else { return nil }
        self.scheme = scheme
        self.host = authority.host
        self.port = port
    }

    var normalized: String { "\(scheme)://\(host):\(port)" }

    /// Whether a server reached as `host` (the `Host` header: `host[:port]`,
    /// without a port the default of this origin's scheme) is this origin's.
    func isServed(byHost host: String) -> Bool {
        guard let authority = Authority(parsing: Substring(host)) else { return false }
        return authority.host == self.host && (authority.port ?? Self.defaultPort(scheme)) == port
    }

    static func defaultPort(_ scheme: String) -> Int? {
        switch scheme {
        case "http", "ws": 80
        case "https", "wss": 443
        default: nil
        }
    }
}

/// `host[:port]`: a name, an IPv4 address or a bracketed IPv6 address.
private struct Authority {
    var host: String
    var port: Int?

    init?(parsing text: Substring) {
        var hostPart = text
        var portPart: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            hostPart = text[...close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return nil }
                portPart = rest.dropFirst()
            }
        } else if let colon = text.lastIndex(of: ":") {
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        }
        let allowed = { (c: Character) in c.isASCII && (c.isLetter || c.isNumber || "-._~[]:".contains(c)) }
        guard !hostPart.isEmpty, hostPart.allSatisfy(allowed) else { return nil }
        if let portPart {
            guard (1...5).contains(portPart.count), portPart.allSatisfy(\.isASCII), let port = Int(portPart), (1...65535).contains(port) else {
                return nil
            }
            self.port = port
        }
        self.host = hostPart.lowercased()
    }
}

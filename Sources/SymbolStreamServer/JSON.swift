import SymbolStreamCore

/// A small JSON value that keeps object keys in the order written, so
/// responses read like the spec's examples (`symbol`, `count`, `earliest`, …).
public enum JSONValue: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([(String, JSONValue)])

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool { lhs.serialized == rhs.serialized }
    public func hash(into hasher: inout Hasher) { hasher.combine(serialized) }

    public var serialized: String {
        var output = ""
        write(into: &output)
        return output
    }

    public func write(into output: inout String) {
        switch self {
        case .string(let text): Self.writeString(text, into: &output)
        case .int(let value): output += String(value)
        case .double(let value): output += value.isFinite ? String(value) : "null"
        case .bool(let value): output += value ? "true" : "false"
        case .null: output += "null"
        case .array(let items):
            output += "["
            for (index, item) in items.enumerated() {
                if index > 0 { output += "," }
                item.write(into: &output)
            }
            output += "]"
        case .object(let members):
            output += "{"
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { output += "," }
                Self.writeString(key, into: &output)
                output += ":"
                value.write(into: &output)
            }
            output += "}"
        }
    }

    static func writeString(_ text: String, into output: inout String) {
        output += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case let control where control.value < 0x20 || (0x7f...0x9f).contains(control.value)
                || control.value == 0x2028 || control.value == 0x2029:
                let hex = String(control.value, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
    }
}

extension JSONValue {
    init(_ time: Timestamp?) {
        self = time.map { .string($0.description) } ?? .null
    }

    /// The dashboards' per-symbol object.
    init(_ summary: SymbolSummary) {
        self = .object([
            ("symbol", .string(summary.symbol.letter)),
            ("count", .int(summary.count)),
            ("earliest", JSONValue(summary.earliest)),
            ("latest", JSONValue(summary.latest)),
            ("followups", .int(summary.followups)),
        ])
    }

    /// `GET /requests/{uuid}`.
    init(_ record: RequestRecord) {
        self = .object([
            ("uuid", .string(record.id.description)),
            ("symbol", record.symbol.map { .string($0.letter) } ?? .null),
            ("guess", record.guess.map { .bool($0) } ?? .null),
            ("received_at", JSONValue(record.receivedAt)),
            ("followups", .array(record.followups.map { .string($0.description) })),
        ])
    }
}

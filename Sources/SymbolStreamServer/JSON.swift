import NIOCore
import SymbolStreamCore

/// A small JSON value that keeps object keys in the order written, so
/// responses read like the spec's examples (`symbol`, `count`, `earliest`, …).
package enum JSONValue: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([(String, JSONValue)])

    package init(stringLiteral value: String) { self = .string(value) }
    package init(integerLiteral value: Int64) { self = .int(value) }
    package init(booleanLiteral value: Bool) { self = .bool(value) }

    package static func == (lhs: JSONValue, rhs: JSONValue) -> Bool { lhs.serialized == rhs.serialized }
    package func hash(into hasher: inout Hasher) { hasher.combine(serialized) }

    package var serialized: String {
        String(buffer: encoded)
    }

    /// The JSON text, as a response body takes it.
    package var encoded: ByteBuffer {
        var output = ByteBuffer()
        output.reserveCapacity(128)
        write(into: &output)
        return output
    }

    package func write(into output: inout ByteBuffer) {
        switch self {
        case .string(let text): Self.writeString(text, into: &output)
        case .int(let value): output.writeString(String(value))
        case .double(let value): output.writeString(value.isFinite ? String(value) : "null")
        case .bool(let value): output.writeStaticString(value ? "true" : "false")
        case .null: output.writeStaticString("null")
        case .array(let items):
            output.writeInteger(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { output.writeInteger(UInt8(ascii: ",")) }
                item.write(into: &output)
            }
            output.writeInteger(UInt8(ascii: "]"))
        case .object(let members):
            output.writeInteger(UInt8(ascii: "{"))
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { output.writeInteger(UInt8(ascii: ",")) }
                Self.writeString(key, into: &output)
                output.writeInteger(UInt8(ascii: ":"))
                value.write(into: &output)
            }
            output.writeInteger(UInt8(ascii: "}"))
        }
    }

    static func writeString(_ text: String, into output: inout ByteBuffer) {
        output.writeInteger(UInt8(ascii: "\""))
        if isPlain(text) {
            output.writeString(text)
        } else {
            var escaped = ""
            writeEscaped(text, into: &escaped)
            output.writeString(escaped)
        }
        output.writeInteger(UInt8(ascii: "\""))
    }

    static func writeString(_ text: String, into output: inout String) {
        output += "\""
        if isPlain(text) { output += text } else { writeEscaped(text, into: &output) }
        output += "\""
    }

    /// Printable ASCII with nothing to escape, as nearly every string here is
    /// (keys, letters, times, uuids): copied as it is, without a walk over
    /// its scalars.
    private static func isPlain(_ text: String) -> Bool {
        let plain = text.utf8.withContiguousStorageIfAvailable { bytes in
            bytes.allSatisfy { $0 >= 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
        }
        return plain == true
    }

    private static func writeEscaped(_ text: String, into output: inout String) {
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

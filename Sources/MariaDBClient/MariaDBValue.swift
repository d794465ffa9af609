/// A parameter or a result value.
///
/// Results map column types this way: integer types (and BOOLEAN, YEAR) to
/// `.int` (an UNSIGNED BIGINT above `Int64.max` to `.string`); FLOAT/DOUBLE to
/// `.double`; DECIMAL and text types (CHAR, VARCHAR, TEXT, ENUM, SET, JSON,
/// UUID, INET6) to `.string`; DATETIME/TIMESTAMP to `.string` as
/// `YYYY-MM-DD HH:MM:SS.ffffff` (always 6 fractional digits), DATE as
/// `YYYY-MM-DD`, TIME as `[-]HH:MM:SS.ffffff`; binary types (BINARY, VARBINARY,
/// BLOB, BIT, GEOMETRY) to `.bytes`; SQL NULL to `.null`.
package enum MariaDBValue: Sendable, Hashable {
    case null
    case int(Int64)
    case double(Double)
    case string(String)
    case bytes([UInt8])
}

extension MariaDBValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByNilLiteral {
    package init(stringLiteral value: String) { self = .string(value) }
    package init(integerLiteral value: Int64) { self = .int(value) }
    package init(nilLiteral: ()) { self = .null }
}

extension MariaDBValue {
    /// The integer, also parsed from a decimal `.string` (COUNT, SUM and
    /// DECIMAL results arrive as text).
    package var int: Int64? {
        switch self {
        case .int(let value): return value
        case .string(let text): return Int64(text)
        default: return nil
        }
    }

    package var string: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    package var double: Double? {
        switch self {
        case .double(let value): return value
        case .int(let value): return Double(value)
        case .string(let text): return Double(text)
        default: return nil
        }
    }

    package var bytes: [UInt8]? {
        switch self {
        case .bytes(let bytes): return bytes
        case .string(let text): return Array(text.utf8)
        default: return nil
        }
    }

    package var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

extension MariaDBValue: CustomStringConvertible {
    package var description: String {
        switch self {
        case .null: "NULL"
        case .int(let value): "\(value)"
        case .double(let value): "\(value)"
        case .string(let text): "\"\(text)\""
        case .bytes(let bytes): "0x" + bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        }
    }
}

/// The column names of one result, shared by all of its rows (one allocation
/// per result rather than per row).
final class MariaDBColumns: Sendable {
    let names: [String]
    let indexByName: [String: Int]

    init(names: [String]) {
        self.names = names
        var index = [String: Int](minimumCapacity: names.count)
        // The first of two equally named columns wins, as `SELECT *` users expect.
        for (position, name) in names.enumerated() where index[name] == nil { index[name] = position }
        self.indexByName = index
    }

    static let empty = MariaDBColumns(names: [])
}

/// One result row: values in select-list order, also addressable by column name (or alias).
package struct MariaDBRow: Sendable {
    package var values: [MariaDBValue]
    let columns: MariaDBColumns

    init(values: [MariaDBValue], columns: MariaDBColumns) {
        self.values = values
        self.columns = columns
    }

    /// A row without column names (for building rows by hand, e.g. in tests).
    package init(values: [MariaDBValue], columnNames: [String] = []) {
        self.values = values
        self.columns = MariaDBColumns(names: columnNames)
    }

    package var columnNames: [String] { columns.names }

    package subscript(_ index: Int) -> MariaDBValue { values[index] }

    /// The value of the named column, nil if the result has no such column.
    package subscript(_ column: String) -> MariaDBValue? {
        guard let index = columns.indexByName[column], index < values.count else { return nil }
        return values[index]
    }
}

extension MariaDBRow: Hashable {
    package static func == (lhs: MariaDBRow, rhs: MariaDBRow) -> Bool {
        lhs.values == rhs.values && lhs.columns.names == rhs.columns.names
    }

    package func hash(into hasher: inout Hasher) { hasher.combine(values) }
}

extension MariaDBRow: CustomStringConvertible {
    package var description: String {
        guard columns.names.count == values.count else { return "\(values)" }
        return "[" + zip(columns.names, values).map { "\($0): \($1)" }.joined(separator: ", ") + "]"
    }
}

import CMariaDB

/// Output buffers for one result set of a prepared statement, and the
/// conversion of each fetched row into `MariaDBValue`s.
///
/// Variable-length columns start with a buffer sized from the column's
/// declared width (capped); a longer value is re-fetched with
/// `mysql_stmt_fetch_column` into a grown buffer, which is then bound for
/// the rows that follow.
final class ResultBinding {
    enum Kind {
        case null, signed, unsigned, double, text, binary, datetime, date, time
    }

    let count: Int
    let columns: MariaDBColumns
    let binds: UnsafeMutablePointer<MYSQL_BIND>
    private let kinds: [Kind]
    private let isNull: UnsafeMutablePointer<my_bool>
    private let errors: UnsafeMutablePointer<my_bool>
    private let lengths: UnsafeMutablePointer<UInt>
    private var buffers: [UnsafeMutableRawPointer?]
    private var capacities: [Int]
    /// Set when a buffer grew during the current row: rebind before the next fetch.
    private(set) var needsRebind = false

    private static let initialCapacityLimit = 1024

    init(fields: UnsafeMutablePointer<MYSQL_FIELD>, count: Int) {
        self.count = count
        binds = .allocate(capacity: max(count, 1))
        binds.initialize(repeating: MYSQL_BIND(), count: max(count, 1))
        isNull = .allocate(capacity: max(count, 1))
        isNull.initialize(repeating: 0, count: max(count, 1))
        errors = .allocate(capacity: max(count, 1))
        errors.initialize(repeating: 0, count: max(count, 1))
        lengths = .allocate(capacity: max(count, 1))
        lengths.initialize(repeating: 0, count: max(count, 1))
        var kinds = [Kind]()
        var names = [String]()
        var buffers = [UnsafeMutableRawPointer?]()
        var capacities = [Int]()
        for index in 0..<count {
            let field = fields[index]
            names.append(field.name.map { String(cString: $0) } ?? "")
            let kind = Self.kind(of: field)
            kinds.append(kind)
            var bind = MYSQL_BIND()
            let capacity: Int
            switch kind {
            case .null:
                bind.buffer_type = MYSQL_TYPE_NULL
                capacity = 0
            case .signed, .unsigned:
                bind.buffer_type = MYSQL_TYPE_LONGLONG
                bind.is_unsigned = kind == .unsigned ? 1 : 0
                capacity = 8
            case .double:
                bind.buffer_type = MYSQL_TYPE_DOUBLE
                capacity = 8
            case .datetime, .date, .time:
                bind.buffer_type = kind == .time ? MYSQL_TYPE_TIME : kind == .date ? MYSQL_TYPE_DATE : MYSQL_TYPE_DATETIME
                capacity = MemoryLayout<MYSQL_TIME>.size
            case .text, .binary:
                bind.buffer_type = kind == .text ? MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB
                capacity = min(max(Int(field.length), 16), Self.initialCapacityLimit)
            }
            let buffer = capacity > 0 ? UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8) : nil
            bind.buffer = buffer
            bind.buffer_length = UInt(capacity)
            bind.is_null = isNull + index
            bind.error = errors + index
            bind.length = lengths + index
            binds[index] = bind
            buffers.append(buffer)
            capacities.append(capacity)
        }
        self.kinds = kinds
        self.buffers = buffers
        self.capacities = capacities
        self.columns = MariaDBColumns(names: names)
    }

    deinit {
        for buffer in buffers { buffer?.deallocate() }
        binds.deinitialize(count: max(count, 1))
        binds.deallocate()
        isNull.deallocate()
        errors.deallocate()
        lengths.deallocate()
    }

    private static func kind(of field: MYSQL_FIELD) -> Kind {
        switch field.type {
        case MYSQL_TYPE_TINY, MYSQL_TYPE_SHORT, MYSQL_TYPE_INT24, MYSQL_TYPE_LONG, MYSQL_TYPE_LONGLONG, MYSQL_TYPE_YEAR:
            return field.flags & UInt32(UNSIGNED_FLAG) != 0 ? .unsigned : .signed
        case MYSQL_TYPE_FLOAT, MYSQL_TYPE_DOUBLE:
            return .double
        case MYSQL_TYPE_DATETIME, MYSQL_TYPE_TIMESTAMP:
            return .datetime
        case MYSQL_TYPE_DATE, MYSQL_TYPE_NEWDATE:
            return .date
        case MYSQL_TYPE_TIME:
            return .time
        case MYSQL_TYPE_NULL:
            return .null
        case MYSQL_TYPE_DECIMAL, MYSQL_TYPE_NEWDECIMAL:
            return .text
        case MYSQL_TYPE_BIT, MYSQL_TYPE_GEOMETRY:
            return .binary
        default:
            // Character set 63 is `binary`: BINARY, VARBINARY, BLOB.
            return field.charsetnr == 63 ? .binary : .text
        }
    }

    /// Rebinds the (grown) buffers; call after reading a row, before the next fetch.
    func rebindIfNeeded(_ statement: UnsafeMutablePointer<MYSQL_STMT>) throws {
        guard needsRebind else { return }
        needsRebind = false
        if mysql_stmt_bind_result(statement, binds) != 0 { throw MariaDBError(statement: statement) }
    }

    /// The values of the row just fetched.
    func row(_ statement: UnsafeMutablePointer<MYSQL_STMT>) throws -> MariaDBRow {
        var values = [MariaDBValue]()
        values.reserveCapacity(count)
        for index in 0..<count {
            values.append(try value(at: index, statement))
        }
        return MariaDBRow(values: values, columns: columns)
    }

    private func value(at index: Int, _ statement: UnsafeMutablePointer<MYSQL_STMT>) throws -> MariaDBValue {
        if isNull[index] != 0 { return .null }
        switch kinds[index] {
        case .null:
            return .null
        case .signed:
            return .int(buffers[index]!.load(as: Int64.self))
        case .unsigned:
            let number = buffers[index]!.load(as: UInt64.self)
            return number <= UInt64(Int64.max) ? .int(Int64(number)) : .string(String(number))
        case .double:
            return .double(buffers[index]!.load(as: Double.self))
        case .datetime:
            return .string(Self.formatDateTime(buffers[index]!.load(as: MYSQL_TIME.self)))
        case .date:
            return .string(Self.formatDate(buffers[index]!.load(as: MYSQL_TIME.self)))
        case .time:
            return .string(Self.formatTime(buffers[index]!.load(as: MYSQL_TIME.self)))
        case .text, .binary:
            let length = Int(lengths[index])
            if length > capacities[index] { try grow(index, to: length, statement) }
            let bytes = UnsafeRawBufferPointer(start: buffers[index], count: length)
            return kinds[index] == .text ? .string(String(decoding: bytes, as: UTF8.self)) : .bytes(Array(bytes))
        }
    }

    /// Fetches a value longer than its buffer again, into a buffer big enough.
    private func grow(_ index: Int, to length: Int, _ statement: UnsafeMutablePointer<MYSQL_STMT>) throws {
        let capacity = max(length, capacities[index] * 2)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
        buffers[index]?.deallocate()
        buffers[index] = buffer
        capacities[index] = capacity
        binds[index].buffer = buffer
        binds[index].buffer_length = UInt(capacity)
        needsRebind = true
        if mysql_stmt_fetch_column(statement, binds + index, UInt32(index), 0) != 0 {
            throw MariaDBError(statement: statement)
        }
    }

    // MARK: - Temporal formatting (fixed width, so written digit by digit)

    static func formatDateTime(_ time: MYSQL_TIME) -> String {
        String(unsafeUninitializedCapacity: 26) { buffer in
            var position = 0
            writeDate(time, into: buffer, at: &position)
            buffer[position] = UInt8(ascii: " ")
            position += 1
            writeClock(hours: Int(time.hour), time, into: buffer, at: &position)
            return position
        }
    }

    static func formatDate(_ time: MYSQL_TIME) -> String {
        String(unsafeUninitializedCapacity: 10) { buffer in
            var position = 0
            writeDate(time, into: buffer, at: &position)
            return position
        }
    }

    /// `[-]HH:MM:SS.ffffff`; hours may exceed 24 (TIME spans ±838 hours).
    static func formatTime(_ time: MYSQL_TIME) -> String {
        let hours = Int(time.day) * 24 + Int(time.hour)
        return String(unsafeUninitializedCapacity: 20) { buffer in
            var position = 0
            if time.neg != 0 {
                buffer[position] = UInt8(ascii: "-")
                position += 1
            }
            writeClock(hours: hours, time, into: buffer, at: &position)
            return position
        }
    }

    private static func writeDate(_ time: MYSQL_TIME, into buffer: UnsafeMutableBufferPointer<UInt8>, at position: inout Int) {
        writeDigits(Int(time.year), count: 4, into: buffer, at: &position)
        buffer[position] = UInt8(ascii: "-")
        position += 1
        writeDigits(Int(time.month), count: 2, into: buffer, at: &position)
        buffer[position] = UInt8(ascii: "-")
        position += 1
        writeDigits(Int(time.day), count: 2, into: buffer, at: &position)
    }

    private static func writeClock(
        hours: Int, _ time: MYSQL_TIME, into buffer: UnsafeMutableBufferPointer<UInt8>, at position: inout Int
    ) {
        writeDigits(hours, count: hours >= 100 ? 3 : 2, into: buffer, at: &position)
        buffer[position] = UInt8(ascii: ":")
        position += 1
        writeDigits(Int(time.minute), count: 2, into: buffer, at: &position)
        buffer[position] = UInt8(ascii: ":")
        position += 1
        writeDigits(Int(time.second), count: 2, into: buffer, at: &position)
        buffer[position] = UInt8(ascii: ".")
        position += 1
        writeDigits(Int(time.second_part), count: 6, into: buffer, at: &position)
    }

    private static func writeDigits(_ value: Int, count: Int, into buffer: UnsafeMutableBufferPointer<UInt8>, at position: inout Int) {
        var remainder = value
        for offset in stride(from: count - 1, through: 0, by: -1) {
            buffer[position + offset] = UInt8(ascii: "0") + UInt8(remainder % 10)
            remainder /= 10
        }
        position += count
    }
}

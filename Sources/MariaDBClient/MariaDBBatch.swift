import CMariaDB
import CivilCalendar

/// Rows of parameters for one statement's bulk execution
/// (``MariaDBConnection/executeBatch(_:_:)``), stored column by column in
/// their wire types: no `MariaDBValue` per value, no text to format on the
/// client or to parse on the server. For writers of many rows (the archiver).
///
/// Build it row by row: one `append` per column, in column order, then
/// `endRow()`.
package struct MariaDBBatch: Sendable {
    package enum ColumnType: Sendable, Hashable {
        /// A 64-bit integer.
        case int
        /// A `DATETIME(6)` given as microseconds since 1970-01-01 00:00:00 (no
        /// time zone: the value is stored as it is, like a text literal).
        case dateTime
        /// Text in the connection's character set (utf8mb4).
        case text
        /// Bytes, sent with the binary character set (e.g. 16 bytes into a
        /// `UUID` column, which reads them as the UUID's bytes in order).
        case binary
    }

    package let columnTypes: [ColumnType]
    package private(set) var count = 0

    /// Per column: integers and datetimes.
    private var numbers: [[Int64]]
    /// Per column: text and binary values back to back, and where each ends.
    private var data: [[UInt8]]
    private var ends: [[Int]]
    /// Per column, per row.
    private var nulls: [[Bool]]
    /// Values appended to the row being built.
    private var column = 0

    package init(_ columnTypes: [ColumnType], reservingRows rows: Int = 0) {
        precondition(!columnTypes.isEmpty, "a batch needs at least one column")
        self.columnTypes = columnTypes
        let width = columnTypes.count
        numbers = Array(repeating: [], count: width)
        data = Array(repeating: [], count: width)
        ends = Array(repeating: [], count: width)
        nulls = Array(repeating: [], count: width)
        for (index, type) in columnTypes.enumerated() {
            nulls[index].reserveCapacity(rows)
            switch type {
            case .int, .dateTime: numbers[index].reserveCapacity(rows)
            case .text, .binary: ends[index].reserveCapacity(rows)
            }
        }
    }

    package var isEmpty: Bool { count == 0 }

    /// The next value of the row: an integer (`.int` column) or microseconds
    /// since the epoch (`.dateTime` column); nil for NULL.
    package mutating func append(_ value: Int64?) {
        let type = nextColumn()
        precondition(type == .int || type == .dateTime, "column \(column) is \(type), not a number")
        numbers[column].append(value ?? 0)
        nulls[column].append(value == nil)
        column += 1
    }

    /// The next value of the row, for a `.text` or `.binary` column; nil for NULL.
    package mutating func append(bytes: UnsafeRawBufferPointer?) {
        let type = nextColumn()
        precondition(type == .text || type == .binary, "column \(column) is \(type), not text or bytes")
        if let bytes { data[column].append(contentsOf: bytes) }
        ends[column].append(data[column].count)
        nulls[column].append(bytes == nil)
        column += 1
    }

    /// The next value of the row, for a `.text` column; nil for NULL.
    package mutating func append(text: String?) {
        guard var text else { return append(bytes: nil) }
        text.withUTF8 { append(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Ends the row; every column must have had its value.
    package mutating func endRow() {
        precondition(column == columnTypes.count, "row \(count) has \(column) of \(columnTypes.count) values")
        column = 0
        count += 1
    }

    private func nextColumn() -> ColumnType {
        precondition(column < columnTypes.count, "row \(count) has more than \(columnTypes.count) values")
        return columnTypes[column]
    }

    /// What row `row` adds to the bulk packet, roughly (indicator, length prefix, data).
    func estimatedSize(ofRow row: Int) -> Int {
        var size = 0
        for (index, type) in columnTypes.enumerated() {
            switch type {
            case .int: size += 9
            case .dateTime: size += 13
            case .text, .binary: size += 10 + ends[index][row] - (row == 0 ? 0 : ends[index][row - 1])
            }
        }
        return size
    }

    /// The `MYSQL_BIND` array for rows `range`, column-wise with indicators;
    /// the values are copied into an arena the caller frees after executing.
    func bind(_ range: Range<Int>) -> (binds: UnsafeMutablePointer<MYSQL_BIND>, arena: Arena) {
        let rows = range.count
        var size = 64
        for (index, type) in columnTypes.enumerated() {
            size += Arena.space(rows, of: 1)
            switch type {
            case .int: size += Arena.space(rows, of: 8)
            case .dateTime: size += Arena.space(rows, of: MemoryLayout<MYSQL_TIME>.stride) + Arena.space(rows, of: 8)
            case .text, .binary:
                let start = range.lowerBound == 0 ? 0 : ends[index][range.lowerBound - 1]
                size += ends[index][range.upperBound - 1] - start + Arena.space(rows, of: 8) * 2
            }
        }
        var arena = Arena(capacity: size)
        let binds = UnsafeMutablePointer<MYSQL_BIND>.allocate(capacity: columnTypes.count)
        binds.initialize(repeating: MYSQL_BIND(), count: columnTypes.count)
        for (index, type) in columnTypes.enumerated() {
            var bind = MYSQL_BIND()
            let indicators = arena.take(rows, alignment: 1).bindMemory(to: CChar.self, capacity: rows)
            for (offset, row) in range.enumerated() {
                indicators[offset] = CChar((nulls[index][row] ? STMT_INDICATOR_NULL : STMT_INDICATOR_NONE).rawValue)
            }
            bind.u.indicator = indicators
            switch type {
            case .int:
                let values = arena.take(rows * 8).bindMemory(to: Int64.self, capacity: rows)
                for (offset, row) in range.enumerated() { values[offset] = numbers[index][row] }
                bind.buffer_type = MYSQL_TYPE_LONGLONG
                bind.buffer = UnsafeMutableRawPointer(values)
            case .dateTime:
                // Column-wise, Connector/C takes a pointer per row for
                // variable-size types, which MYSQL_TIME counts as.
                let times = arena.take(rows * MemoryLayout<MYSQL_TIME>.stride).bindMemory(to: MYSQL_TIME.self, capacity: rows)
                let pointers = arena.take(rows * 8).bindMemory(to: UnsafeMutableRawPointer?.self, capacity: rows)
                for (offset, row) in range.enumerated() {
                    (times + offset).initialize(to: Self.dateTime(microseconds: numbers[index][row]))
                    pointers[offset] = UnsafeMutableRawPointer(times + offset)
                }
                bind.buffer_type = MYSQL_TYPE_DATETIME
                bind.buffer = UnsafeMutableRawPointer(pointers)
            case .text, .binary:
                let start = range.lowerBound == 0 ? 0 : ends[index][range.lowerBound - 1]
                let end = ends[index][range.upperBound - 1]
                let base = data[index].withUnsafeBytes { arena.copy(raw: UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
                let pointers = arena.take(rows * 8).bindMemory(to: UnsafeMutableRawPointer?.self, capacity: rows)
                let lengths = arena.take(rows * 8).bindMemory(to: UInt.self, capacity: rows)
                var previous = start
                for (offset, row) in range.enumerated() {
                    pointers[offset] = base + (previous - start)
                    lengths[offset] = UInt(ends[index][row] - previous)
                    previous = ends[index][row]
                }
                bind.buffer_type = type == .text ? MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB
                bind.buffer = UnsafeMutableRawPointer(pointers)
                bind.length = lengths
            }
            binds[index] = bind
        }
        return (binds, arena)
    }

    /// Microseconds since the epoch as a `MYSQL_TIME` datetime (proleptic
    /// Gregorian calendar, as MariaDB's).
    static func dateTime(microseconds: Int64) -> MYSQL_TIME {
        let perDay: Int64 = 86_400_000_000
        var days = microseconds / perDay
        var inDay = microseconds % perDay
        if inDay < 0 {
            inDay += perDay
            days -= 1
        }
        let date = CivilDate(daysSinceEpoch: days)
        let seconds = inDay / 1_000_000
        var time = MYSQL_TIME()
        time.year = UInt32(clamping: date.year)
        time.month = UInt32(date.month)
        time.day = UInt32(date.day)
        time.hour = UInt32(seconds / 3600)
        time.minute = UInt32(seconds / 60 % 60)
        time.second = UInt32(seconds % 60)
        time.second_part = UInt(inDay % 1_000_000)
        time.time_type = MYSQL_TIMESTAMP_DATETIME
        return time
    }
}

import CMariaDB

/// A row of a text-protocol result read in place: each column is a view of
/// the connection's receive buffer, valid only during the `forEachRawRow`
/// callback. For scans of millions of rows where allocating a `MariaDBRow`
/// per row would cost more than reading it.
package struct MariaDBRawRow {
    let row: MYSQL_ROW
    let lengths: UnsafeMutablePointer<UInt>
    package let columnCount: Int

    /// The column's bytes as the server sent them as text; nil for NULL.
    package func bytes(_ column: Int) -> UnsafeRawBufferPointer? {
        precondition(column >= 0 && column < columnCount, "no column \(column)")
        guard let value = row[column] else { return nil }
        return UnsafeRawBufferPointer(start: value, count: Int(lengths[column]))
    }

    /// The column read as a decimal integer; nil for NULL or anything else.
    package func int(_ column: Int) -> Int64? {
        guard let bytes = bytes(column), !bytes.isEmpty else { return nil }
        var value: Int64 = 0
        var negative = false
        for (index, byte) in bytes.enumerated() {
            if index == 0, byte == UInt8(ascii: "-") {
                negative = true
                continue
            }
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            let (times, overflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            guard !overflow, !overflow2 else { return nil }
            value = sum
        }
        return negative ? -value : value
    }
}

extension MariaDBConnection {
    /// Streams the rows of a parameterless query without materializing them
    /// (text protocol, unbuffered). Use bound parameters (`forEachRow`) for
    /// anything that depends on input.
    package func forEachRawRow(_ sql: String, _ body: (MariaDBRawRow) throws -> Void) throws {
        try withRawResult(sql) { result in
            let columns = Int(mysql_num_fields(result))
            while let row = mysql_fetch_row(result) {
                guard let lengths = mysql_fetch_lengths(result) else { break }
                try body(MariaDBRawRow(row: row, lengths: lengths, columnCount: columns))
            }
        }
    }
}

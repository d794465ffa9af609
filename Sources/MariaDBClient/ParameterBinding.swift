import CMariaDB

/// One allocation that holds every parameter value of an execution, carved
/// up by bumping an offset. Connector/C reads the values through the
/// pointers in `MYSQL_BIND`, so they must stay put until `mysql_stmt_execute`
/// returns; the owner frees the arena right after.
struct Arena {
    private let base: UnsafeMutableRawPointer
    private let capacity: Int
    private var offset = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 8)
        self.base = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 8)
    }

    func deallocate() { base.deallocate() }

    mutating func take(_ byteCount: Int, alignment: Int = 8) -> UnsafeMutableRawPointer {
        let start = (offset + alignment - 1) & ~(alignment - 1)
        precondition(start + byteCount <= capacity, "arena overflow")
        offset = start + byteCount
        return base + start
    }

    /// Copies the bytes of `value` (UTF-8 for a string) and returns where they went.
    mutating func copy(_ bytes: some Collection<UInt8>) -> UnsafeMutableRawPointer {
        let target = take(bytes.count, alignment: 1)
        let buffer = UnsafeMutableRawBufferPointer(start: target, count: bytes.count)
        let copied =
            bytes.withContiguousStorageIfAvailable { source in
                buffer.copyMemory(from: UnsafeRawBufferPointer(source))
                return true
            } ?? false
        if !copied { _ = buffer.initializeMemory(as: UInt8.self, from: bytes) }
        return target
    }

    /// Copies raw bytes and returns where they went.
    mutating func copy(raw bytes: UnsafeRawBufferPointer) -> UnsafeMutableRawPointer {
        let target = take(bytes.count, alignment: 1)
        if let source = bytes.baseAddress, bytes.count > 0 { target.copyMemory(from: source, byteCount: bytes.count) }
        return target
    }

    /// Bytes to reserve for `count` values of `size` bytes, with room for alignment.
    static func space(_ count: Int, of size: Int) -> Int { count * size + 8 }
}

/// The `MYSQL_BIND` array and value storage of one single-row execution.
struct SingleParameters {
    let binds: UnsafeMutablePointer<MYSQL_BIND>
    let count: Int
    private let arena: Arena

    init(_ values: [MariaDBValue]) {
        count = values.count
        var size = 0
        for value in values {
            switch value {
            case .null: break
            case .int, .double: size += 16
            case .string(let text): size += text.utf8.count + 1
            case .bytes(let bytes): size += bytes.count + 1
            }
        }
        var arena = Arena(capacity: size + 8)
        binds = .allocate(capacity: max(count, 1))
        binds.initialize(repeating: MYSQL_BIND(), count: max(count, 1))
        for (index, value) in values.enumerated() {
            switch value {
            case .null:
                binds[index].buffer_type = MYSQL_TYPE_NULL
            case .int(let number):
                let slot = arena.take(8)
                slot.storeBytes(of: number, as: Int64.self)
                binds[index].buffer_type = MYSQL_TYPE_LONGLONG
                binds[index].buffer = slot
            case .double(let number):
                let slot = arena.take(8)
                slot.storeBytes(of: number, as: Double.self)
                binds[index].buffer_type = MYSQL_TYPE_DOUBLE
                binds[index].buffer = slot
            case .string(let text):
                let utf8 = text.utf8
                binds[index].buffer_type = MYSQL_TYPE_STRING
                binds[index].buffer = arena.copy(utf8)
                binds[index].buffer_length = UInt(utf8.count)
            case .bytes(let bytes):
                // BLOB, not STRING: the server must not treat the bytes as text in the connection charset.
                binds[index].buffer_type = MYSQL_TYPE_BLOB
                binds[index].buffer = arena.copy(bytes)
                binds[index].buffer_length = UInt(bytes.count)
            }
            // length stays nil: Connector/C then reads buffer_length.
        }
        self.arena = arena
    }

    func deallocate() {
        binds.deinitialize(count: max(count, 1))
        binds.deallocate()
        arena.deallocate()
    }
}

/// Column-wise array binding for MariaDB's bulk execution
/// (`STMT_ATTR_ARRAY_SIZE`): per parameter, one contiguous array of values
/// (8-byte integers or doubles) or of pointers plus lengths (strings, bytes),
/// and one indicator byte per row (`STMT_INDICATOR_NULL` marks NULL).
/// Column-wise rather than row-wise because values vary in length: row-wise
/// binding would need fixed-size slots.
struct BulkParameters {
    let binds: UnsafeMutablePointer<MYSQL_BIND>
    let width: Int
    private let arena: Arena

    /// The one wire type of a column: bulk execution sends one type per
    /// parameter for all rows, so a column mixing kinds is sent as text.
    private enum ColumnType {
        case null, int, double, text, binary
    }

    init(_ rows: ArraySlice<[MariaDBValue]>, width: Int) {
        self.width = width
        let count = rows.count
        var types = [ColumnType](repeating: .null, count: width)
        var dataBytes = 0
        for column in 0..<width {
            var sawInt = false
            var sawDouble = false
            var sawText = false
            var sawBytes = false
            for row in rows {
                switch row[column] {
                case .null: break
                case .int: sawInt = true
                case .double: sawDouble = true
                case .string(let text):
                    sawText = true
                    dataBytes += text.utf8.count
                case .bytes(let bytes):
                    sawBytes = true
                    dataBytes += bytes.count
                }
            }
            let kinds = [sawInt, sawDouble, sawText, sawBytes].filter { $0 }.count
            if kinds == 0 {
                types[column] = .null
            } else if kinds == 1 {
                types[column] = sawInt ? .int : sawDouble ? .double : sawText ? .text : .binary
            } else {
                types[column] = sawBytes ? .binary : .text
                // Numbers in a mixed column travel as their decimal text.
                if sawInt || sawDouble { dataBytes += count * 24 }
            }
        }
        var size = dataBytes + width * (Arena.space(count, of: 1) + Arena.space(count, of: 8) * 2)
        size += 64
        var arena = Arena(capacity: size)
        binds = .allocate(capacity: width)
        binds.initialize(repeating: MYSQL_BIND(), count: width)

        for column in 0..<width {
            let indicators = arena.take(count, alignment: 1).bindMemory(to: CChar.self, capacity: count)
            var bind = MYSQL_BIND()
            bind.u.indicator = indicators
            switch types[column] {
            case .null:
                bind.buffer_type = MYSQL_TYPE_NULL
                for row in 0..<count { indicators[row] = CChar(STMT_INDICATOR_NULL.rawValue) }
            case .int:
                let values = arena.take(count * 8).bindMemory(to: Int64.self, capacity: count)
                for (row, value) in rows.enumerated() {
                    if case .int(let number) = value[column] {
                        values[row] = number
                        indicators[row] = CChar(STMT_INDICATOR_NONE.rawValue)
                    } else {
                        values[row] = 0
                        indicators[row] = CChar(STMT_INDICATOR_NULL.rawValue)
                    }
                }
                bind.buffer_type = MYSQL_TYPE_LONGLONG
                bind.buffer = UnsafeMutableRawPointer(values)
            case .double:
                let values = arena.take(count * 8).bindMemory(to: Double.self, capacity: count)
                for (row, value) in rows.enumerated() {
                    if case .double(let number) = value[column] {
                        values[row] = number
                        indicators[row] = CChar(STMT_INDICATOR_NONE.rawValue)
                    } else {
                        values[row] = 0
                        indicators[row] = CChar(STMT_INDICATOR_NULL.rawValue)
                    }
                }
                bind.buffer_type = MYSQL_TYPE_DOUBLE
                bind.buffer = UnsafeMutableRawPointer(values)
            case .text, .binary:
                let pointers = arena.take(count * 8).bindMemory(to: UnsafeMutableRawPointer?.self, capacity: count)
                let lengths = arena.take(count * 8).bindMemory(to: UInt.self, capacity: count)
                for (row, value) in rows.enumerated() {
                    var bytes: UnsafeMutableRawPointer? = nil
                    var length = 0
                    switch value[column] {
                    case .null:
                        break
                    case .int(let number):
                        let text = String(number).utf8
                        bytes = arena.copy(text)
                        length = text.count
                    case .double(let number):
                        let text = "\(number)".utf8
                        bytes = arena.copy(text)
                        length = text.count
                    case .string(let text):
                        bytes = arena.copy(text.utf8)
                        length = text.utf8.count
                    case .bytes(let data):
                        bytes = arena.copy(data)
                        length = data.count
                    }
                    pointers[row] = bytes
                    lengths[row] = UInt(length)
                    indicators[row] = CChar(
                        (value[column].isNull ? STMT_INDICATOR_NULL : STMT_INDICATOR_NONE).rawValue)
                }
                bind.buffer_type = types[column] == .text ? MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB
                bind.buffer = UnsafeMutableRawPointer(pointers)
                // Per-row lengths: without them Connector/C would read past buffer_length.
                bind.length = lengths
            }
            binds[column] = bind
        }
        self.arena = arena
    }

    /// What a row adds to the bulk packet, roughly (indicator + length prefix + data).
    static func estimatedSize(of row: [MariaDBValue]) -> Int {
        var size = 0
        for value in row {
            switch value {
            case .null: size += 1
            case .int, .double: size += 9
            case .string(let text): size += 10 + text.utf8.count
            case .bytes(let bytes): size += 10 + bytes.count
            }
        }
        return size
    }

    func deallocate() {
        binds.deinitialize(count: width)
        binds.deallocate()
        arena.deallocate()
    }
}

public import NIOCore

/// Commands written straight into RESP bytes, for bulk writers that send
/// millions of them (`rebuild`): no ``RedisArgument`` array and no copy per
/// argument, and the bytes leave as they are (``RedisConnection/pipeline(_:timeout:)``).
///
/// Write a command as its header (`command(argumentCount:)`) followed by
/// exactly that many arguments, or as a head and arguments collected ahead
/// (`command(_:arguments:)`).
package struct RedisEncodedCommands: Sendable {
    private var writer: RESPWriter
    /// Complete commands so far.
    package private(set) var count = 0
    /// Arguments still owed to the command being written.
    private var pendingArguments = 0

    package init(reservingCapacity byteCount: Int = 0) {
        writer = RESPWriter(reservingCapacity: byteCount)
    }

    package var byteCount: Int { writer.buffer.readableBytes }

    /// Starts a command of `argumentCount` arguments, the name included.
    package mutating func command(argumentCount: Int) {
        precondition(pendingArguments == 0, "the previous command lacks \(pendingArguments) arguments")
        precondition(argumentCount > 0, "a command has at least its name")
        writer.header(UInt8(ascii: "*"), argumentCount)
        pendingArguments = argumentCount
        count += 1
    }

    /// A whole command: `head` (its name and first arguments), then `arguments`.
    package mutating func command(_ head: [[UInt8]], arguments: RedisEncodedArguments) {
        command(argumentCount: head.count + arguments.count)
        for part in head { argument(part) }
        writer.buffer.writeImmutableBuffer(arguments.writer.buffer)
        pendingArguments = 0
    }

    /// An argument of raw bytes.
    package mutating func argument(_ value: UnsafeRawBufferPointer) {
        take()
        writer.bulk(value)
    }

    package mutating func argument(_ value: [UInt8]) {
        take()
        value.withUnsafeBytes { writer.bulk($0) }
    }

    /// `prefix` followed by `number` in decimal: a key such as `ss:e:1790812800`.
    package mutating func argument(_ prefix: [UInt8], decimal number: Int64) {
        take()
        writer.bulk(prefix, decimal: number)
    }

    /// An argument of `length` bytes that `write` appends (exactly that many).
    package mutating func argument(length: Int, _ write: (inout ByteBuffer) -> Void) {
        take()
        writer.bulk(length: length, write)
    }

    private mutating func take() {
        precondition(pendingArguments > 0, "an argument without a command, or more than it announced")
        pendingArguments -= 1
    }

    /// The bytes of whole commands, for sending.
    var complete: ByteBuffer {
        precondition(pendingArguments == 0, "the last command lacks \(pendingArguments) arguments")
        return writer.buffer
    }
}

/// Arguments encoded ahead of their command, e.g. a hash's fields collected in
/// one pass over data that is not grouped by key; ended by
/// ``RedisEncodedCommands/command(_:arguments:)``.
package struct RedisEncodedArguments: Sendable {
    fileprivate var writer: RESPWriter
    package private(set) var count = 0

    package init(reservingCapacity byteCount: Int = 0) {
        writer = RESPWriter(reservingCapacity: byteCount)
    }

    package var isEmpty: Bool { count == 0 }

    package mutating func argument(_ value: UnsafeRawBufferPointer) {
        count += 1
        writer.bulk(value)
    }

    package mutating func argument(length: Int, _ write: (inout ByteBuffer) -> Void) {
        count += 1
        writer.bulk(length: length, write)
    }
}

/// RESP framing into a growing buffer.
private struct RESPWriter: Sendable {
    var buffer: ByteBuffer

    init(reservingCapacity byteCount: Int) {
        buffer = ByteBufferAllocator().buffer(capacity: byteCount)
    }

    /// `*n\r\n` or `$n\r\n`.
    mutating func header(_ kind: UInt8, _ number: Int) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 24) { target in
            target[0] = kind
            let end = 1 + Self.writeDecimal(Int64(number), into: target, at: 1)
            target[end] = 13
            target[end + 1] = 10
            return end + 2
        }
    }

    mutating func bulk(_ value: UnsafeRawBufferPointer) {
        header(UInt8(ascii: "$"), value.count)
        buffer.writeBytes(value)
        buffer.writeInteger(Self.end)
    }

    mutating func bulk(_ prefix: [UInt8], decimal number: Int64) {
        header(UInt8(ascii: "$"), prefix.count + Self.decimalLength(number))
        buffer.writeBytes(prefix)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 24) { target in
            let end = Self.writeDecimal(number, into: target, at: 0)
            target[end] = 13
            target[end + 1] = 10
            return end + 2
        }
    }

    mutating func bulk(length: Int, _ write: (inout ByteBuffer) -> Void) {
        header(UInt8(ascii: "$"), length)
        let start = buffer.writerIndex
        write(&buffer)
        precondition(buffer.writerIndex - start == length, "an argument of \(length) bytes got \(buffer.writerIndex - start)")
        buffer.writeInteger(Self.end)
    }

    /// `\r\n`, written big-endian.
    private static let end: UInt16 = 0x0D0A

    /// Writes `number` in decimal at `offset`; returns the characters written (at most 20).
    private static func writeDecimal(_ number: Int64, into target: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        let length = decimalLength(number)
        var magnitude = number.magnitude
        var position = offset + length - 1
        repeat {
            target[position] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
            position -= 1
        } while magnitude > 0
        if number < 0 { target[offset] = UInt8(ascii: "-") }
        return length
    }

    /// Characters of `number` in decimal, sign included.
    static func decimalLength(_ number: Int64) -> Int {
        var magnitude = number.magnitude
        var length = number < 0 ? 2 : 1
        while magnitude >= 10 {
            magnitude /= 10
            length += 1
        }
        return length
    }
}

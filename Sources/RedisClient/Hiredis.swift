// The only file that touches hiredis. Two pure-protocol pieces are used: the command
// formatter and the reply reader. Neither does I/O (SwiftNIO owns the sockets), so
// nothing here can block an event loop. Both types are confined to one channel's
// event loop and are not Sendable.
internal import CHiredis
import NIOCore

/// Encodes commands to RESP with `redisFormatCommandArgv`.
final class HiredisFormatter {
    // Scratch storage reused across commands: a command's arguments are copied into one
    // contiguous array so that hiredis can be handed stable pointers into it.
    private var bytes: [UInt8] = []
    private var lengths: [Int] = []
    private var pointers: [UnsafePointer<CChar>?] = []

    init() {}

    /// Appends the RESP encoding of `arguments` to `buffer`.
    func format(_ arguments: [RedisArgument], into buffer: inout ByteBuffer) throws(RedisClientError) {
        guard !arguments.isEmpty else {
            // Redis silently skips `*0\r\n` without replying, which would pair every
            // later reply with the wrong command.
            throw .protocolError("empty command")
        }
        guard arguments.count <= Int32.max else { throw .protocolError("too many arguments") }
        self.bytes.removeAll(keepingCapacity: true)
        self.lengths.removeAll(keepingCapacity: true)
        self.pointers.removeAll(keepingCapacity: true)
        for argument in arguments {
            self.bytes.append(contentsOf: argument.bytes)
            self.lengths.append(argument.bytes.count)
        }
        // Never empty, so the base address below is never nil (all arguments may be "").
        self.bytes.append(0)

        let length: Int32 = self.bytes.withUnsafeBufferPointer { storage in
            storage.withMemoryRebound(to: CChar.self) { chars in
                var offset = 0
                for length in self.lengths {
                    self.pointers.append(chars.baseAddress! + offset)
                    offset += length
                }
                var target: UnsafeMutablePointer<CChar>? = nil
                let length = self.pointers.withUnsafeMutableBufferPointer { argv in
                    self.lengths.withUnsafeBufferPointer { argvlen in
                        redisFormatCommandArgv(&target, Int32(arguments.count), argv.baseAddress, argvlen.baseAddress)
                    }
                }
                if let target {
                    if length > 0 {
                        buffer.writeBytes(UnsafeRawBufferPointer(start: target, count: Int(length)))
                    }
                    redisFreeCommand(target)
                }
                return length
            }
        }
        guard length > 0 else { throw .protocolError("hiredis could not format the command (out of memory)") }
    }
}

/// Parses replies with hiredis' reader and copies them out as ``RESPValue``s.
final class HiredisReader {
    private let reader: UnsafeMutablePointer<redisReader>

    init() {
        // hiredis only returns NULL when malloc fails; there is nothing sensible to do then.
        guard let reader = redisReaderCreate() else { fatalError("hiredis: redisReaderCreate failed (out of memory)") }
        self.reader = reader
    }

    deinit {
        redisReaderFree(self.reader)
    }

    /// Hands bytes to the reader, which copies them into its own buffer.
    func feed(_ bytes: UnsafeRawBufferPointer) throws(RedisClientError) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        if redisReaderFeed(self.reader, base.assumingMemoryBound(to: CChar.self), bytes.count) != REDIS_OK {
            throw self.currentError()
        }
    }

    /// The next complete reply, or `nil` when more bytes are needed.
    func nextReply() throws(RedisClientError) -> RESPValue? {
        var reply: UnsafeMutableRawPointer? = nil
        guard redisReaderGetReply(self.reader, &reply) == REDIS_OK else {
            throw self.currentError()
        }
        guard let reply else { return nil }
        defer { freeReplyObject(reply) }
        return Self.value(of: reply.assumingMemoryBound(to: redisReply.self))
    }

    private func currentError() -> RedisClientError {
        let message = withUnsafeBytes(of: self.reader.pointee.errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return .protocolError(message.isEmpty ? "hiredis reader error \(self.reader.pointee.err)" : message)
    }

    private static func value(of reply: UnsafePointer<redisReply>) -> RESPValue {
        let reply = reply.pointee
        switch reply.type {
        case REDIS_REPLY_STRING:
            return .bulkString(Array(Self.bytes(reply.str, reply.len)))
        case REDIS_REPLY_STATUS:
            return .simpleString(String(decoding: Self.bytes(reply.str, reply.len), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: Self.bytes(reply.str, reply.len), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(reply.integer))
        case REDIS_REPLY_ARRAY:
            guard reply.elements > 0, let elements = reply.element else { return .array([]) }
            var values: [RESPValue] = []
            values.reserveCapacity(reply.elements)
            for index in 0..<reply.elements {
                if let element = elements[index] {
                    values.append(Self.value(of: element))
                } else {
                    values.append(.null)
                }
            }
            return .array(values)
        default:  // REDIS_REPLY_NIL; RESP3 types never arrive since we never send HELLO 3.
            return .null
        }
    }

    private static func bytes(_ pointer: UnsafeMutablePointer<CChar>?, _ count: Int) -> UnsafeRawBufferPointer {
        guard let pointer, count > 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: pointer, count: count)
    }
}

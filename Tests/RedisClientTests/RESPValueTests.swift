import NIOCore
import Testing

@testable import RedisClient

@Suite("RESP values and the hiredis codec")
struct RESPValueTests {
    @Test func accessors() {
        #expect(RESPValue.simpleString("OK").string == "OK")
        #expect(RESPValue.bulkString(Array("héllo".utf8)).string == "héllo")
        #expect(RESPValue.integer(5).string == nil)
        #expect(RESPValue.error("ERR x").string == nil)

        #expect(RESPValue.integer(-42).int == -42)
        #expect(RESPValue.bulkString(Array("1234567890123".utf8)).int == 1_234_567_890_123)
        #expect(RESPValue.bulkString(Array("-9223372036854775808".utf8)).int == Int64.min)
        #expect(RESPValue.bulkString(Array("9223372036854775807".utf8)).int == Int64.max)
        #expect(RESPValue.bulkString(Array("9223372036854775808".utf8)).int == nil)
        #expect(RESPValue.simpleString("17").int == 17)
        #expect(RESPValue.bulkString(Array("12a".utf8)).int == nil)
        #expect(RESPValue.bulkString(Array("-".utf8)).int == nil)
        #expect(RESPValue.bulkString([]).int == nil)
        #expect(RESPValue.bulkString(Array("1.5".utf8)).int == nil)
        #expect(RESPValue.null.int == nil)

        #expect(RESPValue.bulkString([0, 1, 255]).bytes == [0, 1, 255])
        #expect(RESPValue.simpleString("ab").bytes == [97, 98])
        #expect(RESPValue.integer(1).bytes == nil)

        #expect(RESPValue.array([.integer(1), .null]).array == [.integer(1), .null])
        #expect(RESPValue.null.array == nil)
        #expect(RESPValue.null.isNull)
        #expect(!RESPValue.bulkString([]).isNull)
        #expect(!RESPValue.array([]).isNull)
    }

    @Test func arguments() {
        let command = RedisCommand("SET", "k", 42, RedisArgument(Int64(-7)), RedisArgument(bytes: [0, 255]))
        #expect(command.arguments.map(\.bytes) == [Array("SET".utf8), [107], Array("42".utf8), Array("-7".utf8), [0, 255]])
        #expect(command.timeout == nil)
        #expect(RedisCommand(arguments: ["PING"], timeout: .seconds(3)).timeout == .seconds(3))
        #expect(command.description == "SET")
    }

    @Test func formatterProducesRESP() throws {
        let formatter = HiredisFormatter()
        var buffer = ByteBuffer()
        try formatter.format(["SET", "key", RedisArgument(bytes: [0, 13, 10]), ""], into: &buffer)
        try formatter.format(["PING"], into: &buffer)
        let expected = "*4\r\n$3\r\nSET\r\n$3\r\nkey\r\n$3\r\n\0\r\n\r\n$0\r\n\r\n*1\r\n$4\r\nPING\r\n"
        #expect(buffer.readBytes(length: buffer.readableBytes) == Array(expected.utf8))
    }

    @Test func formatterRejectsEmptyCommand() {
        let formatter = HiredisFormatter()
        var buffer = ByteBuffer()
        #expect(throws: RedisClientError.protocolError("empty command")) {
            try formatter.format([], into: &buffer)
        }
        #expect(buffer.readableBytes == 0)
    }

    /// Every kind of reply, fed one byte at a time, so each value is split at every
    /// possible point.
    @Test func readerParsesEveryKindAcrossArbitrarySplits() throws {
        let wire =
            "+OK\r\n" + "-ERR bad thing\r\n" + ":-123\r\n" + "$5\r\nhe\0lo\r\n" + "$0\r\n\r\n" + "$-1\r\n"
            + "*-1\r\n" + "*0\r\n" + "*3\r\n:1\r\n*2\r\n$1\r\na\r\n*1\r\n+x\r\n$-1\r\n"
        let expected: [RESPValue] = [
            .simpleString("OK"), .error("ERR bad thing"), .integer(-123), .bulkString(Array("he\0lo".utf8)),
            .bulkString([]), .null, .null, .array([]),
            .array([.integer(1), .array([.bulkString([97]), .array([.simpleString("x")])]), .null]),
        ]
        let reader = HiredisReader()
        var replies: [RESPValue] = []
        for byte in Array(wire.utf8) {
            try [byte].withUnsafeBytes { try reader.feed($0) }
            while let reply = try reader.nextReply() { replies.append(reply) }
        }
        #expect(replies == expected)
    }

    @Test func readerReportsProtocolErrors() throws {
        let reader = HiredisReader()
        try Array("?what\r\n".utf8).withUnsafeBytes { try reader.feed($0) }
        #expect {
            _ = try reader.nextReply()
        } throws: { error in
            guard case RedisClientError.protocolError(let message) = error else { return false }
            return message.contains("Protocol error")
        }
    }

    @Test func largeBulkStringInOneFeed() throws {
        let payload = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let wire = Array("$\(payload.count)\r\n".utf8) + payload + Array("\r\n:7\r\n".utf8)
        let reader = HiredisReader()
        try wire.withUnsafeBytes { try reader.feed($0) }
        #expect(try reader.nextReply() == .bulkString(payload))
        #expect(try reader.nextReply() == .integer(7))
        #expect(try reader.nextReply() == nil)
    }
}

import NIOCore
import Testing

@testable import RedisClient

@Suite struct RedisEncodedCommandsTests {
    /// The same bytes hiredis writes for the same arguments, whichever way
    /// an argument was given.
    @Test func encodesLikeHiredis() throws {
        let binary: [UInt8] = [0, 13, 10, 255, 36, 42]
        var encoded = RedisEncodedCommands()
        encoded.command(argumentCount: 5)
        encoded.argument(Array("HSET".utf8))
        encoded.argument(Array("p:r:s:".utf8), decimal: 1_790_812_800)
        binary.withUnsafeBytes { encoded.argument($0) }
        encoded.argument(length: 3) { $0.writeBytes([1, 2, 3]) }
        encoded.argument(Array("p:".utf8), decimal: -42)
        var fields = RedisEncodedArguments()
        Array("f".utf8).withUnsafeBytes { fields.argument($0) }
        fields.argument(length: 0) { _ in }
        encoded.command([Array("HSET".utf8), Array("key".utf8)], arguments: fields)
        encoded.command(argumentCount: 1)
        encoded.argument([])
        #expect(encoded.count == 3)

        let formatter = HiredisFormatter()
        var expected = ByteBuffer()
        try formatter.format(
            [
                "HSET", "p:r:s:1790812800", RedisArgument(bytes: binary), RedisArgument(bytes: [1, 2, 3]), "p:-42",
            ], into: &expected)
        try formatter.format(["HSET", "key", "f", ""], into: &expected)
        try formatter.format([""], into: &expected)
        #expect(Array(encoded.complete.readableBytesView) == Array(expected.readableBytesView))
        #expect(encoded.byteCount == expected.readableBytes)
    }

    @Test(.enabled(if: TestRedis.isAvailable)) func encodedPipelinesKeepOrderAndErrorsInPlace() async throws {
        try await TestRedis.withConfiguration { configuration in
            let client = RedisClient(configuration: configuration, logger: TestRedis.logger)
            let key = Array(TestRedis.key("encoded").utf8)
            try await client.withDedicatedConnection { connection in
                // Several chunks in flight at once, ordinary commands between them.
                let replies = try await withThrowingTaskGroup(of: (Int, [RESPValue]).self) { group in
                    for chunk in 0..<8 {
                        var commands = RedisEncodedCommands()
                        for index in 0..<500 {
                            commands.command(argumentCount: 3)
                            commands.argument(Array("RPUSH".utf8))
                            commands.argument(key)
                            commands.argument([], decimal: Int64(chunk * 500 + index))
                        }
                        if chunk == 3 {
                            commands.command(argumentCount: 2)
                            commands.argument(Array("HGET".utf8))
                            commands.argument(key)
                        }
                        let encoded = commands
                        group.addTask { (chunk, try await connection.pipeline(encoded)) }
                        group.addTask { (-1, [try await connection.send(RedisCommand("PING"))]) }
                    }
                    return try await group.reduce(into: [Int: [RESPValue]]()) { $0[$1.0, default: []] += $1.1 }
                }
                #expect(replies[-1] == Array(repeating: .simpleString("PONG"), count: 8))
                for chunk in 0..<8 {
                    let values = try #require(replies[chunk])
                    #expect(values.count == (chunk == 3 ? 501 : 500))
                    #expect(values.prefix(500).allSatisfy { $0.int != nil })
                    if chunk == 3 { #expect(values.last?.description.hasPrefix("(error) ERR wrong number") == true) }
                }
                // Each chunk's pushes landed together and in order.
                let list = try await connection.send(RedisCommand("LRANGE", RedisArgument(bytes: key), "0", "-1")).array ?? []
                let numbers = list.compactMap(\.int)
                #expect(numbers.count == 4000)
                for start in stride(from: 0, to: 4000, by: 500) {
                    let first = numbers[start]
                    #expect(first % 500 == 0)
                    #expect(Array(numbers[start..<start + 500]) == Array(first..<first + 500))
                }
                #expect(Set(numbers) == Set(0..<4000))
                _ = try await connection.send(RedisCommand("DEL", RedisArgument(bytes: key)))
                #expect(try await connection.pipeline(RedisEncodedCommands()) == [])
            }
        }
    }
}

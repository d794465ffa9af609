import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Load generator for /stream (bench/run.py): N WebSocket connections, each
// sending a message of `batch` events (fresh uuid4s, random letters, about 5%
// followups of recent uuids, like bench/wrk/initial.lua), waiting for its
// reply, and sending the next. Prints one STREAM_RESULT line.
//
// A bare client on NIO sockets (masked text frames out, reply frames counted
// in) so that the client costs little of the machine the server shares.
//
// Usage: stream-client [--host H] [--port P] [--connections N] [--batch B] [--seconds S]

struct Options {
    var host = "127.0.0.1"
    var port = 5000
    var connections = 8
    var batch = 100
    var seconds = 10.0

    init(_ arguments: [String]) throws {
        var iterator = arguments.makeIterator()
        while let flag = iterator.next() {
            guard let value = iterator.next() else { throw UsageError(text: "\(flag) needs a value") }
            switch flag {
            case "--host": host = value
            case "--port": port = try Self.number(flag, value)
            case "--connections": connections = try Self.number(flag, value)
            case "--batch": batch = try Self.number(flag, value)
            case "--seconds": seconds = Double(try Self.number(flag, value))
            default: throw UsageError(text: "unknown flag \(flag)")
            }
        }
    }

    static func number(_ flag: String, _ value: String) throws -> Int {
        guard let number = Int(value), number > 0 else { throw UsageError(text: "\(flag): a positive number") }
        return number
    }
}

struct UsageError: Error, CustomStringConvertible {
    var text: String
    var description: String { "stream-client: \(text)\nusage: stream-client [--host H] [--port P] [--connections N] [--batch B] [--seconds S]" }
}

struct ClientError: Error, CustomStringConvertible {
    var description: String
}

/// Fresh uuid4s and letters from a fast seeded generator.
struct EventMaker {
    var state: UInt64
    var recent: [String] = []

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func uuid4() -> String {
        let digits = Array("0123456789abcdef".utf8)
        var high = next(), low = next()
        high = high & ~0xF000 | 0x4000  // version 4
        low = low & ~(0xC << 60) | (0x8 << 60)  // variant 10
        var text = [UInt8]()
        text.reserveCapacity(36)
        for (index, shift) in stride(from: 60, through: 0, by: -4).enumerated() {
            if index == 8 || index == 12 { text.append(UInt8(ascii: "-")) }
            text.append(digits[Int(high >> UInt64(shift) & 0xF)])
        }
        for (index, shift) in stride(from: 60, through: 0, by: -4).enumerated() {
            if index == 0 || index == 4 { text.append(UInt8(ascii: "-")) }
            text.append(digits[Int(low >> UInt64(shift) & 0xF)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    mutating func message(events: Int) -> String {
        var text = "["
        for index in 0..<events {
            if index > 0 { text += "," }
            if !recent.isEmpty, next() % 100 < 5 {
                text += #"{"type":"followup","uuid":""# + recent[Int(next() % UInt64(recent.count))] + #""}"#
                continue
            }
            let id = uuid4()
            if recent.count < 256 { recent.append(id) } else { recent[Int(next() % 256)] = id }
            let letter = Character(UnicodeScalar(UInt8(ascii: "a") + UInt8(next() % 26)))
            text += #"{"type":"initial","uuid":""# + id + #"","symbol":""# + String(letter) + #""}"#
        }
        return text + "]"
    }
}

/// Totals of one connection.
struct Tally: Sendable {
    var messages = 0
    var events = 0
    var rejected = 0
}

func maskedTextFrame(_ payload: String, mask: UInt32) -> ByteBuffer {
    let bytes = Array(payload.utf8)
    var frame = ByteBuffer()
    frame.reserveCapacity(bytes.count + 14)
    frame.writeInteger(UInt8(0x81))
    switch bytes.count {
    case ..<126: frame.writeInteger(UInt8(0x80 | bytes.count))
    case ..<65536:
        frame.writeInteger(UInt8(0x80 | 126))
        frame.writeInteger(UInt16(bytes.count))
    default:
        frame.writeInteger(UInt8(0x80 | 127))
        frame.writeInteger(UInt64(bytes.count))
    }
    frame.writeInteger(mask)
    let key = [UInt8(mask >> 24), UInt8(mask >> 16 & 0xFF), UInt8(mask >> 8 & 0xFF), UInt8(mask & 0xFF)]
    frame.writeBytes(bytes.enumerated().map { $0.element ^ key[$0.offset & 3] })
    return frame
}

/// One reply frame (the server does not mask): its payload, once whole.
func nextFrame(_ buffer: inout ByteBuffer) throws -> (opcode: UInt8, payload: ByteBuffer)? {
    guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
        let second = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self)
    else { return nil }
    var header = 2
    var length = Int(second & 0x7F)
    if length == 126 {
        guard let extended = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt16.self) else { return nil }
        length = Int(extended)
        header = 4
    } else if length == 127 {
        guard let extended = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt64.self) else { return nil }
        length = Int(extended)
        header = 10
    }
    guard buffer.readableBytes >= header + length else { return nil }
    buffer.moveReaderIndex(forwardBy: header)
    return (first & 0x0F, buffer.readSlice(length: length)!)
}

/// Events the server refused: `{"error"` entries in a reply.
func errors(in payload: ByteBuffer) -> Int {
    let key = Array(#"{"error""#.utf8)
    let bytes = payload.readableBytesView
    var count = 0
    var index = bytes.startIndex
    while let found = bytes[index...].firstRange(of: key) {
        count += 1
        index = found.upperBound
    }
    return count
}

func runConnection(_ options: Options, number: Int, until deadline: ContinuousClock.Instant) async throws -> Tally {
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .channelOption(.tcpOption(.tcp_nodelay), value: 1)
        .connect(host: options.host, port: options.port) { channel in
            channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
        }
    var maker = EventMaker(state: UInt64(number) &* 0x1234_5678_9ABC_DEF1 ^ UInt64.random(in: 0...UInt64.max))
    return try await channel.executeThenClose { inbound, outbound in
        try await outbound.write(
            ByteBuffer(
                string: "GET /stream HTTP/1.1\r\nHost: \(options.host):\(options.port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
        var iterator = inbound.makeAsyncIterator()
        var received = ByteBuffer()
        while received.readableBytesView.firstRange(of: Array("\r\n\r\n".utf8)) == nil {
            guard var part = try await iterator.next() else { throw ClientError(description: "closed during the handshake") }
            received.writeBuffer(&part)
        }
        let head = String(buffer: received)
        guard head.hasPrefix("HTTP/1.1 101") else { throw ClientError(description: "no upgrade: \(head.prefix(80))") }
        received.moveReaderIndex(forwardBy: received.readableBytesView.firstRange(of: Array("\r\n\r\n".utf8))!.upperBound - received.readerIndex)

        var tally = Tally()
        // The next message is built while the current one is in flight.
        var next = maskedTextFrame(maker.message(events: options.batch), mask: UInt32(truncatingIfNeeded: maker.next()))
        while ContinuousClock.now < deadline {
            try await outbound.write(next)
            next = maskedTextFrame(maker.message(events: options.batch), mask: UInt32(truncatingIfNeeded: maker.next()))
            var reply: (opcode: UInt8, payload: ByteBuffer)?
            while reply == nil {
                reply = try nextFrame(&received)
                if reply == nil {
                    guard var part = try await iterator.next() else { throw ClientError(description: "server closed the connection") }
                    received.writeBuffer(&part)
                }
            }
            guard let reply, reply.opcode == 0x1, reply.payload.readableBytesView.first == UInt8(ascii: "[") else {
                throw ClientError(description: "unexpected reply: \(reply.map { String(buffer: $0.payload) } ?? "")")
            }
            tally.messages += 1
            tally.events += options.batch
            tally.rejected += errors(in: reply.payload)
            if received.readableBytes == 0 { received.clear() }
        }
        // Close handshake: status 1000.
        var close = ByteBuffer(bytes: [0x88, 0x82, 0, 0, 0, 0])
        close.writeInteger(UInt16(1000))
        try? await outbound.write(close)
        return tally
    }
}

func rounded(_ value: Double) -> String {
    String((value * 10).rounded() / 10)
}

let options: Options
do {
    options = try Options(Array(CommandLine.arguments.dropFirst()))
} catch {
    print(error)
    exit(2)
}
let started = ContinuousClock.now
let deadline = started + .milliseconds(Int64(options.seconds * 1000))
let total = try await withThrowingTaskGroup(of: Tally.self) { group in
    for number in 0..<options.connections {
        group.addTask { try await runConnection(options, number: number, until: deadline) }
    }
    var total = Tally()
    for try await tally in group {
        total.messages += tally.messages
        total.events += tally.events
        total.rejected += tally.rejected
    }
    return total
}
let elapsed = ContinuousClock.now - started
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
print(
    "stream-client: \(options.connections) connections, \(options.batch) events per message: "
        + "\(total.messages) messages, \(total.events) events in \(rounded(seconds)) s, \(total.rejected) refused")
print(
    "STREAM_RESULT eps=\(rounded(Double(total.events) / seconds)) mps=\(rounded(Double(total.messages) / seconds)) "
        + "events=\(total.events) messages=\(total.messages) rejected=\(total.rejected) seconds=\(rounded(seconds))")

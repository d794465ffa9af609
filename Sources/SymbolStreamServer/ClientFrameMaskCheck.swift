import NIOCore

/// Fails a WebSocket connection whose client sends a frame without a mask
/// (RFC 6455 §5.1: "a server MUST close the connection upon receiving a frame
/// that is not masked", with 1002, protocol error). Masking is what keeps a
/// page's WebSocket bytes from being read as another protocol by proxies in
/// between; NIO's frame decoder and hummingbird-websocket take either.
///
/// It reads the connection's raw bytes in front of NIO's frame decoder, so it
/// sees every client frame (control frames included, which the WebSocket
/// layer answers without the route seeing them) before anything acts on one.
/// The bytes of an unmasked frame never reach the decoder. `HTTPRequestGuard`
/// puts it in place when it lets the upgrade's `101` through.
final class ClientFrameMaskCheck: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let reason = "client frames must be masked (RFC 6455 5.1)"

    private var scanner = WebSocketFrameScanner()
    private var failed = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        var buffer = unwrapInboundIn(data)
        guard let unmasked = scanner.firstUnmaskedByte(in: buffer.readableBytesView) else {
            context.fireChannelRead(data)
            return
        }
        failed = true
        if let before = buffer.readSlice(length: unmasked), before.readableBytes > 0 {
            context.fireChannelRead(wrapInboundOut(before))
        }
        fail(context)
    }

    /// Sends the close frame (1002) and closes; what the client still sends is
    /// dropped, and the connection is dropped after a grace period if the
    /// client does not close (as after an HTTP refusal).
    private func fail(_ context: ChannelHandlerContext) {
        var frame = context.channel.allocator.buffer(capacity: 4 + Self.reason.utf8.count)
        frame.writeInteger(UInt8(0x88))  // FIN, close
        frame.writeInteger(UInt8(2 + Self.reason.utf8.count))  // unmasked (server), < 126 bytes
        frame.writeInteger(UInt16(1002))
        frame.writeString(Self.reason)
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(frame)).whenComplete { _ in
            let context = loopBound.value
            context.close(mode: .output, promise: nil)
            context.eventLoop.assumeIsolated().scheduleTask(in: HTTPRequestGuard.closeGracePeriod) { context.close(promise: nil) }
        }
    }
}

/// Follows the frame boundaries of a client's WebSocket byte stream (the frame
/// headers only; payloads are skipped) to find a frame sent without a mask.
struct WebSocketFrameScanner {
    /// The current frame's header bytes read so far, or the payload bytes
    /// still to skip.
    private enum State {
        case header([UInt8])
        case payload(remaining: UInt64)
    }

    private var state = State.header([])

    /// The offset in `bytes` of the byte that shows a frame is unmasked (the
    /// second byte of its header), or nil when every frame so far is masked.
    /// Bytes before it belong to earlier frames, or to that frame's first byte.
    mutating func firstUnmaskedByte(in bytes: some Collection<UInt8>) -> Int? {
        var index = bytes.startIndex
        var offset = 0
        while index != bytes.endIndex {
            switch state {
            case .payload(let remaining):
                let skip = Int(min(remaining, UInt64(bytes.distance(from: index, to: bytes.endIndex))))
                index = bytes.index(index, offsetBy: skip)
                offset += skip
                let left = remaining - UInt64(skip)
                state = left == 0 ? .header([]) : .payload(remaining: left)
            case .header(var header):
                header.append(bytes[index])
                if header.count == 2, header[1] & 0x80 == 0 { return offset }
                index = bytes.index(after: index)
                offset += 1
                if header.count >= 2, header.count == Self.headerLength(header) {
                    let length = Self.payloadLength(header)
                    state = length == 0 ? .header([]) : .payload(remaining: length)
                } else {
                    state = .header(header)
                }
            }
        }
        return nil
    }

    /// Bytes of a masked frame's header: 2, the extended length (0, 2 or 8),
    /// the mask key (4).
    private static func headerLength(_ header: [UInt8]) -> Int {
        switch header[1] & 0x7f {
        case 126: 2 + 2 + 4
        case 127: 2 + 8 + 4
        default: 2 + 4
        }
    }

    private static func payloadLength(_ header: [UInt8]) -> UInt64 {
        switch header[1] & 0x7f {
        case 126: header[2...3].reduce(0) { $0 << 8 | UInt64($1) }
        case 127: header[2...9].reduce(0) { $0 << 8 | UInt64($1) }
        case let short: UInt64(short)
        }
    }
}

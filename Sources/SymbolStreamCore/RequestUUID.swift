/// A request's uuid: 128 bits, parsed from the canonical 8-4-4-4-12 hex form
/// (case-insensitive) and always rendered in lower case.
///
/// Version and variant bits are not checked: RFC 4122's string form admits every
/// 128-bit value (the nil UUID included), and the client only promises uniqueness.
package struct RequestUUID: Hashable, Comparable, Sendable, CustomStringConvertible {
    package let high: UInt64
    package let low: UInt64

    package init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    package init?<S: StringProtocol>(parsing text: S) {
        var text = String(text)
        guard let parsed = text.withUTF8({ Self.parse(UnsafeRawBufferPointer($0)) }) else { return nil }
        self = parsed
    }

    /// The same, from UTF-8 bytes (e.g. a database row read in place).
    package init?(utf8 bytes: UnsafeRawBufferPointer) {
        guard let parsed = Self.parse(bytes) else { return nil }
        self = parsed
    }

    /// Non-generic, so it stays fast when called from other modules.
    private static func parse(_ bytes: UnsafeRawBufferPointer) -> RequestUUID? {
        guard bytes.count == 36 else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        var nibbles = 0
        for position in 0..<36 {
            let byte = bytes[position]
            if position == 8 || position == 13 || position == 18 || position == 23 {
                guard byte == UInt8(ascii: "-") else { return nil }
                continue
            }
            guard let value = hexDigitValue(byte) else { return nil }
            if nibbles < 16 {
                high = high << 4 | UInt64(value)
            } else {
                low = low << 4 | UInt64(value)
            }
            nibbles += 1
        }
        return RequestUUID(high: high, low: low)
    }

    /// The 16 bytes, big-endian: what Redis stores (compact, binary-safe).
    /// Inlinable so that callers in other modules (the archiver decodes
    /// millions) get a specialized copy instead of generic dispatch per byte.
    @inlinable
    package init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (offset, byte) in bytes.enumerated() {
            if offset < 8 { high = high << 8 | UInt64(byte) } else { low = low << 8 | UInt64(byte) }
        }
        self.init(high: high, low: low)
    }

    package var bytes: [UInt8] {
        var result = [UInt8]()
        result.reserveCapacity(16)
        append(to: &result)
        return result
    }

    /// Appends the 16 bytes to a buffer being built (no array of its own).
    package func append(to buffer: inout [UInt8]) {
        for shift in stride(from: 56, through: 0, by: -8) { buffer.append(UInt8(truncatingIfNeeded: high >> UInt64(shift))) }
        for shift in stride(from: 56, through: 0, by: -8) { buffer.append(UInt8(truncatingIfNeeded: low >> UInt64(shift))) }
    }

    package var description: String {
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(36)
        for (index, byte) in bytes.enumerated() {
            if index == 4 || index == 6 || index == 8 || index == 10 { text.append(UInt8(ascii: "-")) }
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    package static func < (lhs: RequestUUID, rhs: RequestUUID) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }
}

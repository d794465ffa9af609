/// Redis Cluster's key → slot mapping: CRC16 (XMODEM) of the key, or of its
/// hash tag (the text between the first `{` and the next `}`, when not
/// empty), modulo 16384. Keys that share a tag share a slot, so one command
/// or one function call may touch them all, on one node.
package enum HashSlot {
    package static let count: UInt16 = 16384

    package static func of(key: some Collection<UInt8>) -> UInt16 {
        let bytes = Array(key)
        if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
            let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
        {
            return crc16(bytes[(open + 1)..<close]) % count
        }
        return crc16(bytes[...]) % count
    }

    package static func of(key: String) -> UInt16 { of(key: Array(key.utf8)) }

    static func crc16(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ table[Int((crc >> 8) ^ UInt16(byte))]
        }
        return crc
    }

    /// CRC16-CCITT (polynomial 0x1021), as the cluster specification gives it.
    private static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }
}

import NIOCore
import SymbolStreamCore

/// One symbol's statistics in a bucket hash (`STATS_FORMAT`, `>dddddd`):
/// count, followups, first and last receive time in µs, initials answered
/// True and their followups, as big-endian doubles (exact below 2^53, which
/// is what lets Lua add to them).
enum StatsRecord {
    static let byteCount = 48
    private static let fieldCount = 6

    /// Nil if the bytes are not six doubles holding whole numbers.
    static func decode(_ bytes: [UInt8]) -> BucketStats? {
        guard bytes.count == byteCount else { return nil }
        var values = (Int64(0), Int64(0), Int64(0), Int64(0), Int64(0), Int64(0))
        let decoded: Bool = bytes.withUnsafeBytes { raw in
            func field(_ index: Int) -> Int64? {
                let bits = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self))
                return Int64(exactly: Double(bitPattern: bits))
            }
            guard let count = field(0), let followups = field(1), let first = field(2), let last = field(3),
                let answeredTrue = field(4), let followupsAnsweredTrue = field(5)
            else { return false }
            values = (count, followups, first, last, answeredTrue, followupsAnsweredTrue)
            return true
        }
        guard decoded else { return nil }
        return BucketStats(
            count: values.0, followups: values.1, earliest: Timestamp(microseconds: values.2),
            latest: Timestamp(microseconds: values.3), answeredTrue: values.4, followupsAnsweredTrue: values.5)
    }

    static func write(_ stats: BucketStats, to buffer: inout ByteBuffer) {
        buffer.writeMultipleIntegers(
            Double(stats.count).bitPattern, Double(stats.followups).bitPattern, Double(stats.earliest?.microseconds ?? 0).bitPattern,
            Double(stats.latest?.microseconds ?? 0).bitPattern, Double(stats.answeredTrue).bitPattern,
            Double(stats.followupsAnsweredTrue).bitPattern)
    }

    static func encode(_ stats: BucketStats) -> [UInt8] {
        var buffer = ByteBuffer()
        write(stats, to: &buffer)
        return Array(buffer.readableBytesView)
    }
}

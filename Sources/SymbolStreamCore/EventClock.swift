#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Assigns receive times: wall-clock microseconds, strictly increasing within
/// this process.
///
/// Strictness makes `(uuid, kind, received_at)` a unique identity for every
/// event, even two followups of one uuid in the same microsecond, which is what
/// lets the archive deduplicate redelivered events. A wall clock stepping
/// backwards is absorbed by advancing from the last value until it catches up.
package final class EventClock: Sendable {
    private let last = Atomic<Int64>(Int64.min)
    private let source: @Sendable () -> Int64

    package init(source: @escaping @Sendable () -> Int64 = EventClock.wallClockMicroseconds) {
        self.source = source
    }

    package func now() -> Timestamp {
        let reading = source()
        var previous = last.load(ordering: .relaxed)
        while true {
            let next = Swift.max(reading, previous &+ 1)
            let (exchanged, current) = last.compareExchange(
                expected: previous, desired: next, ordering: .relaxed)
            if exchanged { return Timestamp(microseconds: next) }
            previous = current
        }
    }

    @Sendable
    package static func wallClockMicroseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1000
    }
}

/// A half-open time range [lower, upper).
package struct TimeRange: Sendable, Hashable {
    package var lower: Timestamp
    package var upper: Timestamp

    package init(lower: Timestamp, upper: Timestamp) {
        precondition(lower <= upper, "a range's lower bound must not be after its upper bound")
        self.lower = lower
        self.upper = upper
    }

    package var isEmpty: Bool { lower == upper }

    package func contains(_ time: Timestamp) -> Bool { lower <= time && time < upper }
}

/// The time buckets that rollups keep. Each size divides the next, so any range
/// of whole seconds is covered exactly by aligned buckets, fine at the edges and
/// coarse in the middle.
package enum RollupLevel: String, Sendable, CaseIterable, Hashable, Comparable {
    case second = "s"
    case minute = "m"
    case hour = "h"
    case day = "d"

    package var seconds: Int64 {
        switch self {
        case .second: 1
        case .minute: 60
        case .hour: 3600
        case .day: 86_400
        }
    }

    package static func < (lhs: RollupLevel, rhs: RollupLevel) -> Bool { lhs.seconds < rhs.seconds }

    /// The index of the bucket holding `second` (floor division: aligned to UTC).
    package func bucket(containing second: Int64) -> Int64 { second.floorDivided(by: seconds) }
}

/// One aligned bucket: `[index * level.seconds, (index + 1) * level.seconds)`.
package struct RollupBucket: Sendable, Hashable, CustomStringConvertible {
    package var level: RollupLevel
    package var index: Int64

    package init(level: RollupLevel, index: Int64) {
        self.level = level
        self.index = index
    }

    package var firstSecond: Int64 { index * level.seconds }
    package var description: String { "\(level.rawValue):\(index)" }
}

/// A part of one second, `[offsets.lowerBound, offsets.upperBound)` microseconds
/// into `second`: answered from that second's fine log.
package struct FineEdge: Sendable, Hashable {
    package var second: Int64
    package var offsets: Range<Int64>

    package init(second: Int64, offsets: Range<Int64>) {
        self.second = second
        self.offsets = offsets
    }
}

/// A range split into disjoint pieces whose union is exactly the range: whole
/// buckets plus at most two partial seconds. Its size depends on the length of
/// the range (at most 59 + 59 + 23 buckets per edge plus one per day), never on
/// how many events are stored.
package struct RangeDecomposition: Sendable, Hashable {
    package var buckets: [RollupBucket]
    package var edges: [FineEdge]

    package init(buckets: [RollupBucket] = [], edges: [FineEdge] = []) {
        self.buckets = buckets
        self.edges = edges
    }

    /// - Parameter dataSpan: the first and last stored event time, when known;
    ///   the range is first narrowed to the whole days holding data, which
    ///   keeps `1970-01-01/2100-01-01` as cheap as the data's own extent.
    package init(_ range: TimeRange, dataSpan: ClosedRange<Timestamp>? = nil) {
        self.init()
        var lower = range.lower.microseconds
        var upper = range.upper.microseconds
        if let dataSpan {
            let day = Timestamp.microsecondsPerDay
            let firstDay = dataSpan.lowerBound.microseconds.floorDivided(by: day) * day
            let afterLastDay = (dataSpan.upperBound.microseconds.floorDivided(by: day) + 1) * day
            lower = Swift.max(lower, firstDay)
            upper = Swift.min(upper, afterLastDay)
        }
        guard lower < upper else { return }

        let perSecond = Timestamp.microsecondsPerSecond
        let lowerSecond = lower.floorDivided(by: perSecond)
        let lowerOffset = lower - lowerSecond * perSecond
        let upperSecond = upper.floorDivided(by: perSecond)
        let upperOffset = upper - upperSecond * perSecond

        if lowerSecond == upperSecond {
            edges.append(FineEdge(second: lowerSecond, offsets: lowerOffset..<upperOffset))
            return
        }
        var firstWholeSecond = lowerSecond
        if lowerOffset > 0 {
            edges.append(FineEdge(second: lowerSecond, offsets: lowerOffset..<perSecond))
            firstWholeSecond += 1
        }
        if upperOffset > 0 {
            edges.append(FineEdge(second: upperSecond, offsets: 0..<upperOffset))
        }
        buckets = Self.cover(seconds: firstWholeSecond..<upperSecond)
    }

    /// Greedy cover by the largest aligned bucket that fits; optimal because
    /// every bucket size divides the next one.
    static func cover(seconds: Range<Int64>) -> [RollupBucket] {
        let largestFirst = RollupLevel.allCases.sorted(by: >)
        var result = [RollupBucket]()
        var start = seconds.lowerBound
        while start < seconds.upperBound {
            for level in largestFirst where start.floorModulo(level.seconds) == 0 && start + level.seconds <= seconds.upperBound {
                result.append(RollupBucket(level: level, index: start / level.seconds))
                start += level.seconds
                break
            }
        }
        return result
    }
}

/// The checks of the dashboard page's query-string routes (`/dashboard/series`,
/// `/dashboard/accuracy`): bounds `from`/`to` in the formats of
/// `/dashboard/range`, and a series step.
extension Validate {
    /// A series answers at most this many buckets (a day of minutes), which
    /// bounds the cost of one request.
    package static let maximumSeriesBuckets = 1440

    /// The half-open range `[from, to)`; both are required.
    package static func queryRange(from: String?, to: String?) throws(InputError) -> TimeRange {
        guard let from else {
            throw InputError(
                parameter: "from", reason: .missingParameter, message: "from: missing; expected a date YYYY-MM-DD or a time YYYY-MM-DDTHH:MM:SS[.ffffff][Z]")
        }
        guard let to else {
            throw InputError(
                parameter: "to", reason: .missingParameter, message: "to: missing; expected a date YYYY-MM-DD or a time YYYY-MM-DDTHH:MM:SS[.ffffff][Z]")
        }
        let lower = try bound(from, parameter: "from")
        let upper = try bound(to, parameter: "to")
        guard lower <= upper else {
            throw InputError(
                parameter: "from", reason: .invertedRange, message: "from: \(InputError.quoted(from)) is after to \(InputError.quoted(to))")
        }
        return TimeRange(lower: lower, upper: upper)
    }

    /// The buckets of a series over `range`: at the given step, or, without
    /// one, at the finest level that stays within `maximumSeriesBuckets`.
    package static func seriesSpan(_ range: TimeRange, step: String?) throws(InputError) -> BucketSpan {
        let limit = Int64(maximumSeriesBuckets)
        guard let step else {
            for level in RollupLevel.allCases where BucketSpan.bucketCount(covering: range, level: level) <= limit {
                return BucketSpan(covering: range, level: level)
            }
            let days = BucketSpan.bucketCount(covering: range, level: .day)
            throw InputError(
                parameter: "to", reason: .tooManyBuckets,
                message: "to: the range from \(range.lower) to \(range.upper) spans \(days) days, more than \(limit) buckets even at step day; shorten it")
        }
        guard let level = RollupLevel(step: step) else {
            throw InputError(
                parameter: "step", reason: .invalidStep,
                message: "step: \(InputError.quoted(step)) is not one of second, minute, hour, day (or 1, 60, 3600, 86400)")
        }
        let count = BucketSpan.bucketCount(covering: range, level: level)
        guard count <= limit else {
            throw InputError(
                parameter: "step", reason: .tooManyBuckets,
                message: "step: \(level.name) gives \(count) buckets from \(range.lower) to \(range.upper), more than \(limit); choose a coarser step or a shorter range")
        }
        return BucketSpan(covering: range, level: level)
    }
}

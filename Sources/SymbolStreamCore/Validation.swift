/// Why a request was rejected: a small closed set, so rejects can be counted per
/// reason (metrics, `/health`) and tested without matching on prose.
package enum RejectReason: String, Sendable, CaseIterable, Hashable {
    case missingParameter = "missing_parameter"
    case duplicateParameter = "duplicate_parameter"
    case malformedEncoding = "malformed_encoding"
    case invalidUUID = "invalid_uuid"
    case invalidSymbol = "invalid_symbol"
    case invalidBound = "invalid_bound"
    case invertedRange = "inverted_range"
    case uuidConflict = "uuid_conflict"
    case bodyTooLarge = "body_too_large"
    case unsupportedMediaType = "unsupported_media_type"
    case invalidMessage = "invalid_message"
    case invalidStep = "invalid_step"
    case tooManyBuckets = "too_many_buckets"
    case headersTooLarge = "headers_too_large"
    case malformedRequest = "malformed_request"
    case incompleteRequest = "incomplete_request"
    /// A transfer coding other than chunked (501).
    case unsupportedTransferCoding = "unsupported_transfer_coding"
    /// A WebSocket handshake that is not one (no key, another version…).
    case invalidUpgrade = "invalid_upgrade"
    /// A WebSocket handshake from a page `--stream-allowed-origins` does not allow (403).
    case forbiddenOrigin = "forbidden_origin"
    case invalidIdempotencyKey = "invalid_idempotency_key"
    /// `/dashboard/top`'s `by` or `n`.
    case invalidRanking = "invalid_ranking"
}

/// A client error that names the parameter at fault. Nothing is stored for a
/// request that fails validation.
package struct InputError: Error, Sendable, Hashable, CustomStringConvertible {
    package var parameter: String
    package var reason: RejectReason
    package var message: String

    package init(parameter: String, reason: RejectReason, message: String) {
        self.parameter = parameter
        self.reason = reason
        self.message = message
    }

    package var description: String { message }

    static func quoted(_ value: some StringProtocol) -> String {
        let limit = 40
        let text = value.count > limit ? value.prefix(limit) + "…" : String(value)
        return "'\(text)'"
    }
}

/// The checks the routes apply, one function per kind of parameter.
package enum Validate {
    package static let uuidExample = "123e4567-e89b-42d3-a456-426614174000"

    package static func requestID(_ raw: String?, parameter: String = "uuid") throws(InputError) -> RequestUUID {
        try required(
            raw, parameter: parameter, parse: RequestUUID.init(parsing:), invalid: .invalidUUID,
            expected: "a UUID like \(uuidExample)", notA: "a UUID in 8-4-4-4-12 hex form like \(uuidExample)")
    }

    package static func symbol(_ raw: String?, parameter: String = "symbol") throws(InputError) -> Symbol {
        try required(
            raw, parameter: parameter, parse: Symbol.init(parsing:), invalid: .invalidSymbol,
            expected: "one letter a-z", notA: "a single letter a-z")
    }

    /// A required parameter: missing, or not what `parse` accepts, is an
    /// error naming it and saying what was expected.
    static func required<Value>(
        _ raw: String?, parameter: String, parse: (String) -> Value?, invalid: RejectReason, expected: String, notA: String
    ) throws(InputError) -> Value {
        guard let raw else {
            throw InputError(parameter: parameter, reason: .missingParameter, message: "\(parameter): missing; expected \(expected)")
        }
        guard let value = parse(raw) else {
            throw InputError(
                parameter: parameter, reason: invalid, message: "\(parameter): \(InputError.quoted(raw)) is not \(notA)")
        }
        return value
    }

    package static func bound(_ raw: String, parameter: String) throws(InputError) -> Timestamp {
        switch Timestamp.parseBound(raw) {
        case .success(let time):
            return time
        case .failure(.malformed):
            throw InputError(
                parameter: parameter, reason: .invalidBound,
                message: "\(parameter): \(InputError.quoted(raw)) is not a date YYYY-MM-DD or a time YYYY-MM-DDTHH:MM:SS[.ffffff][Z] (UTC)")
        case .failure(.impossible):
            throw InputError(
                parameter: parameter, reason: .invalidBound,
                message: "\(parameter): \(InputError.quoted(raw)) is not a real date and time")
        }
    }

    /// The half-open range [lower, upper); `lower == upper` is valid and empty.
    package static func range(lower: String, upper: String) throws(InputError) -> TimeRange {
        let from = try bound(lower, parameter: "lower")
        let to = try bound(upper, parameter: "upper")
        guard from <= to else {
            throw InputError(
                parameter: "lower", reason: .invertedRange,
                message: "lower: \(InputError.quoted(lower)) is after upper \(InputError.quoted(upper))")
        }
        return TimeRange(lower: from, upper: to)
    }
}

/// A rule of the stores behind the service about which uuids they can hold,
/// applied at the door: an event a store would refuse is a 400, never an
/// acknowledged event stuck on its way to the archive. (The archive's MariaDB
/// `UUID` column has such a rule; see `MariaDBArchive.UUIDColumn`.)
package protocol EventAdmission: Sendable {
    /// Why `id` cannot be stored (a phrase completing "cannot be stored: …"),
    /// or nil when it can.
    func refusal(of id: RequestUUID) -> String?
}

extension EventAdmission {
    /// Throws the 400 for `id` given as `parameter` if it cannot be stored.
    package func check(_ id: RequestUUID, parameter: String = "uuid") throws(InputError) {
        if let reason = refusal(of: id) {
            throw InputError(
                parameter: parameter, reason: .invalidUUID,
                message: "\(parameter): \(InputError.quoted(id.description)) cannot be stored: \(reason)")
        }
    }
}

/// Every uuid can be stored (stores without a rule of their own, tests).
package struct AdmitEveryEvent: EventAdmission {
    package init() {}
    package func refusal(of id: RequestUUID) -> String? { nil }
}

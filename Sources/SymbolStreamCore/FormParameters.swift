/// Parameters from a query string or an `application/x-www-form-urlencoded`
/// body, percent-decoded (`+` is a space), in order of appearance.
///
/// Written here rather than taken from the framework so that keys are decoded
/// too, bad escapes and non-UTF-8 are rejected (never silently altered), and a
/// parameter given twice with different values is an error instead of a guess.
package struct FormParameters: Sendable, Hashable {
    package private(set) var entries: [(name: String, value: String)] = []

    package init() {}

    package init(parsing encoded: some StringProtocol) throws(InputError) {
        try append(parsing: encoded)
    }

    package mutating func append(parsing encoded: some StringProtocol) throws(InputError) {
        // A plain byte loop: this runs on every ingest request.
        let bytes = Array(encoded.utf8)
        var start = 0
        while start <= bytes.count {
            var end = start
            var equals = -1
            while end < bytes.count, bytes[end] != UInt8(ascii: "&") {
                if equals < 0, bytes[end] == UInt8(ascii: "=") { equals = end }
                end += 1
            }
            if end > start {
                let nameEnd = equals < 0 ? end : equals
                let name = try Self.decode(bytes[start..<nameEnd], parameter: nil)
                let value = equals < 0 ? "" : try Self.decode(bytes[(equals + 1)..<end], parameter: name)
                entries.append((name, value))
            }
            start = end + 1
        }
    }

    /// The value of `name`; `nil` when absent. Repeating a parameter with the
    /// same value is harmless (clients retry by re-appending); different values
    /// are ambiguous and rejected.
    package func value(_ name: String) throws(InputError) -> String? {
        var found: String?
        for entry in entries where entry.name == name {
            if let found, found != entry.value {
                throw InputError(
                    parameter: name, reason: .duplicateParameter,
                    message: "\(name): given more than once with different values")
            }
            found = entry.value
        }
        return found
    }

    package static func == (lhs: FormParameters, rhs: FormParameters) -> Bool {
        lhs.entries.elementsEqual(rhs.entries) { $0.name == $1.name && $0.value == $1.value }
    }

    package func hash(into hasher: inout Hasher) {
        for entry in entries {
            hasher.combine(entry.name)
            hasher.combine(entry.value)
        }
    }

    /// Throws the error `init(parsing:)` would for `encoded`, without keeping
    /// anything: for routes that read no parameter. Most query strings need
    /// one pass over their bytes.
    package static func checkEncoding(_ encoded: some StringProtocol) throws(InputError) {
        let bytes = encoded.utf8
        guard bytes.contains(where: { $0 == UInt8(ascii: "%") || $0 >= 0x80 }) else { return }
        _ = try FormParameters(parsing: encoded)
    }

    /// Percent-decodes one component; `parameter` names it in the error.
    package static func decode(_ bytes: some Collection<UInt8>, parameter: String?) throws(InputError) -> String {
        // Most values need no decoding at all.
        if !bytes.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") || $0 >= 0x80 }) {
            return String(decoding: bytes, as: UTF8.self)
        }
        var output = [UInt8]()
        output.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        func fail() -> InputError {
            let name = parameter ?? "query"
            return InputError(
                parameter: name, reason: .malformedEncoding,
                message: "\(name): invalid percent-encoding or not UTF-8")
        }
        while index != bytes.endIndex {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "+"):
                output.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                let first = bytes.index(after: index)
                guard first != bytes.endIndex else { throw fail() }
                let second = bytes.index(after: first)
                guard second != bytes.endIndex, let high = hexDigitValue(bytes[first]), let low = hexDigitValue(bytes[second]) else {
                    throw fail()
                }
                output.append(high << 4 | low)
                index = second
            default:
                output.append(byte)
            }
            index = bytes.index(after: index)
        }
        guard let text = String(validating: output, as: UTF8.self) else { throw fail() }
        return text
    }
}

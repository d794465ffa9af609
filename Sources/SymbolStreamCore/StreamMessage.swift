/// A `/stream` text message: a JSON array of 1…`maximumEvents` event objects,
/// `{"type":"initial","uuid":…,"symbol":…}` or `{"type":"followup","uuid":…}`,
/// either with an optional `"idempotency_key":…` (`POST /followup`'s
/// `Idempotency-Key`: on a followup, a retry with the same key counts once;
/// on an initial, which is idempotent by its uuid, it is checked and changes
/// nothing, as the header on `POST /initial`).
///
/// A hand-written parser for this one shape rather than a general JSON decoder:
/// it reads the bytes once without building a tree, rejects anything that is
/// not strict JSON (RFC 8259), never recurses deeper than `maximumDepth`, and
/// keeps a bad event apart from its neighbours. The fields go through
/// `Validate`, so an event passes exactly when the same values would pass the
/// HTTP routes (null counts as missing; unknown keys are ignored, like unknown
/// query parameters; a key given twice with different values is rejected, like
/// a repeated parameter).
package enum StreamMessage {
    package typealias Item = Result<IngestRequest, InputError>

    /// Nesting allowed inside an event (in the values of unknown keys).
    package static let maximumDepth = 16

    /// The events in order, each valid or with the error naming its field; or
    /// one error for the whole message (reason `invalidMessage`, or
    /// `bodyTooLarge` for more than `maximumEvents` events) when it is not a
    /// JSON array of 1…`maximumEvents` objects.
    package static func parse(_ text: String, maximumEvents: Int) -> Result<[Item], InputError> {
        var text = text
        return text.withUTF8 { bytes in
            var parser = MessageParser(bytes: bytes, maximumEvents: maximumEvents)
            do throws(InputError) {
                return .success(try parser.message())
            } catch {
                return .failure(error)
            }
        }
    }
}

/// The value of one known key of an event object.
private enum FieldValue: Equatable {
    case string(String)
    case null
    /// Any other JSON value, described for the error ("a number", …).
    case other(String)
}

/// The known keys of an event, as they were given.
private struct EventFields {
    static let names = ["type", "uuid", "symbol", "idempotency_key"]
    var values: [FieldValue?] = [nil, nil, nil, nil]
    var repeatedWithAnotherValue = [false, false, false, false]

    mutating func set(_ slot: Int, _ value: FieldValue) {
        if let existing = values[slot], existing != value { repeatedWithAnotherValue[slot] = true }
        values[slot] = value
    }

    /// The string given for `slot` (nil when absent or null), after the same
    /// repeated-parameter check as `FormParameters.value`.
    func string(_ slot: Int, reason: RejectReason, expected: String) throws(InputError) -> String? {
        let name = Self.names[slot]
        if repeatedWithAnotherValue[slot] {
            throw InputError(parameter: name, reason: .duplicateParameter, message: "\(name): given more than once with different values")
        }
        switch values[slot] {
        case nil, .null: return nil
        case .string(let text): return text
        case .other(let kind):
            throw InputError(parameter: name, reason: reason, message: "\(name): expected a string (\(expected)), got \(kind)")
        }
    }

    func idempotencyKey() throws(InputError) -> IdempotencyKey? {
        let name = Self.names[3]
        return try Validate.idempotencyKey(
            try string(3, reason: .invalidIdempotencyKey, expected: "1 to \(IdempotencyKey.maximumLength) of A-Z a-z 0-9 - _ . : ~ + / ="),
            parameter: name)
    }

    func validated() throws(InputError) -> IngestRequest {
        let type = try string(0, reason: .invalidMessage, expected: #""initial" or "followup""#)
        switch type {
        case "initial":
            let id = try Validate.requestID(try string(1, reason: .invalidUUID, expected: "a UUID like \(Validate.uuidExample)"))
            let symbol = try Validate.symbol(try string(2, reason: .invalidSymbol, expected: "one letter a-z"))
            _ = try idempotencyKey()
            return .initial(id, symbol)
        case "followup":
            let id = try Validate.requestID(try string(1, reason: .invalidUUID, expected: "a UUID like \(Validate.uuidExample)"))
            return .followup(id, idempotencyKey: try idempotencyKey())
        case nil:
            throw InputError(parameter: "type", reason: .missingParameter, message: #"type: missing; expected "initial" or "followup""#)
        case let other?:
            throw InputError(
                parameter: "type", reason: .invalidMessage, message: #"type: \#(InputError.quoted(other)) is not "initial" or "followup""#)
        }
    }
}

/// A JSON string's content: a range of the message when it has no escapes,
/// else the decoded bytes.
private enum JSONString {
    case raw(Range<Int>)
    case decoded([UInt8])

    func text(in bytes: UnsafeBufferPointer<UInt8>) -> String {
        switch self {
        case .raw(let range): String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
        case .decoded(let decoded): String(decoding: decoded, as: UTF8.self)
        }
    }

    func equals(_ name: String, in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        switch self {
        case .raw(let range): name.utf8.elementsEqual(UnsafeBufferPointer(rebasing: bytes[range]))
        case .decoded(let decoded): name.utf8.elementsEqual(decoded)
        }
    }
}

/// A strict JSON reader over the message's UTF-8 bytes. Every read goes
/// through `peek`, which checks the bounds, so no input can read past the end.
private struct MessageParser {
    let bytes: UnsafeBufferPointer<UInt8>
    let maximumEvents: Int
    var index = 0

    init(bytes: UnsafeBufferPointer<UInt8>, maximumEvents: Int) {
        self.bytes = bytes
        self.maximumEvents = maximumEvents
    }

    // MARK: The message shape

    mutating func message() throws(InputError) -> [StreamMessage.Item] {
        skipWhitespace()
        guard consume(UInt8(ascii: "[")) else {
            throw Self.wholeMessage(
                #"message: expected a JSON array of events like [{"type":"initial","uuid":"…","symbol":"e"}]"#)
        }
        skipWhitespace()
        if consume(UInt8(ascii: "]")) {
            throw Self.wholeMessage("message: empty array; send 1 to \(maximumEvents) events")
        }
        var items = [StreamMessage.Item]()
        items.reserveCapacity(min(maximumEvents, 64))
        while true {
            skipWhitespace()
            guard consume(UInt8(ascii: "{")) else {
                if peek() == nil || peek() == UInt8(ascii: "]") { throw syntax("an event object") }
                throw Self.wholeMessage("message: element \(items.count + 1) of the array is not an event object {…}")
            }
            if items.count == maximumEvents {
                throw InputError(
                    parameter: "message", reason: .bodyTooLarge,
                    message: "message: more than \(maximumEvents) events; send at most \(maximumEvents) per message")
            }
            let fields = try eventFields()
            items.append(Result { () throws(InputError) in try fields.validated() })
            skipWhitespace()
            if consume(UInt8(ascii: ",")) { continue }
            if consume(UInt8(ascii: "]")) { break }
            throw syntax("',' or ']'")
        }
        skipWhitespace()
        guard peek() == nil else { throw syntax("the end of the message after the array") }
        return items
    }

    /// After `{`: the members of one event object.
    mutating func eventFields() throws(InputError) -> EventFields {
        var fields = EventFields()
        skipWhitespace()
        if consume(UInt8(ascii: "}")) { return fields }
        while true {
            skipWhitespace()
            guard consume(UInt8(ascii: "\"")) else { throw syntax("a key in double quotes") }
            let key = try string()
            skipWhitespace()
            guard consume(UInt8(ascii: ":")) else { throw syntax("':' after a key") }
            skipWhitespace()
            if let slot = EventFields.names.firstIndex(where: { key.equals($0, in: bytes) }) {
                fields.set(slot, try fieldValue())
            } else {
                _ = try skipValue(depth: 2)
            }
            skipWhitespace()
            if consume(UInt8(ascii: ",")) { continue }
            if consume(UInt8(ascii: "}")) { return fields }
            throw syntax("',' or '}'")
        }
    }

    mutating func fieldValue() throws(InputError) -> FieldValue {
        if consume(UInt8(ascii: "\"")) {
            return .string(try string().text(in: bytes))
        }
        let kind = try skipValue(depth: 2)
        return kind == "null" ? .null : .other(kind)
    }

    // MARK: JSON values

    /// Reads any JSON value and returns what it was ("a number", …).
    mutating func skipValue(depth: Int) throws(InputError) -> String {
        guard depth <= StreamMessage.maximumDepth else {
            throw Self.wholeMessage("message: nested deeper than \(StreamMessage.maximumDepth) levels")
        }
        guard let byte = peek() else { throw syntax("a value") }
        switch byte {
        case UInt8(ascii: "\""):
            index += 1
            _ = try string()
            return "a string"
        case UInt8(ascii: "{"):
            index += 1
            skipWhitespace()
            if consume(UInt8(ascii: "}")) { return "an object" }
            while true {
                skipWhitespace()
                guard consume(UInt8(ascii: "\"")) else { throw syntax("a key in double quotes") }
                _ = try string()
                skipWhitespace()
                guard consume(UInt8(ascii: ":")) else { throw syntax("':' after a key") }
                skipWhitespace()
                _ = try skipValue(depth: depth + 1)
                skipWhitespace()
                if consume(UInt8(ascii: ",")) { continue }
                if consume(UInt8(ascii: "}")) { return "an object" }
                throw syntax("',' or '}'")
            }
        case UInt8(ascii: "["):
            index += 1
            skipWhitespace()
            if consume(UInt8(ascii: "]")) { return "an array" }
            while true {
                skipWhitespace()
                _ = try skipValue(depth: depth + 1)
                skipWhitespace()
                if consume(UInt8(ascii: ",")) { continue }
                if consume(UInt8(ascii: "]")) { return "an array" }
                throw syntax("',' or ']'")
            }
        case UInt8(ascii: "t"):
            try literal("true")
            return "a boolean"
        case UInt8(ascii: "f"):
            try literal("false")
            return "a boolean"
        case UInt8(ascii: "n"):
            try literal("null")
            return "null"
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try number()
            return "a number"
        default:
            throw syntax("a value")
        }
    }

    mutating func literal(_ word: String) throws(InputError) {
        for byte in word.utf8 {
            guard consume(byte) else { throw syntax("a value") }
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    mutating func number() throws(InputError) {
        _ = consume(UInt8(ascii: "-"))
        if consume(UInt8(ascii: "0")) {
            // no leading zeros
        } else {
            guard try digits() > 0 else { throw syntax("a digit") }
        }
        if consume(UInt8(ascii: ".")) {
            guard try digits() > 0 else { throw syntax("a digit after '.'") }
        }
        if consume(UInt8(ascii: "e")) || consume(UInt8(ascii: "E")) {
            if !consume(UInt8(ascii: "+")) { _ = consume(UInt8(ascii: "-")) }
            guard try digits() > 0 else { throw syntax("a digit in the exponent") }
        }
    }

    mutating func digits() throws(InputError) -> Int {
        var count = 0
        while let byte = peek(), byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
            index += 1
            count += 1
        }
        return count
    }

    /// After the opening quote: the string, through the closing quote. Most
    /// strings have no escapes and stay a range of the message (no copy).
    mutating func string() throws(InputError) -> JSONString {
        let start = index
        while let byte = peek(), byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {
            guard byte >= 0x20 else { throw syntax("no control characters inside a string (escape them)") }
            index += 1
        }
        if consume(UInt8(ascii: "\"")) { return .raw(start..<(index - 1)) }
        var output = Array(UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while true {
            guard let byte = peek() else { throw syntax("'\"' to end the string") }
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return .decoded(output)
            case UInt8(ascii: "\\"):
                guard let escaped = peek() else { throw syntax("an escape after '\\'") }
                index += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): output.append(escaped)
                case UInt8(ascii: "b"): output.append(0x08)
                case UInt8(ascii: "f"): output.append(0x0c)
                case UInt8(ascii: "n"): output.append(0x0a)
                case UInt8(ascii: "r"): output.append(0x0d)
                case UInt8(ascii: "t"): output.append(0x09)
                case UInt8(ascii: "u"): try unicodeEscape(into: &output)
                default:
                    index -= 1
                    throw syntax(#"a valid escape (\" \\ \/ \b \f \n \r \t \uXXXX)"#)
                }
            case 0..<0x20:
                index -= 1
                throw syntax("no control characters inside a string (escape them)")
            default:
                output.append(byte)
            }
        }
    }

    /// After `\u`: one code point, from a surrogate pair where needed.
    mutating func unicodeEscape(into output: inout [UInt8]) throws(InputError) {
        var scalar = try hex4()
        if (0xD800...0xDBFF).contains(scalar) {
            guard consume(UInt8(ascii: "\\")), consume(UInt8(ascii: "u")) else { throw syntax(#"a low surrogate \uDC00-\uDFFF"#) }
            let low = try hex4()
            guard (0xDC00...0xDFFF).contains(low) else { throw syntax(#"a low surrogate \uDC00-\uDFFF"#) }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00...0xDFFF).contains(scalar) {
            throw syntax("a \\u escape that is not a lone surrogate")
        }
        guard let unicode = Unicode.Scalar(scalar) else { throw syntax("a valid \\u escape") }
        output.append(contentsOf: UTF8.encode(unicode)!)
    }

    mutating func hex4() throws(InputError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = peek(), let digit = hexDigitValue(byte) else { throw syntax("four hex digits after \\u") }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    // MARK: Bytes

    func peek() -> UInt8? {
        index < bytes.count ? bytes[index] : nil
    }

    mutating func consume(_ byte: UInt8) -> Bool {
        guard peek() == byte else { return false }
        index += 1
        return true
    }

    mutating func skipWhitespace() {
        while let byte = peek(), byte == 0x20 || byte == 0x0a || byte == 0x0d || byte == 0x09 {
            index += 1
        }
    }

    func syntax(_ expected: String) -> InputError {
        let found = peek().map { $0 >= 0x20 && $0 < 0x7f ? "'\(Character(Unicode.Scalar($0)))'" : "byte 0x\(String($0, radix: 16))" } ?? "the end"
        return Self.wholeMessage("message: not valid JSON at byte \(index): expected \(expected), found \(found)")
    }

    static func wholeMessage(_ message: String) -> InputError {
        InputError(parameter: "message", reason: .invalidMessage, message: message)
    }
}

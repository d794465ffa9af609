/// A client's name for one followup attempt (`Idempotency-Key` on `POST
/// /followup`, `idempotency_key` in a `/stream` followup event): the same key
/// for the same uuid counts once, within the remembering window.
///
/// 1…`maximumLength` characters from `A–Z a–z 0–9 - _ . : ~ + / =`: every
/// UUID, ULID, hex or base64(url) token a client library makes fits, and none
/// needs escaping in a header, a JSON string or a log line. The store keeps a
/// fixed-size digest of the key with its uuid, never the key itself, so its
/// length costs nothing there.
package struct IdempotencyKey: Sendable, Hashable, CustomStringConvertible {
    package let text: String

    package static let maximumLength = 255
    /// How long keys are remembered unless configured (`--idempotency-window`):
    /// far longer than any retry after a 503 or a timeout takes, short enough
    /// that the memory stays small (docs/architecture.md).
    package static let defaultWindowSeconds: Int64 = 600
    /// The characters a key may have besides letters and digits.
    static let punctuation = Set("-_.:~+/=".utf8)

    /// Nil unless `text` is 1…`maximumLength` allowed characters.
    package init?(_ text: String) {
        let utf8 = text.utf8
        guard (1...Self.maximumLength).contains(utf8.count), utf8.allSatisfy(Self.isAllowed) else { return nil }
        self.text = text
    }

    static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        default: punctuation.contains(byte)
        }
    }

    package var description: String { text }
}

extension Validate {
    /// An optional idempotency key. `header`: the value of an HTTP header,
    /// which may also be a Structured Field string (`"key"`, RFC 8941, as the
    /// IETF httpapi draft writes it); the quotes are then not part of the key.
    package static func idempotencyKey(_ raw: String?, parameter: String, header: Bool = false) throws(InputError) -> IdempotencyKey? {
        guard var text = raw else { return nil }
        if header, text.utf8.count >= 2, text.utf8.first == UInt8(ascii: "\""), text.utf8.last == UInt8(ascii: "\"") {
            text = String(text.dropFirst().dropLast())
        }
        if let key = IdempotencyKey(text) { return key }
        let length = text.utf8.count
        let problem =
            length == 0
            ? "is empty"
            : length > IdempotencyKey.maximumLength
                ? "is \(length) bytes long; at most \(IdempotencyKey.maximumLength)"
                : "\(InputError.quoted(text)) has characters other than A-Z a-z 0-9 - _ . : ~ + / ="
        throw InputError(
            parameter: parameter, reason: .invalidIdempotencyKey,
            message: "\(parameter): \(problem); expected 1 to \(IdempotencyKey.maximumLength) of A-Z a-z 0-9 - _ . : ~ + / = (a UUID, say)")
    }
}

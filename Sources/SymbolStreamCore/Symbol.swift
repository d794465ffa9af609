/// One of the 26 letters `a`…`z`: the only symbols the service knows.
package struct Symbol: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// 0 for `a` … 25 for `z`; dense, so per-symbol tables are plain arrays.
    package let index: Int

    package init?(index: Int) {
        guard (0..<26).contains(index) else { return nil }
        self.index = index
    }

    /// Parses exactly one ASCII letter; upper case is folded to lower case.
    package init?<S: StringProtocol>(parsing text: S) {
        let utf8 = text.utf8
        guard utf8.count == 1, let byte = utf8.first else { return nil }
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"): self.index = Int(byte - UInt8(ascii: "a"))
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): self.index = Int(byte - UInt8(ascii: "A"))
        default: return nil
        }
    }

    package static let all: [Symbol] = (0..<26).map { Symbol(index: $0)! }

    package var asciiByte: UInt8 { UInt8(ascii: "a") + UInt8(index) }
    package var letter: String { String(UnicodeScalar(asciiByte)) }
    package var description: String { letter }

    /// `a e i o u` are vowels; `y` is one half of the time (see `GuessModel`).
    package var isVowel: Bool { "aeiou".utf8.contains(asciiByte) }
    package var isSometimesVowel: Bool { asciiByte == UInt8(ascii: "y") }

    package static func < (lhs: Symbol, rhs: Symbol) -> Bool { lhs.index < rhs.index }
}

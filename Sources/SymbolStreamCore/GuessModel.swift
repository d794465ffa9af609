import Synchronization

/// The server's "is it a vowel?" answer (a deliberately silly model, kept from
/// the original): `a e i o u` are vowels, `y` is one half of the time, every
/// other letter is not; then the answer is flipped with `flipProbability`.
package struct GuessModel: Sendable, Hashable {
    package var flipProbability: Double

    package init(flipProbability: Double = 0.1) {
        precondition((0...1).contains(flipProbability), "flip probability must be within 0...1")
        self.flipProbability = flipProbability
    }

    package func guess(_ symbol: Symbol, using generator: inout some RandomNumberGenerator) -> Bool {
        var answer = symbol.isVowel
        if symbol.isSometimesVowel {
            answer = Bool.random(using: &generator)
        }
        if flipProbability > 0, Double.random(in: 0..<1, using: &generator) < flipProbability {
            answer.toggle()
        }
        return answer
    }
}

/// A `GuessModel` with its source of randomness: a fast generator seeded
/// from the system (one `getrandom` at start, not one per request), or from a
/// given seed so that tests can replay a run.
package final class Guesser: Sendable {
    package let model: GuessModel
    private let generator: Mutex<SplitMix64>

    package init(model: GuessModel, seed: UInt64? = nil) {
        var system = SystemRandomNumberGenerator()
        self.model = model
        self.generator = Mutex(SplitMix64(seed: seed ?? system.next()))
    }

    package func guess(_ symbol: Symbol) -> Bool {
        generator.withLock { generator in model.guess(symbol, using: &generator) }
    }
}

/// A small, fast, seedable generator (Steele, Lea & Flood's SplitMix64).
package struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    package init(seed: UInt64) {
        self.state = seed
    }

    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

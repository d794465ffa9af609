/// Realistic traffic for preloading and benchmarks: fresh uuid4s, uniformly
/// random letters, receive times spread evenly over a period in increasing
/// order, and a share of requests followed up shortly after (before the next
/// request), answered by the real guess model.
package struct SyntheticTraffic: Sequence, IteratorProtocol, Sendable {
    package let requests: Int
    package let start: Timestamp
    package let span: Int64
    package let followupShare: Double
    private var generator: SplitMix64
    private let model: GuessModel
    private var emitted = 0
    private var pendingFollowup: FollowupEvent?

    /// - Parameters:
    ///   - requests: initials to generate (followups come on top).
    ///   - start, span: the period their receive times spread over (µs).
    package init(requests: Int, start: Timestamp, span: Int64, followupShare: Double = 0.05, model: GuessModel = GuessModel(), seed: UInt64) {
        precondition(requests >= 0 && span > 0 && (0...1).contains(followupShare))
        self.requests = requests
        self.start = start
        self.span = span
        self.followupShare = followupShare
        self.model = model
        self.generator = SplitMix64(seed: seed)
    }

    package mutating func next() -> IngestEvent? {
        if let followup = pendingFollowup {
            pendingFollowup = nil
            return .followup(followup)
        }
        guard emitted < requests else { return nil }
        // Evenly spread, strictly increasing, with room for a followup in between.
        let slot = span / Int64(Swift.max(requests, 1))
        // emitted * span overflows 64 bits beyond ~3.5M requests over a month.
        let time = start.microseconds + Int64(requests).dividingFullWidth(Int64(emitted).multipliedFullWidth(by: span)).quotient
        emitted += 1
        let id = RequestUUID(high: generator.next() & 0xFFFF_FFFF_FFFF_0FFF | 0x4000, low: generator.next() & 0x3FFF_FFFF_FFFF_FFFF | 0x8000_0000_0000_0000)
        let symbol = Symbol.all[Int(generator.next() % 26)]
        let guess = model.guess(symbol, using: &generator)
        if slot > 1, Double.random(in: 0..<1, using: &generator) < followupShare {
            pendingFollowup = FollowupEvent(id: id, receivedAt: Timestamp(microseconds: time + Int64.random(in: 1..<slot, using: &generator)))
        }
        return .initial(InitialEvent(id: id, symbol: symbol, guess: guess, receivedAt: Timestamp(microseconds: time)))
    }
}

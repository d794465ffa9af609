/// How the answers to one symbol went down, from its summary's four counts
/// (initials, of them answered `True`, followups, of them to answers `True`).
///
/// Two notions of "right answer" (docs/dashboard.md, "Guess accuracy"):
/// - **accuracy**: against the guess model's own definition of a vowel
///   (`a e i o u`; `y` is a coin toss by design, so it has none);
/// - **implied accuracy**: against what the client's followups say. The client
///   talks on more after an answer it likes, so the answer that draws more
///   followups per initial is, for that client, the right one for the symbol
///   (its *implied label*); the implied accuracy is the share of our answers
///   that gave it. It needs both answers to have occurred, and no tie.
package struct SymbolAnswers: Sendable, Hashable {
    package var summary: SymbolSummary

    package init(_ summary: SymbolSummary) {
        self.summary = summary
    }

    package var symbol: Symbol { summary.symbol }
    package var answeredFalse: Int64 { summary.count - summary.answeredTrue }
    package var followupsAnsweredFalse: Int64 { summary.followups - summary.followupsAnsweredTrue }

    /// Followups per initial answered `True` (nil without such initials).
    package var followupRateAfterTrue: Double? { Self.ratio(summary.followupsAnsweredTrue, summary.answeredTrue) }
    /// Followups per initial answered `False` (nil without such initials).
    package var followupRateAfterFalse: Double? { Self.ratio(followupsAnsweredFalse, answeredFalse) }

    /// The guess model's label: vowel or not; nil for `y`.
    package var modelVowel: Bool? { symbol.isSometimesVowel ? nil : symbol.isVowel }

    /// Initials whose answer matched the model's label (nil for `y`).
    package var correct: Int64? { modelVowel.map { $0 ? summary.answeredTrue : answeredFalse } }
    /// Followups to initials answered right by the model's label (nil for `y`).
    package var followupsAfterCorrect: Int64? { modelVowel.map { $0 ? summary.followupsAnsweredTrue : followupsAnsweredFalse } }

    package var accuracy: Double? { correct.flatMap { Self.ratio($0, summary.count) } }

    /// The label the followups imply: a vowel when answers `True` drew more
    /// followups per initial than answers `False`; nil when either answer is
    /// missing or the rates tie.
    package var impliedVowel: Bool? {
        guard let afterTrue = followupRateAfterTrue, let afterFalse = followupRateAfterFalse, afterTrue != afterFalse else { return nil }
        return afterTrue > afterFalse
    }

    /// Initials whose answer matched the implied label.
    package var agreeing: Int64? { impliedVowel.map { $0 ? summary.answeredTrue : answeredFalse } }

    package var impliedAccuracy: Double? { agreeing.flatMap { Self.ratio($0, summary.count) } }

    static func ratio(_ part: Int64, _ whole: Int64) -> Double? {
        whole > 0 ? Double(part) / Double(whole) : nil
    }
}

/// The answers of all 26 symbols and their totals.
package struct AnswerQuality: Sendable, Hashable {
    package var symbols: [SymbolAnswers]

    package init(_ summaries: [SymbolSummary]) {
        self.symbols = summaries.map(SymbolAnswers.init)
    }

    package var initials: Int64 { symbols.reduce(0) { $0 + $1.summary.count } }
    package var followups: Int64 { symbols.reduce(0) { $0 + $1.summary.followups } }

    /// Correct answers over all initials of symbols with a model label (not `y`).
    package var accuracy: Double? {
        let judged = symbols.filter { $0.modelVowel != nil }
        return SymbolAnswers.ratio(judged.reduce(0) { $0 + ($1.correct ?? 0) }, judged.reduce(0) { $0 + $1.summary.count })
    }

    /// Agreeing answers over all initials of symbols with an implied label.
    package var impliedAccuracy: Double? {
        let judged = symbols.filter { $0.impliedVowel != nil }
        return SymbolAnswers.ratio(judged.reduce(0) { $0 + ($1.agreeing ?? 0) }, judged.reduce(0) { $0 + $1.summary.count })
    }

    /// Followups per initial answered right (by the model's label).
    package var followupRateAfterCorrect: Double? {
        let judged = symbols.filter { $0.modelVowel != nil }
        return SymbolAnswers.ratio(judged.reduce(0) { $0 + ($1.followupsAfterCorrect ?? 0) }, judged.reduce(0) { $0 + ($1.correct ?? 0) })
    }

    /// Followups per initial answered wrong (by the model's label).
    package var followupRateAfterWrong: Double? {
        let judged = symbols.filter { $0.modelVowel != nil }
        let wrong = judged.reduce(0) { $0 + $1.summary.count - ($1.correct ?? 0) }
        let followups = judged.reduce(0) { $0 + $1.summary.followups - ($1.followupsAfterCorrect ?? 0) }
        return SymbolAnswers.ratio(followups, wrong)
    }
}

import Testing

@testable import SymbolStreamCore

@Suite struct SyntheticTrafficScaleTests {
    /// `load --requests 10000000 --days 30` is 2.6e19 µs·requests: beyond
    /// 64 bits. The same product here with a long span and few requests.
    @Test func spreadsRequestsWhoseTimesTimesCountExceed64Bits() {
        let start = Timestamp(microseconds: 0)
        let span = Int64.max / 100
        let events = Array(SyntheticTraffic(requests: 1000, start: start, span: span, followupShare: 0, seed: 4))
        let times = events.map(\.receivedAt.microseconds)
        #expect(times.count == 1000)
        #expect(times == times.sorted())
        #expect(times[500] == span / 2)
        #expect(times.last! == span / 1000 * 999 + (span % 1000) * 999 / 1000)
    }
}

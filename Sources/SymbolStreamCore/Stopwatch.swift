/// Time passed on a clock since the stopwatch was started. For code that
/// takes an injected `any Clock<Duration>` (a manual clock in tests) and
/// must measure intervals on it: the clock's own instant type stays inside.
package struct Stopwatch: Sendable {
    private let measure: @Sendable () -> Duration

    package init<C: Clock<Duration>>(_ clock: C) {
        let start = clock.now
        measure = { start.duration(to: clock.now) }
    }

    package var elapsed: Duration { measure() }
}

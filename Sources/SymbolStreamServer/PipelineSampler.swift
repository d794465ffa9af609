import Logging
import ServiceLifecycle
import SymbolStreamCore

/// Records a `PipelineSample` into the history at a fixed interval, from the
/// same sources as `/health` (the health probe and the service counters), so
/// the request path pays nothing for the page's rates over time.
struct PipelineSampler: Service {
    let history: PipelineHistory
    let health: any HealthProbe
    let counters: ServiceCounters
    let clock: EventClock
    /// Times the interval (`clock` stamps the samples).
    var timing: any Clock<Duration> = ContinuousClock()

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await sample()
                try? await timing.sleep(for: history.interval)
            }
        }
    }

    func sample() async {
        let report = await health.report()
        history.record(PipelineSample(time: clock.now(), counters: counters.snapshot, report: report))
    }
}

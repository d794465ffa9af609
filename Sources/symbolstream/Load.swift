import ArgumentParser
import MariaDBArchive
import RedisStore
import ServiceLifecycle
import SymbolStreamCore

struct Load: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Preload synthetic traffic (benchmarks): requests spread over a period, through the real ingest path, archived to MariaDB.")

    @Option(help: "Requests (initials) to send; followups come on top.")
    var requests: Int = 1_000_000
    @Option(help: "First day of the period the receive times spread over (YYYY-MM-DD, UTC).")
    var from: String = "2026-10-01"
    @Option(help: "Length of the period in days.")
    var days: Int = 30
    @Option(help: "Length of the period in seconds instead (e.g. requests/20000 for the density of live traffic at 20k/s).")
    var seconds: Int?
    @Option(help: "Share of requests that get a followup.")
    var followups: Double = 0.05
    @Option(help: "Seed of the generator (same seed, same traffic).")
    var seed: UInt64 = 1
    @Option(help: "Ingest calls in flight at once.")
    var concurrency: Int = 4
    @Flag(help: "Leave the events in the Redis log instead of archiving them (to time `archive --drain` separately).")
    var noArchive = false
    @OptionGroup var stores: StoreOptions

    func validate() throws {
        guard requests > 0, days > 0, seconds.map({ $0 > 0 }) ?? true, concurrency > 0, (0...1).contains(followups) else {
            throw ValidationError("--requests, --days, --seconds and --concurrency must be positive, --followups within 0...1")
        }
        guard case .success = Timestamp.parseBound(from) else { throw ValidationError("--from: not a date YYYY-MM-DD") }
    }

    func run() async throws {
        let logger = try stores.makeLogger(label: "symbolstream.load")
        let start = try Timestamp.parseBound(from).get()
        let traffic = SyntheticTraffic(
            requests: requests, start: start,
            span: seconds.map { Int64($0) * Timestamp.microsecondsPerSecond } ?? Int64(days) * Timestamp.microsecondsPerDay,
            followupShare: followups, seed: seed)
        let (concurrency, noArchive, requests) = (self.concurrency, self.noArchive, self.requests)
        try await StoreSession.with(stores, logger: logger) { session in
            let archiver = session.archiver()
            let reporter = ProgressReporter(label: "load", unit: "requests")
            // The archiver runs alongside, as it does beside `serve`: a child
            // task, cancelled once the traffic is in (or failed).
            let sent = try await withThrowingTaskGroup(of: Void.self) { archiving in
                if !noArchive { archiving.addTask { try await archiver.run() } }
                defer { archiving.cancelAll() }
                var sent: Int64 = 0
                var iterator = traffic.makeIterator()
                try await withThrowingTaskGroup(of: Int.self) { group in
                    var inFlight = 0
                    while true {
                        var chunk = [IngestEvent]()
                        chunk.reserveCapacity(RedisEventStore.maximumBatch)
                        while chunk.count < RedisEventStore.maximumBatch, let event = iterator.next() { chunk.append(event) }
                        if chunk.isEmpty { break }
                        if inFlight == concurrency {
                            sent += Int64(try await group.next() ?? 0)
                            inFlight -= 1
                            reporter.report(done: sent, total: Int64(requests))
                        }
                        let batch = chunk
                        group.addTask {
                            for result in try await session.store.ingest(batch) { _ = try result.get() }
                            return batch.filter { if case .initial = $0 { true } else { false } }.count
                        }
                        inFlight += 1
                    }
                    for try await count in group { sent += Int64(count) }
                }
                return sent
            }
            reporter.report(done: sent, total: Int64(requests))
            reporter.finish(done: sent)
            if !noArchive {
                let started = ContinuousClock.now
                try await archiver.drain()
                print("archive drained \(ProgressReporter.seconds(ContinuousClock.now - started)) s after the last request")
            }
            let status = try await session.log.status()
            print("loaded \(sent) requests; log backlog \(status.backlog) entries, archived in total \(status.archived) events")
        }
    }
}

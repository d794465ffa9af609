import ArgumentParser
import Foundation
import MariaDBArchive
import MariaDBClient
import RedisStore
import ServiceLifecycle
import SymbolStreamCore
import UnixSignals

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create or update the MariaDB tables (serve also does this at start).")

    @OptionGroup var stores: StoreOptions

    func run() async throws {
        let logger = try stores.makeLogger(label: "symbolstream.migrate")
        let database = MariaDBPool(configuration: try stores.mariadb(), size: 1, logger: logger)
        // Shut down on every path, and before returning (a `defer` cannot await).
        let applied: [Int]
        do {
            applied = try await database.withConnection { try Schema.migrate($0, logger: logger) }
        } catch {
            await database.shutdown()
            throw error
        }
        await database.shutdown()
        print(applied.isEmpty ? "schema is up to date" : "applied migrations \(applied.map(String.init).joined(separator: ", "))")
    }
}

struct Archive: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run only the archiver (Redis log → MariaDB), e.g. beside `serve --no-archiver`; --drain archives what is logged and exits.")

    @OptionGroup var archiver: ArchiverOptions
    @Flag(help: "Archive everything logged so far, then exit.")
    var drain = false
    @OptionGroup var stores: StoreOptions

    func run() async throws {
        let logger = try stores.makeLogger(label: "symbolstream.archive")
        let configuration = try archiver.configuration()
        let drain = self.drain
        try await StoreSession.with(stores, logger: logger) { session in
            let archiver = session.archiver(configuration)
            if drain {
                try await archiver.drain()
                let status = try await session.log.status()
                print("archived; backlog \(status.backlog), archived in total \(status.archived)")
            } else {
                let group = ServiceGroup(
                    configuration: .init(services: [archiver], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
                try await group.run()
            }
        }
    }
}

struct RebuildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Recompute every Redis aggregate from the raw history in MariaDB (also moves Redis to --shards, or off the unsharded layout of an earlier version). Stop the service first.")

    @OptionGroup var stores: StoreOptions

    func run() async throws {
        let logger = try stores.makeLogger(label: "symbolstream.rebuild")
        // Rebuild is what moves Redis to this layout: it must not refuse another one.
        try await StoreSession.with(stores, logger: logger, checkLayout: false) { session in
            let rebuild = MariaDBArchive.Rebuild(redis: session.redis, archiver: session.archiver(), database: session.database, logger: logger)
            let events = try await rebuild.run(progress: HistoryProgressLines(command: "rebuild").report)
            print("rebuilt the aggregates of \(events) events")
        }
    }
}

/// The progress lines of `rebuild` and `verify`: one reporter per phase.
struct HistoryProgressLines: Sendable {
    private let reporters: [HistoryProgress.Phase: ProgressReporter]

    init(command: String) {
        reporters = [
            .reading: ProgressReporter(label: "\(command): read history", unit: "events"),
            .writing: ProgressReporter(label: "\(command): write", unit: "keys"),
            .comparing: ProgressReporter(label: "\(command): compare", unit: "keys"),
        ]
    }

    @Sendable func report(_ progress: HistoryProgress) {
        reporters[progress.phase]?.report(done: progress.done, total: progress.total)
    }
}

/// One line of progress on stderr, rewritten in place on a terminal, at most
/// a few times a second.
final class ProgressReporter: @unchecked Sendable {
    private let label: String
    private let unit: String
    private var started: ContinuousClock.Instant?
    private let lock = NSLock()
    private var lastPrint: ContinuousClock.Instant?
    private let isTerminal = isatty(STDERR_FILENO) != 0

    /// - Parameter started: when the work began; the first report if nil.
    init(label: String, unit: String, started: ContinuousClock.Instant? = nil) {
        self.label = label
        self.unit = unit
        self.started = started
    }

    func report(done: Int64, total: Int64) {
        lock.lock()
        defer { lock.unlock() }
        let now = ContinuousClock.now
        let started = self.started ?? now
        self.started = started
        if let lastPrint, now - lastPrint < .milliseconds(isTerminal ? 200 : 2000), done < total { return }
        lastPrint = now
        let seconds = max(0.001, Self.seconds(now - started))
        let percent = total > 0 ? Double(done) * 100 / Double(total) : 100
        let line = String(format: "%@: %lld / %lld %@ (%.1f%%), %.0f %@/s, %.1fs", label, done, total, unit, percent, Double(done) / seconds, unit, seconds)
        FileHandle.standardError.write(Data(((isTerminal ? "\r\u{1B}[K" : "") + line + (isTerminal ? "" : "\n")).utf8))
    }

    func finish(done: Int64) {
        lock.lock()
        defer { lock.unlock() }
        let seconds = Self.seconds(ContinuousClock.now - (started ?? .now))
        FileHandle.standardError.write(Data(((isTerminal ? "\n" : "") + String(format: "%@: done, %lld %@ in %.1fs\n", label, done, unit, seconds)).utf8))
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

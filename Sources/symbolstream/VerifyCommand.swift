import ArgumentParser
import MariaDBArchive
import MariaDBClient
import RedisStore

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Compare every Redis aggregate with a recomputation from MariaDB (plus the log's un-archived backlog); print each difference, exit 1 if any.",
        discussion: """
            Run it while no events come in (the service stopped or idle); an archiver may run. \
            With --drain it first archives what is still logged; otherwise it writes nothing. \
            Differences are repaired by `symbolstream rebuild`.
            """)

    @Flag(help: "Archive everything still in the log first (otherwise the backlog is folded into the comparison).")
    var drain = false
    @Option(help: "Differences listed per kind at most (the rest are counted).")
    var limit = 20
    @OptionGroup var stores: StoreOptions

    func run() async throws {
        let logger = try stores.makeLogger(label: "symbolstream.verify")
        let (drain, limit) = (self.drain, self.limit)
        let report = try await StoreSession.with(stores, logger: logger) { session in
            if drain {
                let archiver = Archiver(
                    log: RedisEventLog(client: session.redis, layout: session.layout), database: session.database, logger: logger)
                try await archiver.drain()
            }
            var verify = Verify(store: session.store, database: session.database, logger: logger)
            verify.listedPerKind = limit
            let reading = ProgressReporter(label: "verify: read history", unit: "events")
            let comparing = ProgressReporter(label: "verify: compare", unit: "keys")
            return try await verify.run { progress in
                switch progress.phase {
                case .reading: reading.report(done: progress.done, total: progress.total)
                case .comparing: comparing.report(done: progress.done, total: progress.total)
                }
            }
        }
        for line in report.differences { print(line) }
        let summary =
            "verify: \(report.rows) events in MariaDB, \(report.backlogEvents) more in the log, \(report.keys) Redis keys compared: "
            + (report.isConsistent ? "no difference" : "\(report.differenceCount) differences")
        print(summary)
        if !report.isConsistent { throw ExitCode(1) }
    }
}

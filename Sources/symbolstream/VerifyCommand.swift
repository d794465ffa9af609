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
        // Verify reports another layout as a difference rather than refusing it.
        let report = try await StoreSession.with(stores, logger: logger, checkLayout: false) { session in
            if drain { try await session.archiver().drain() }
            var verify = Verify(redis: session.redis, database: session.database, logger: logger)
            verify.listedPerKind = limit
            return try await verify.run(progress: HistoryProgressLines(command: "verify").report)
        }
        for line in report.differences { print(line) }
        let summary =
            "verify: \(report.rows) events in MariaDB, \(report.backlogEvents) more in the log, \(report.keys) Redis keys compared: "
            + (report.isConsistent ? "no difference" : "\(report.differenceCount) differences")
        print(summary)
        if !report.isConsistent { throw ExitCode(1) }
    }
}

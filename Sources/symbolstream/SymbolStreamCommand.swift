import ArgumentParser

@main
struct SymbolStreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "symbolstream",
        abstract: "SymbolStream: live request events in, per-symbol dashboards out (Redis), raw history archived (MariaDB).",
        subcommands: [Serve.self, Migrate.self, Archive.self, RebuildCommand.self],
        defaultSubcommand: Serve.self)
}

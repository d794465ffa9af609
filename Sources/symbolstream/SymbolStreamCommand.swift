import ArgumentParser
import NIOCore
import NIOPosix

@main
enum Entry {
    static func main() async {
        // Run Swift concurrency's jobs on NIO's event loops: handlers, Redis
        // replies and responses then stay on the same two threads instead of
        // hopping between NIO and the concurrency pool on every request.
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await SymbolStreamCommand.main()
    }
}

struct SymbolStreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "symbolstream",
        abstract: "SymbolStream: live request events in, per-symbol dashboards out (Redis), raw history archived (MariaDB).",
        subcommands: [Serve.self, Migrate.self, Archive.self, RebuildCommand.self, Load.self, VerifyCommand.self],
        defaultSubcommand: Serve.self)
}

import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

@main
enum Entry {
    static func main() async {
        // Run Swift concurrency's jobs on NIO's event loops: handlers, Redis
        // replies and responses then stay on the same two threads instead of
        // hopping between NIO and the concurrency pool on every request. The
        // Redis batching lanes key on this (`RedisClient.currentLane`); if the
        // install is refused they fall back to taking turns, which works, with
        // a thread hop per Redis call.
        if !NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor() {
            FileHandle.standardError.write(Data("symbolstream: NIO could not become Swift's global executor; Redis calls will hop threads\n".utf8))
        }
        await SymbolStreamCommand.main()
    }
}

struct SymbolStreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "symbolstream",
        abstract: "SymbolStream: live request events in, per-symbol dashboards out (Redis), raw history archived (MariaDB).",
        subcommands: [Serve.self, Migrate.self, Archive.self, RebuildCommand.self, Load.self, VerifyCommand.self, ShardsCommand.self],
        defaultSubcommand: Serve.self)
}

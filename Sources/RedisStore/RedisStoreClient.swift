import RedisClient
import SymbolStreamCore

/// How every part of the store talks to Redis: sends commands, calls the
/// function library (loading it again once if Redis lost it, e.g. after
/// `FUNCTION FLUSH`: the call then did not run and is safe to repeat), and
/// turns client errors into the store's: "unavailable" (answer 503, retry
/// later) or a bug.
///
/// The event store, the event log, the archiver's reads and the admin
/// commands (rebuild, verify) all go through one of these.
public struct RedisStoreClient: Sendable {
    public let client: RedisClient
    public let layout: RedisLayout
    private let prefix: RedisArgument

    public init(client: RedisClient, layout: RedisLayout) {
        self.client = client
        self.layout = layout
        self.prefix = RedisArgument(layout.prefix)
    }

    /// Run on every new connection (`RedisClient(onConnect:)`): installs the
    /// function library and the archiver's consumer group, so a restarted or
    /// flushed Redis is ready before it serves a request.
    public static func prepare(_ connection: RedisConnection, layout: RedisLayout) async throws {
        _ = try await connection.send(RedisCommand("FUNCTION", "LOAD", "REPLACE", RedisArgument(FunctionLibrary.source)))
        _ = try await connection.send(setupCommand(layout))
    }

    private static func setupCommand(_ layout: RedisLayout) -> RedisCommand {
        RedisCommand("FCALL", RedisArgument(FunctionLibrary.Function.setup.rawValue), "0", RedisArgument(layout.prefix))
    }

    /// A call of one of the library's functions with the layout's prefix as
    /// first argument.
    func functionCall(_ function: FunctionLibrary.Function, _ arguments: [RedisArgument] = []) -> RedisCommand {
        RedisCommand(arguments: [function.isReadOnly ? "FCALL_RO" : "FCALL", RedisArgument(function.rawValue), "0", prefix] + arguments)
    }

    /// Calls one of the library's functions.
    func call(_ function: FunctionLibrary.Function, _ arguments: [RedisArgument] = []) async throws -> RESPValue {
        try await send(functionCall(function, arguments))
    }

    /// Sends one command; see the type's comment for errors.
    func send(_ command: RedisCommand) async throws -> RESPValue {
        do {
            do {
                return try await client.send(command)
            } catch RedisClientError.server(let message) where Self.isMissingLibrary(message) {
                _ = try await client.send(RedisCommand("FUNCTION", "LOAD", "REPLACE", RedisArgument(FunctionLibrary.source)))
                _ = try await client.send(Self.setupCommand(layout))
                return try await client.send(command)
            }
        } catch let error as RedisClientError {
            throw Self.translate(error)
        }
    }

    /// Sends commands in one flush on one connection; error replies in place.
    func pipeline(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        do {
            return try await client.pipeline(commands)
        } catch let error as RedisClientError {
            throw Self.translate(error)
        }
    }

    /// Runs `body` on a connection of its own (blocking reads, bulk writes),
    /// with the same error translation.
    func withDedicatedConnection<T: Sendable>(_ body: (RedisConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withDedicatedConnection(body)
        } catch let error as RedisClientError {
            throw Self.translate(error)
        }
    }

    static func isMissingLibrary(_ message: String) -> Bool {
        message.contains("Function not found") || message.contains("Library not found")
    }

    /// Connection trouble, and the error replies of a Redis that cannot take
    /// writes right now, mean "unavailable" (503, retry later); anything else
    /// is a bug worth a 500 and a log line.
    static func translate(_ error: RedisClientError) -> any Error {
        switch error {
        case .unavailable(let reason): return StoreUnavailableError(dependency: "redis", reason: reason)
        case .timeout: return StoreUnavailableError(dependency: "redis", reason: "no reply in time")
        case .connectionClosed: return StoreUnavailableError(dependency: "redis", reason: "connection lost")
        case .server(let message):
            let transient = ["LOADING", "BUSY", "OOM", "MISCONF", "READONLY", "MASTERDOWN", "NOREPLICAS", "TRYAGAIN", "CLUSTERDOWN"]
            if transient.contains(where: { message.hasPrefix($0) }) {
                return StoreUnavailableError(dependency: "redis", reason: message)
            }
            return RedisStoreError.unexpectedReply(message)
        case .protocolError(let message): return RedisStoreError.unexpectedReply(message)
        }
    }

    static func unexpected(_ reply: RESPValue) -> RedisStoreError {
        .unexpectedReply(String(describing: reply).prefix(200).description)
    }
}

public enum RedisStoreError: Error, Sendable, Hashable {
    /// Redis answered something the function library never returns.
    case unexpectedReply(String)
}

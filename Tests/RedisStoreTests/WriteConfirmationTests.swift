import RedisClient
import StoreTestSupport
import Synchronization
import SymbolStreamCore
import Testing

@testable import RedisStore

/// An ingest call Redis ran but could not write to its append-only file (a
/// full disk under `appendfsync everysec`: Redis still replies, then
/// refuses writes and `PING` with `MISCONF`) must not be acknowledged. The
/// server is scripted here, so the order of the commands is what is checked:
/// the `PING` goes out only after the call's reply, in a round trip of its own.
/// (The real disk-full case: `Tests/fault/test_faults.py` `redis_disk_full_*`.)
@Suite struct WriteConfirmationTests {
    static let misconf = "MISCONF Errors writing to the AOF file: No space left on device"

    static func events() -> [IngestEvent] {
        var traffic = Traffic(seed: 5)
        return traffic.events(40).filter { if case .initial = $0 { true } else { false } }
    }

    @Test func eventsAreNotAcknowledgedWhenRedisReportsAFailedAOFWrite() async throws {
        let redis = ScriptedRedis(ping: .error(Self.misconf))
        let store = RedisEventStore(redis: RedisStoreClient(redis: redis, layout: RedisLayout(prefix: "t:", shards: 4)))
        let events = Self.events()
        let results = try await store.ingest(events)
        #expect(results.count == events.count)
        for result in results {
            guard case .failure(let error) = result else {
                Issue.record("acknowledged although Redis reported a failed AOF write: \(result)")
                continue
            }
            #expect(error.reason.contains("MISCONF"))
        }
        // The calls first, the PINGs in a later round trip (pipelined with
        // the calls they would run before the AOF write and prove nothing).
        let rounds = redis.rounds
        #expect(rounds.count == 2)
        #expect(rounds.first?.allSatisfy { $0 == "FCALL" } == true)
        #expect(rounds.last?.allSatisfy { $0 == "PING" } == true)
        // One PING per server, whatever the number of its shards.
        #expect(rounds.last?.count == 1)
    }

    /// On several servers (a cluster), each server that stored events is
    /// asked once, and only its own events depend on its answer.
    @Test func eachServerConfirmsItsOwnShards() async throws {
        let redis = ScriptedRedis(ping: .simpleString("PONG"), servers: 3, refusingServer: 1)
        let store = RedisEventStore(redis: RedisStoreClient(redis: redis, layout: RedisLayout(prefix: "t:", shards: 16)))
        let events = Self.events()
        let results = try await store.ingest(events)
        let servers = events.map { redis.server(ofSlot: store.layout.shard(of: $0.id).slot)! }
        #expect(Set(servers).count == 3)
        #expect(redis.rounds.last?.filter { $0 == "PING" }.count == 3)
        for (server, result) in zip(servers, results) {
            switch result {
            case .success: #expect(server != 1)
            case .failure(let error):
                #expect(server == 1)
                #expect(error.reason.contains("MISCONF"))
            }
        }
    }

    @Test func confirmedWritesAreAcknowledged() async throws {
        let redis = ScriptedRedis(ping: .simpleString("PONG"))
        let store = RedisEventStore(redis: RedisStoreClient(redis: redis, layout: RedisLayout(prefix: "t:", shards: 4)))
        let results = try await store.ingest(Self.events())
        #expect(results.allSatisfy { if case .success(.initial(.accepted)) = $0 { true } else { false } })
    }

    @Test func aLostConnectionBeforeTheConfirmationIsNotAnAcknowledgement() async throws {
        let redis = ScriptedRedis(ping: nil)
        let store = RedisEventStore(redis: RedisStoreClient(redis: redis, layout: RedisLayout(prefix: "t:", shards: 4)))
        let results = try await store.ingest(Self.events())
        #expect(results.allSatisfy { if case .failure = $0 { true } else { false } })
    }

    /// `--redis-write-check false` (for `appendfsync always`, where Redis
    /// exits rather than reply after a failed write): no PING, the reply is
    /// the acknowledgement.
    @Test func withoutTheCheckTheReplyIsTheAcknowledgement() async throws {
        let redis = ScriptedRedis(ping: .error(Self.misconf))
        let store = RedisEventStore(
            redis: RedisStoreClient(redis: redis, layout: RedisLayout(prefix: "t:", shards: 4), confirmsWrites: false))
        let results = try await store.ingest(Self.events())
        #expect(results.allSatisfy { if case .success = $0 { true } else { false } })
        #expect(redis.rounds.count == 1)
    }
}

/// A Redis that takes every ingest call (each event new) and answers `PING`
/// as told (nil: the connection drops), recording the command names of each
/// round trip. With several servers, slot s is on server s % servers, and
/// `refusingServer` answers `PING` with `MISCONF`.
final class ScriptedRedis: RedisTopology {
    private let ping: RESPValue?
    private let servers: Int
    private let refusingServer: Int?
    private let recorded = Mutex<[[String]]>([])

    init(ping: RESPValue?, servers: Int = 1, refusingServer: Int? = nil) {
        self.ping = ping
        self.servers = servers
        self.refusingServer = refusingServer
    }

    func server(ofSlot slot: UInt16) -> Int? { Int(slot) % servers }

    var rounds: [[String]] { recorded.withLock { $0 } }

    func run() async throws {}

    func send(_ command: RedisCommand, slot: UInt16) async throws -> RESPValue {
        guard let reply = try await pipelines([SlotCommands(slot: slot, commands: [command])])[0].get().first else {
            throw RedisClientError.connectionClosed
        }
        return reply
    }

    func pipelines(_ requests: [SlotCommands]) async -> [Result<[RESPValue], RedisClientError>] {
        recorded.withLock { $0.append(requests.flatMap { $0.commands.map(Self.name) }) }
        return requests.map { request in
            var replies = [RESPValue]()
            for command in request.commands {
                switch Self.name(command) {
                case "FCALL":
                    // ARGV: FCALL ss_ingest 1 key prefix events
                    let events = command.arguments.last!.bytes.count / IngestArgument.eventByteCount
                    replies.append(.bulkString(Array(repeating: [1, 0], count: events).flatMap { $0 }))
                case "PING":
                    guard let ping else { return .failure(.connectionClosed) }
                    replies.append(server(ofSlot: request.slot) == refusingServer ? .error(WriteConfirmationTests.misconf) : ping)
                default:
                    replies.append(.error("ERR unexpected command"))
                }
            }
            return .success(replies)
        }
    }

    func withDedicatedConnection<T: Sendable>(slot: UInt16, _ body: (RedisConnection) async throws -> T) async throws -> T {
        throw RedisClientError.connectionClosed
    }

    var laneCount: Int { 1 }
    var currentLane: Int { 0 }
    var isAvailable: Bool { true }
    func waitUntilAvailable(timeout: Duration) async throws {}

    static func name(_ command: RedisCommand) -> String {
        String(decoding: command.arguments.first?.bytes ?? [], as: UTF8.self)
    }
}

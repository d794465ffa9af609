// A throwaway redis-server for integration tests, and the test configuration.
//
// Self-contained on purpose (Foundation, libc, NIOConcurrencyHelpers only) so that other
// test targets can copy it. Each server runs as a child process on a free loopback port,
// with its data in a fresh temporary folder, without persistence.
//
// The child is started with posix_spawn rather than Foundation's Process: test runners
// call from threads that block most signals, a spawned child inherits that mask, and a
// redis-server with SIGTERM blocked never stops. posix_spawn lets us reset it.

import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum RedisTestServerError: Error, CustomStringConvertible {
    case executableNotFound
    case didNotStart(port: Int, log: String)
    case noFreePort(errno: Int32)
    case spawnFailed(errno: Int32)

    var description: String {
        switch self {
        case .executableNotFound: "redis-server not found (set SYMBOLSTREAM_REDIS_SERVER or PATH)"
        case .didNotStart(let port, let log): "redis-server on port \(port) did not start; log:\n\(log)"
        case .noFreePort(let errno): "could not find a free port (errno \(errno))"
        case .spawnFailed(let errno): "could not start redis-server (errno \(errno))"
        }
    }
}

final class RedisTestServer: Sendable {
    let host = "127.0.0.1"
    let port: Int
    let password: String?
    let directory: URL
    private let extraArguments: [String]
    /// The running child's pid; nil while stopped.
    private let pid = NIOLockedValueBox<pid_t?>(nil)
    /// Completed starts: the log is appended to on restart, so readiness is counted.
    private let starts = NIOLockedValueBox(0)

    /// The redis-server binary: `SYMBOLSTREAM_REDIS_SERVER`, else the first on PATH.
    static let executable: String? = {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["SYMBOLSTREAM_REDIS_SERVER"], !path.isEmpty { return path }
        let searchPath = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for folder in searchPath.split(separator: ":") {
            let candidate = "\(folder)/redis-server"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }()

    static var isAvailable: Bool { executable != nil }

    private init(port: Int, password: String?, directory: URL, extraArguments: [String]) {
        self.port = port
        self.password = password
        self.directory = directory
        self.extraArguments = extraArguments
    }

    /// Starts a server on a free port and waits until it accepts connections.
    static func start(password: String? = nil, extraArguments: [String] = []) async throws -> RedisTestServer {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("symbolstream-redis-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var attempt = 0
        while true {
            attempt += 1
            let server = RedisTestServer(
                port: try freePort(),
                password: password,
                directory: directory,
                extraArguments: extraArguments
            )
            do {
                try await server.launch()
                return server
            } catch RedisTestServerError.didNotStart(_, let log) where log.contains("already in use") && attempt < 10 {
                // Someone took the port between our check and redis' bind; pick another.
                continue
            } catch {
                try? FileManager.default.removeItem(at: directory)
                throw error
            }
        }
    }

    /// Runs `body` with a fresh server, then stops it and removes its folder.
    static func with<T>(
        password: String? = nil,
        extraArguments: [String] = [],
        _ body: (RedisTestServer) async throws -> T
    ) async throws -> T {
        let server = try await start(password: password, extraArguments: extraArguments)
        do {
            let result = try await body(server)
            await server.destroy()
            return result
        } catch {
            await server.destroy()
            throw error
        }
    }

    /// Starts the process again on the same port and folder (after `stop`).
    func restart() async throws {
        try await self.launch()
    }

    /// SIGTERM (SIGKILL after 5 s), and waits for the process to exit.
    func stop() async {
        guard let pid = self.pid.withLockedValue({ value in defer { value = nil }; return value }) else { return }
        // A stopped process would not act on SIGTERM until continued.
        kill(pid, SIGCONT)
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now.advanced(by: .seconds(5))
        while !Self.hasExited(pid) {
            if ContinuousClock.now > deadline {
                kill(pid, SIGKILL)
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// SIGSTOP: the kernel still accepts connections, but nothing answers.
    func pause() {
        self.signal(SIGSTOP)
    }

    /// SIGCONT after `pause`.
    func resume() {
        self.signal(SIGCONT)
    }

    func destroy() async {
        await self.stop()
        try? FileManager.default.removeItem(at: self.directory)
    }

    private func signal(_ signal: Int32) {
        self.pid.withLockedValue { pid in
            if let pid { _ = kill(pid, signal) }
        }
    }

    private func launch() async throws {
        guard let executable = Self.executable else { throw RedisTestServerError.executableNotFound }
        var arguments = [
            executable,
            "--port", "\(self.port)",
            "--bind", self.host,
            "--dir", self.directory.path,
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--logfile", self.directory.appendingPathComponent("redis.log").path,
        ]
        if let password = self.password {
            arguments += ["--requirepass", password]
        }
        arguments += self.extraArguments
        let pid = try Self.spawn(executable, arguments)
        self.pid.withLockedValue { $0 = pid }

        // Ready when our own server says so in its own log: a successful connect alone
        // could reach another process that took the port first.
        let logFile = self.directory.appendingPathComponent("redis.log")
        var log = ""
        let deadline = ContinuousClock.now.advanced(by: .seconds(5))
        while ContinuousClock.now < deadline {
            if Self.hasExited(pid) {
                self.pid.withLockedValue { $0 = nil }
                break
            }
            log = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
            // "Ready to accept connections" (7.0), "… connections tcp" (7.2+), once per start.
            let readyLines = log.components(separatedBy: "Ready to accept connections").count - 1
            if readyLines > self.starts.withLockedValue({ $0 }),
                Self.acceptsConnections(host: self.host, port: self.port)
            {
                self.starts.withLockedValue { $0 += 1 }
                return
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        log = (try? String(contentsOf: logFile, encoding: .utf8)) ?? log
        await self.stop()
        throw RedisTestServerError.didNotStart(port: self.port, log: log)
    }

    /// posix_spawn with stdio on /dev/null, an empty signal mask and default handlers.
    private static func spawn(_ executable: String, _ arguments: [String]) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaultSignals, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)

        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard result == 0 else { throw RedisTestServerError.spawnFailed(errno: result) }
        return pid
    }

    /// Reaps the child if it has exited.
    private static func hasExited(_ pid: pid_t) -> Bool {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        return result == pid || (result == -1 && errno == ECHILD)
    }

    /// A port that is free right now, chosen at random below the kernel's ephemeral
    /// range (32768 and up on Linux), so that outgoing connections, which take their
    /// local ports from that range, cannot grab it before the server binds it.
    static func freePort() throws -> Int {
        for _ in 0..<100 {
            let port = Int.random(in: 20_000..<32_000)
            if try isBindable(port: port) { return port }
        }
        throw RedisTestServerError.noFreePort(errno: EADDRINUSE)
    }

    private static func isBindable(port: Int) throws -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RedisTestServerError.noFreePort(errno: errno) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(fd, socketAddress, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    static func acceptsConnections(host: String, port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr(host)
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                connect(fd, socketAddress, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}

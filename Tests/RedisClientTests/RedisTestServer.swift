// A throwaway redis-server for integration tests, and the test configuration.
//
// Each server runs as a child process on a free loopback port, with its data in a fresh
// temporary folder, without persistence. The child is started and reaped through
// `ChildProcess` (posix_spawn + waitpid; see there why not Foundation's Process).

import Foundation
import NIOConcurrencyHelpers
import TestSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum RedisTestServerError: Error, CustomStringConvertible {
    case executableNotFound
    case didNotStart(port: Int, log: String)
    case noFreePort(errno: Int32)

    var description: String {
        switch self {
        case .executableNotFound: "redis-server not found (set SYMBOLSTREAM_REDIS_SERVER or PATH)"
        case .didNotStart(let port, let log): "redis-server on port \(port) did not start; log:\n\(log)"
        case .noFreePort(let errno): "could not find a free port (errno \(errno))"
        }
    }
}

final class RedisTestServer: Sendable {
    let host = "127.0.0.1"
    let port: Int
    let password: String?
    let directory: URL
    private let extraArguments: [String]
    /// The running child; nil while stopped.
    private let process = NIOLockedValueBox<ChildProcess?>(nil)
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
        guard let process = self.process.withLockedValue({ value in defer { value = nil }; return value }) else { return }
        // A stopped process would not act on SIGTERM until continued.
        process.send(SIGCONT)
        process.send(SIGTERM)
        let deadline = ContinuousClock.now.advanced(by: .seconds(5))
        while !process.hasExited {
            if ContinuousClock.now > deadline {
                process.send(SIGKILL)
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
        self.process.withLockedValue { $0?.send(signal) }
    }

    private func launch() async throws {
        guard let executable = Self.executable else { throw RedisTestServerError.executableNotFound }
        var arguments = [
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
        let process = try ChildProcess.spawn(executable, arguments)
        self.process.withLockedValue { $0 = process }

        // Ready when our own server says so in its own log: a successful connect alone
        // could reach another process that took the port first.
        let logFile = self.directory.appendingPathComponent("redis.log")
        var log = ""
        let deadline = ContinuousClock.now.advanced(by: .seconds(5))
        while ContinuousClock.now < deadline {
            if process.hasExited {
                self.process.withLockedValue { $0 = nil }
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

import Foundation
import MariaDBClient
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// A throwaway MariaDB server for tests: a fresh data directory under the
/// temporary directory, `mariadbd` on 127.0.0.1 at a free port, user `og`
/// (password `og`) with every privilege, database `og`. It can be stopped,
/// killed and started again on the same data and port (to test recovery),
/// and `destroy()` stops it and deletes its data.
///
/// Needs the MariaDB server packages (`mariadb-install-db`, `mariadbd`);
/// children are started and reaped through `ChildProcess` (posix_spawn and
/// waitpid, not Foundation's `Process`, which can hang waiting for a SIGCHLD
/// that the test runner blocks).
final class MariaDBTestServer: @unchecked Sendable {
    let port: Int
    let directory: URL
    private let lock = NSLock()
    private var process: ChildProcess?

    static let user = "og"
    static let password = "og"
    static let database = "og"

    /// Ports tried in order; the first one nothing listens on is used.
    static let defaultPorts = Array(3391...3399)

    static var isAvailable: Bool { executable("mariadbd") != nil && executable("mariadb-install-db") != nil }

    var configuration: MariaDBConfiguration {
        MariaDBConfiguration(
            host: "127.0.0.1", port: port, user: Self.user, password: Self.password, database: Self.database)
    }

    /// Ports handed to servers of this process, so that concurrent tests never pick the same one.
    private final class PortRegistry: @unchecked Sendable {
        private let lock = NSLock()
        private var claimed = Set<Int>()  // guarded by `lock`

        func claim(from ports: [Int]) -> Int? {
            lock.withLock {
                guard let port = ports.first(where: { !claimed.contains($0) && isFree(port: $0) }) else { return nil }
                claimed.insert(port)
                return port
            }
        }

        func release(_ port: Int) {
            _ = lock.withLock { claimed.remove(port) }
        }
    }

    private static let portRegistry = PortRegistry()

    /// Initialises a data directory and starts the server; returns once it
    /// accepts connections. Blocks for a second or two: from async code use
    /// ``start(ports:extraArguments:)-async``.
    static func startBlocking(ports: [Int] = defaultPorts, extraArguments: [String] = []) throws -> MariaDBTestServer {
        var lastError: Error = TestServerError.noFreePort(ports)
        var candidates = ports
        while let port = Self.portRegistry.claim(from: candidates) {
            candidates.removeAll { $0 == port }
            do {
                let server = try MariaDBTestServer(port: port, extraArguments: extraArguments)
                do {
                    try server.startProcess()
                    return server
                } catch {
                    // Another program may have taken the port in between: try the next one.
                    server.destroy()
                    lastError = error
                }
            } catch {
                Self.portRegistry.release(port)
                throw error
            }
        }
        throw lastError
    }

    /// ``startBlocking(ports:extraArguments:)`` on a thread of its own, off Swift concurrency's pool.
    static func start(ports: [Int] = defaultPorts, extraArguments: [String] = []) async throws -> MariaDBTestServer {
        try await offPool { try startBlocking(ports: ports, extraArguments: extraArguments) }
    }

    /// Runs blocking work (process launches, waits) on a new thread.
    static func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try work() }) }.start()
        }
    }

    private let extraArguments: [String]

    private init(port: Int, extraArguments: [String]) throws {
        self.port = port
        self.extraArguments = extraArguments
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("symbolstream-mariadb-\(port)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: temporaryDirectory, withIntermediateDirectories: true)
        // A private tmpdir: concurrent installs sharing /tmp collide on their temporary tables.
        var install = [
            "--no-defaults", "--datadir=\(dataDirectory)", "--tmpdir=\(temporaryDirectory)",
            "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve",
        ]
        if getuid() == 0 { install.append("--user=root") }
        try Self.run("mariadb-install-db", install, log: directory.appendingPathComponent("install.log"))
        // Runs at every start: creates the account and database the first time.
        let initSQL = """
            CREATE USER IF NOT EXISTS '\(Self.user)'@'127.0.0.1' IDENTIFIED BY '\(Self.password)';
            CREATE USER IF NOT EXISTS '\(Self.user)'@'localhost' IDENTIFIED BY '\(Self.password)';
            GRANT ALL PRIVILEGES ON *.* TO '\(Self.user)'@'127.0.0.1';
            GRANT ALL PRIVILEGES ON *.* TO '\(Self.user)'@'localhost';
            CREATE DATABASE IF NOT EXISTS `\(Self.database)` CHARACTER SET utf8mb4;

            """
        try initSQL.write(to: directory.appendingPathComponent("init.sql"), atomically: true, encoding: .utf8)
    }

    private var dataDirectory: String { directory.appendingPathComponent("data").path }
    private var temporaryDirectory: String { directory.appendingPathComponent("tmp").path }
    var socketPath: String { directory.appendingPathComponent("mariadb.sock").path }
    var errorLogPath: String { directory.appendingPathComponent("mariadb.err").path }

    /// Starts the server again on the same data and port (after `stop` or `kill`).
    func restart() async throws {
        try await Self.offPool { try self.startProcess() }
    }

    private func startProcess() throws {
        guard let mariadbd = Self.executable("mariadbd") else { throw TestServerError.notInstalled("mariadbd") }
        var arguments = [
            "--no-defaults", "--datadir=\(dataDirectory)", "--tmpdir=\(temporaryDirectory)", "--port=\(port)",
            "--bind-address=127.0.0.1",
            "--socket=\(socketPath)", "--pid-file=\(directory.appendingPathComponent("mariadb.pid").path)",
            "--log-error=\(errorLogPath)", "--skip-name-resolve",
            "--init-file=\(directory.appendingPathComponent("init.sql").path)",
            "--innodb-buffer-pool-size=256M", "--innodb-log-file-size=128M", "--max-allowed-packet=64M",
            "--character-set-server=utf8mb4", "--skip-log-bin",
        ]
        if getuid() == 0 { arguments.append("--user=root") }
        let process = try ChildProcess.spawn(mariadbd.path, arguments + extraArguments)
        lock.withLock { self.process = process }
        try waitUntilReady(process)
    }

    private func waitUntilReady(_ process: ChildProcess) throws {
        let deadline = Date().addingTimeInterval(60)
        // Through this server's own socket: over TCP, a server of another test
        // that won the port would answer instead (this one then fails to bind and exits).
        var configuration = self.configuration
        configuration.unixSocket = socketPath
        configuration.connectTimeoutSeconds = 1
        while Date() < deadline {
            guard !process.hasExited else {
                throw TestServerError.startFailed(port: port, log: (try? String(contentsOfFile: errorLogPath, encoding: .utf8)) ?? "")
            }
            if let connection = try? MariaDBConnection(configuration: configuration), connection.ping() {
                return
            }
            usleep(100_000)
        }
        signal(SIGKILL)
        throw TestServerError.startFailed(port: port, log: "not accepting connections after 60 s")
    }

    /// A clean shutdown (SIGTERM), waiting for the process to exit.
    func stop() async {
        _ = try? await Self.offPool { self.signal(SIGTERM) }
    }

    /// An abrupt end (SIGKILL), as a crash or `kill -9` would.
    func kill() async {
        _ = try? await Self.offPool { self.signal(SIGKILL) }
    }

    /// Freezes the server (SIGSTOP): it keeps its sockets but answers nothing, like a hung host.
    func pause() {
        guard let process = lock.withLock({ self.process }) else { return }
        process.send(SIGSTOP)
        // The signal is delivered asynchronously: wait until the process shows as stopped.
        for _ in 0..<200 {
            if process.isStopped || process.hasExited { return }
            usleep(10_000)
        }
    }

    func resume() {
        lock.withLock { process }?.send(SIGCONT)
    }

    private func signal(_ signal: Int32) {
        let process = lock.withLock { () -> ChildProcess? in
            defer { self.process = nil }
            return self.process
        }
        guard let process, !process.hasExited else { return }
        process.send(signal)
        process.send(SIGCONT)  // a paused server must run to act on SIGTERM
        process.waitForExit()
    }

    /// Stops the server and deletes its files.
    func destroy() {
        signal(SIGKILL)
        try? FileManager.default.removeItem(at: directory)
        Self.portRegistry.release(port)
    }

    deinit {
        destroy()
    }

    // MARK: - Helpers

    static func isFree(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        // As mariadbd does: a port whose old connections linger in TIME_WAIT is free.
        var reuse: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return bound == 0
    }

    static func executable(_ name: String) -> URL? {
        ChildProcess.executable(name).map { URL(fileURLWithPath: $0) }
    }

    private static func run(_ name: String, _ arguments: [String], log: URL) throws {
        guard let url = executable(name) else { throw TestServerError.notInstalled(name) }
        guard try ChildProcess.run(url.path, arguments, output: .file(log.path)) == 0 else {
            throw TestServerError.startFailed(port: 0, log: (try? String(contentsOf: log, encoding: .utf8)) ?? "")
        }
    }
}

enum TestServerError: Error, CustomStringConvertible {
    case notInstalled(String)
    case noFreePort([Int])
    case startFailed(port: Int, log: String)

    var description: String {
        switch self {
        case .notInstalled(let name): "\(name) is not installed (apt-get install mariadb-server)"
        case .noFreePort(let ports): "no free port among \(ports)"
        case .startFailed(let port, let log): "mariadbd on port \(port) did not start:\n\(log.suffix(2000))"
        }
    }
}

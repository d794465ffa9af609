import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A child process of a test: a server (redis-server, mariadbd) or a tool
/// (mariadb-install-db, provisioning/stores.sh), started with posix_spawn and
/// reaped with waitpid. Every test server starts its children through this.
///
/// Not Foundation's `Process`: test runners call from threads that block
/// most signals, `Process` waits for SIGCHLD (so `waitUntilExit()` could hang
/// on a child long gone), and a child inherits the blocked mask (a
/// redis-server with SIGTERM blocked never stops). posix_spawn lets the
/// child start with an empty mask and default handlers, and waitpid needs
/// no signal at all.
package final class ChildProcess: Sendable {
    package enum Output: Sendable {
        /// `/dev/null`.
        case discard
        /// The test runner's own stdout and stderr.
        case inherit
        /// Both appended to this file (created if missing).
        case file(String)
    }

    package struct SpawnError: Error, CustomStringConvertible {
        package var executable: String
        package var errno: Int32
        package var description: String { "cannot start \(executable): \(String(cString: strerror(errno)))" }
    }

    package let pid: pid_t
    /// The wait status once reaped: after that the pid may belong to another
    /// process, so it is never signalled again.
    private let status = Mutex<Int32?>(nil)

    private init(pid: pid_t) { self.pid = pid }

    /// Starts `executable` (a path) with `arguments` (without argv[0]) and
    /// stdin on `/dev/null`.
    package static func spawn(_ executable: String, _ arguments: [String], output: Output = .discard) throws -> ChildProcess {
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
        switch output {
        case .discard:
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        case .inherit:
            break
        case .file(let path):
            posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard result == 0 else { throw SpawnError(executable: executable, errno: result) }
        return ChildProcess(pid: pid)
    }

    /// Runs `executable` to its end (blocking the calling thread) and returns
    /// its exit code (128 + the signal if one ended it).
    package static func run(_ executable: String, _ arguments: [String], output: Output = .discard) throws -> Int32 {
        try spawn(executable, arguments, output: output).waitForExit()
    }

    /// Whether the child has ended (reaping it if so), without waiting.
    package var hasExited: Bool {
        status.withLock { status in
            if status != nil { return true }
            var raw: Int32 = 0
            let result = waitpid(pid, &raw, WNOHANG)
            if result == pid {
                status = raw
            } else if result == -1 && errno == ECHILD {
                status = 0
            }
            return status != nil
        }
    }

    /// Blocks the calling thread until the child ends; its exit code (128 +
    /// the signal if one ended it).
    @discardableResult
    package func waitForExit() -> Int32 {
        // Wait without reaping (and without the lock, so that signals can
        // still be sent meanwhile), then reap under the lock.
        var info = siginfo_t()
        while status.withLock({ $0 == nil }), waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) == -1, errno == EINTR {}
        _ = hasExited
        let raw = status.withLock { $0 } ?? 0
        let signal = raw & 0x7f
        return signal == 0 ? (raw >> 8) & 0xff : 128 + signal
    }

    /// Sends `signal`, unless the child is already reaped.
    package func send(_ signal: Int32) {
        status.withLock { status in
            if status == nil { _ = kill(pid, signal) }
        }
    }

    /// Whether the child is stopped (SIGSTOP has taken effect), from
    /// `/proc/<pid>/stat`; false where that cannot be read.
    package var isStopped: Bool {
        guard let file = fopen("/proc/\(pid)/stat", "r") else { return false }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 512)
        guard fgets(&buffer, Int32(buffer.count), file) != nil else { return false }
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let state = text.split(separator: ")").last?.split(separator: " ").first else { return false }
        return state == "T" || state == "t"
    }

    /// The first executable called `name` on PATH or in the sbin folders.
    package static func executable(_ name: String) -> String? {
        let path = (getenv("PATH").map { String(cString: $0) } ?? "") + ":/usr/sbin:/usr/local/sbin:/sbin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}

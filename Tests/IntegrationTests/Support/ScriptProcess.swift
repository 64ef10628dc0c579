import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs a helper program (scripts/*.sh, the venv's python) to completion without blocking the
/// cooperative thread pool, capturing its output in temporary files (no pipe deadlocks).
///
/// It uses posix_spawn + waitpid rather than Foundation's `Process`: on Linux `Process` only reports
/// termination once every holder of an inherited descriptor has exited, so a script that leaves a daemon
/// behind (scripts/tansu.sh start) would never be seen to finish.
enum ScriptProcess {
    struct Result: Sendable {
        var status: Int32
        var stdout: Data
        var stderr: String
        var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    }

    struct Failure: Error, CustomStringConvertible {
        let command: String
        let result: Result
        var description: String {
            "`\(command)` exited with status \(result.status): \(result.stderr.suffix(2000))"
        }
    }

    struct TimedOut: Error, CustomStringConvertible {
        let command: String
        let seconds: Double
        var description: String { "`\(command)` did not finish within \(seconds) s and was killed" }
    }

    struct SpawnFailed: Error, CustomStringConvertible {
        let command: String
        let errno: Int32
        var description: String { "cannot run `\(command)`: \(String(cString: strerror(errno)))" }
    }

    /// Runs `executable` (an absolute path) with `arguments`, feeding `stdin` (if any); kills it and throws
    /// ``TimedOut`` after `timeout` seconds and, when `check` is true, throws ``Failure`` for a non-zero
    /// exit status.
    static func run(
        _ executable: String, _ arguments: [String], stdin: Data? = nil, timeout: Double = 60, check: Bool = true
    ) async throws -> Result {
        let running = try start(executable, arguments, stdin: stdin)
        return try await running.finish(timeout: timeout, check: check)
    }

    /// A program started by ``start(_:_:stdin:stdinPath:stdoutPath:)``: signal it, watch its output, wait for it.
    struct Running: Sendable {
        let pid: pid_t
        let command: String
        let directory: URL
        var stdoutPath: String { directory.appendingPathComponent("stdout").path }
        var stderrPath: String { directory.appendingPathComponent("stderr").path }

        /// What it has written to stdout so far.
        var stdoutSoFar: String { String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: stdoutPath))) ?? Data(), as: UTF8.self) }

        func signal(_ number: Int32) { kill(pid, number) }

        /// Waits for it to exit (killing it after `timeout` seconds), as ``ScriptProcess/run(_:_:stdin:timeout:check:)``.
        func finish(timeout: Double = 60, check: Bool = true) async throws -> Result {
            defer { try? FileManager.default.removeItem(at: directory) }
            return try await ScriptProcess.wait(pid: pid, command: command, outPath: stdoutPath, errPath: stderrPath, timeout: timeout, check: check)
        }
    }

    /// Starts `executable` with stdin from `stdin` (bytes) or from the file or FIFO at `stdinPath`, and stdout
    /// to a file of its own or to the FIFO at `stdoutPath` (then ``Running/stdoutSoFar`` is empty).
    static func start(
        _ executable: String, _ arguments: [String], stdin: Data? = nil, stdinPath: String? = nil, stdoutPath: String? = nil
    ) throws -> Running {
        let command = ([executable] + arguments).joined(separator: " ")
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("klife-script-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let outPath = dir.appendingPathComponent("stdout").path, errPath = dir.appendingPathComponent("stderr").path
        var inPath = dir.appendingPathComponent("stdin").path
        if let stdinPath {
            inPath = stdinPath
        } else {
            try (stdin ?? Data()).write(to: URL(fileURLWithPath: inPath))
        }
        let pid = try spawn(executable, arguments, stdin: inPath, stdout: stdoutPath ?? outPath, stderr: errPath, command: command)
        return Running(pid: pid, command: command, directory: dir)
    }

    private static func wait(
        pid: pid_t, command: String, outPath: String, errPath: String, timeout: Double, check: Bool
    ) async throws -> Result {
        // Both flags under one lock, so the timer never signals a pid that was already reaped (and reused).
        let state = LockedValue((reaped: false, timedOut: false))
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now() + timeout)
        timer.setEventHandler {
            state.withLock { state in
                guard !state.reaped else { return }
                state.timedOut = true
                kill(pid, SIGKILL)
            }
        }
        timer.resume()
        let status = await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
            DispatchQueue.global().async {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                state.withLock { $0.reaped = true }
                continuation.resume(returning: status)
            }
        }
        timer.cancel()
        if state.withLock({ $0.timedOut }) { throw TimedOut(command: command, seconds: timeout) }
        // WIFEXITED / WEXITSTATUS, spelled out (the C macros are not imported).
        let exitStatus: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let result = Result(
            status: exitStatus,
            stdout: (try? Data(contentsOf: URL(fileURLWithPath: outPath))) ?? Data(),
            stderr: String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: errPath))) ?? Data(), as: UTF8.self)
        )
        if check && result.status != 0 { throw Failure(command: command, result: result) }
        return result
    }

    private static func spawn(
        _ executable: String, _ arguments: [String], stdin: String, stdout: String, stderr: String, command: String
    ) throws -> pid_t {
        #if canImport(Glibc)
            var actions = posix_spawn_file_actions_t()
            var attributes = posix_spawnattr_t()
        #else
            var actions: posix_spawn_file_actions_t?
            var attributes: posix_spawnattr_t?
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Default dispositions and an empty mask, whatever the test process did with its signals.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGCHLD, SIGINT, SIGTERM, SIGHUP] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard rc == 0 else { throw SpawnFailed(command: command, errno: rc) }
        return pid
    }
}

/// A minimal lock-protected value for test support code.
final class LockedValue<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

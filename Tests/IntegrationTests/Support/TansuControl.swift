import Foundation

/// Drives a Tansu broker through scripts/tansu.sh: kill it (SIGKILL), restart it on the same port, or
/// start a private one for a single test.
///
/// ```swift
/// let tansu = try TansuControl.killable          // the broker in KLIFE_TANSU_KILLABLE_BOOTSTRAP
/// try await tansu.kill()
/// try await tansu.restart()                      // same port, empty storage (memory://)
/// ```
/// The killable broker is shared: tests that kill it must not run concurrently with each other (put them
/// in one `.serialized` suite), or use ``startPrivate(prefix:)`` to get a broker of their own.
struct TansuControl: Sendable {
    /// The `--name` given to scripts/tansu.sh.
    let name: String

    /// The shared killable broker `make test` started.
    static var killable: TansuControl { get throws { TansuControl(name: try TestBrokers.tansuKillableName) } }

    /// Starts a new broker used by this test only; stop it with ``stop()`` when done (`make test` stops any
    /// leftovers). Returns the control and the broker's bootstrap address.
    static func startPrivate(prefix: String = "tansu-private") async throws -> (TansuControl, String) {
        let control = TansuControl(name: TestBrokers.uniqueName(prefix))
        return (control, try await control.start())
    }

    /// Starts the broker (again) and returns its address; a no-op returning the address if it runs.
    @discardableResult
    func start() async throws -> String { try await script("start") }

    /// SIGKILL: the broker dies at once, its clients see their connections drop. Its data is lost.
    func kill() async throws { _ = try await script("kill") }

    /// Starts the broker again on its previous port (after ``kill()`` or ``stop()``) and waits until it
    /// answers Metadata. Returns its address.
    @discardableResult
    func restart() async throws -> String { try await script("restart") }

    /// SIGTERM and wait (SIGKILL after 10 s).
    func stop() async throws { _ = try await script("stop") }

    /// Whether the broker runs and answers Metadata.
    func isRunning() async throws -> Bool {
        let result = try await ScriptProcess.run(
            "/bin/bash", [try TestBrokers.scripts + "/tansu.sh", "status", "--name", name], check: false)
        return result.status == 0
    }

    private func script(_ command: String) async throws -> String {
        let result = try await ScriptProcess.run(
            "/bin/bash", [try TestBrokers.scripts + "/tansu.sh", command, "--name", name], timeout: 60)
        return result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

import Synchronization

/// Runs an operation that may not honour cancellation (a user's token provider, a request to a broker that
/// does not answer) under a time limit, without waiting for it past the limit.
enum TimeLimitedOperation {
    /// The operation's result, or nil when `limit` passes first. The operation runs in a task of its own; past
    /// the limit it is cancelled and left to end by itself. Cancelling the caller also cancels it (and throws
    /// `CancellationError`).
    ///
    /// - Throws: what the operation throws, `CancellationError`.
    static func run<T: Sendable>(within limit: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T? {
        let outcome = FirstOutcome<T?>()
        var tasks: [Task<Void, Never>] = []
        defer { for task in tasks { task.cancel() } }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                outcome.set(continuation)
                tasks.append(Task {
                    do {
                        outcome.finish(.success(try await operation()))
                    } catch {
                        outcome.finish(.failure(error))
                    }
                })
                tasks.append(Task {
                    try? await Task.sleep(for: limit)
                    outcome.finish(.success(nil))
                })
            }
        } onCancel: {
            outcome.finish(.failure(CancellationError()))
        }
    }

    /// Resumes a continuation with whichever result comes first.
    private final class FirstOutcome<Value: Sendable>: Sendable {
        private struct State {
            var continuation: CheckedContinuation<Value, any Error>?
            /// A result that came before the continuation was set (cancellation does).
            var early: Result<Value, any Error>?
        }

        private let state = Mutex(State())

        func set(_ continuation: CheckedContinuation<Value, any Error>) {
            let early = state.withLock { state -> Result<Value, any Error>? in
                if let early = state.early { return early }
                state.continuation = continuation
                return nil
            }
            if let early { continuation.resume(with: early) }
        }

        func finish(_ result: Result<Value, any Error>) {
            let pending = state.withLock { state -> CheckedContinuation<Value, any Error>? in
                guard let pending = state.continuation else {
                    if state.early == nil { state.early = result }
                    return nil
                }
                state.continuation = nil
                return pending
            }
            pending?.resume(with: result)
        }
    }
}

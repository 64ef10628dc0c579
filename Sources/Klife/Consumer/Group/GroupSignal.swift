import Synchronization

/// A one-shot signal: fired once, awaited by any number of tasks. Waits also end when the waiting task is
/// cancelled, so nothing hangs on a cancelled client.
final class GroupSignal: Sendable {
    private struct State {
        var fired = false
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextID = 0
    }

    private let state = Mutex(State())

    init() {}

    var isFired: Bool { state.withLock { $0.fired } }

    /// Fires the signal; waiting tasks resume. Later calls do nothing.
    func fire() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.fired else { return [] }
            state.fired = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns when the signal fires or the task is cancelled.
    func wait() async {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.fired || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }

    /// Runs `operation` until it returns or the signal fires, whichever comes first: nil when the signal
    /// fired (or the task was cancelled) first, and `operation` is then cancelled. For waits that only a
    /// cancellation ends (a connection slot backing off), so that a stop does not sit them out.
    func unlessFired<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T? {
        if isFired { return nil }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                await self.wait()
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
    }

    /// Sleeps for `duration`, ending early when the signal fires or the task is cancelled. Returns whether
    /// the signal has fired.
    @discardableResult
    func sleep(for duration: Duration) async -> Bool {
        if isFired { return true }
        if duration <= .zero { return false }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: duration) }
            group.addTask { await self.wait() }
            await group.next()
            group.cancelAll()
        }
        return isFired
    }
}

import Synchronization

/// A sleep that another task can cut short: ``sleep(until:)`` returns at its deadline, when the sleeping task
/// is cancelled, or at the first ``wake()`` since the previous sleep ended (a wake while nobody sleeps ends
/// the next sleep at once). A ``KafkaPartitionConsumer`` sleeps on it between empty rounds and failure
/// backoffs, so a seek is read at once rather than after the wait.
final class ReaderWakeSignal: Sendable {
    private struct State {
        var pendingWake = false
        var sleeping = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func wake() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.pendingWake = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// One sleeper at a time.
    func sleep(until deadline: ContinuousClock.Instant) async {
        let woken = state.withLock { state -> Bool in
            if state.pendingWake {
                state.pendingWake = false
                return true
            }
            state.sleeping = true
            return false
        }
        if woken { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(until: deadline) }
            group.addTask {
                await withCheckedContinuation { continuation in
                    let resumeNow = self.state.withLock { state -> Bool in
                        // The sleep ended (deadline, cancellation) before this waiter was in place, or a wake came.
                        guard state.sleeping, !state.pendingWake else {
                            state.pendingWake = false
                            return true
                        }
                        // One sleeper at a time; a second one would otherwise leave the first asleep for good.
                        precondition(state.waiter == nil, "ReaderWakeSignal: two tasks sleep on it at once")
                        state.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
            await group.next()
            group.cancelAll()
            // The deadline came first: release the waiter.
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                state.sleeping = false
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}

import Synchronization

/// Counts the requests of one drain loop whose answers have not been handled yet.
///
/// Answers are handled in the callback of the request's future (on the connection's event loop), not in
/// a child task per request, which cost a task's creation and two executor hops for every request. The
/// count keeps what the task group gave: a drain loop told to stop returns only once every answer it sent
/// for has been handled, so a stopping producer fails none of the records that are on the wire as shut
/// down while the broker may still be appending them.
final class ProducerPendingAnswers: Sendable {
    private struct State {
        var count = 0
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    /// One more answer to wait for.
    func add() {
        state.withLock { $0.count += 1 }
    }

    /// An answer has been handled.
    func remove() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.count -= 1
            guard state.count == 0, let waiter = state.waiter else { return nil }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Returns once no answer is outstanding. One waiter at a time (the drain loop).
    func waitUntilNone() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let none = state.withLock { state -> Bool in
                if state.count == 0 { return true }
                state.waiter = continuation
                return false
            }
            if none { continuation.resume() }
        }
    }
}

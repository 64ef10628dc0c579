import Synchronization

/// One fetch round of a ``KafkaPartitionConsumer``, run in a task of its own so that its caller is not held
/// by it: a request on the wire is not withdrawn by cancellation (the broker may hold a fetch up to its
/// maxWait), so a cancelled caller leaves at once and the round, still under way, is kept for the next one.
final class PartitionFetchRound: Sendable {
    typealias Answers = [KafkaFetchPosition: Result<KafkaFetchedPartition, KafkaError>]

    private struct State {
        var answers: Answers?
        var waiter: CheckedContinuation<Answers?, Never>?
    }

    private let state = Mutex(State())
    private let task = Mutex<Task<Void, Never>?>(nil)

    private init() {}

    /// Starts `fetch` in a task of its own.
    static func start(_ fetch: @escaping @Sendable () async -> Answers) -> PartitionFetchRound {
        let round = PartitionFetchRound()
        round.task.withLock { $0 = Task { round.finish(await fetch()) } }
        return round
    }

    /// Cancels the round's task (its answers are not wanted any more).
    func cancel() {
        task.withLock { $0 }?.cancel()
    }

    /// The round's answers; nil as soon as the calling task is cancelled (the round goes on). One caller at a
    /// time.
    func answers() async -> Answers? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Answers?, Never>) in
                let ready = state.withLock { state -> Answers?? in
                    if let answers = state.answers { return .some(answers) }
                    if Task.isCancelled { return .some(nil) }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }?.resume(returning: nil)
        }
    }

    private func finish(_ answers: Answers) {
        state.withLock { state in
            state.answers = answers
            defer { state.waiter = nil }
            return state.waiter
        }?.resume(returning: answers)
    }
}

/// Runs the work of ``KafkaClient/fetchAsync(_:options:callback:)`` as child tasks of the client's task group,
/// so asynchronous fetches end with the client instead of running detached.
final class AsyncFetchRunner: KafkaClientComponent {
    typealias Job = @Sendable () async -> Void
    private let jobs: AsyncStream<Job>
    private let continuation: AsyncStream<Job>.Continuation

    init() {
        (jobs, continuation) = AsyncStream<Job>.makeStream()
    }

    /// Queues `job`; false when the runner has stopped and will not run it.
    func submit(_ job: @escaping Job) -> Bool {
        if case .terminated = continuation.yield(job) { return false }
        return true
    }

    func run() async throws {
        await withDiscardingTaskGroup { group in
            for await job in jobs {
                group.addTask { await job() }
            }
        }
    }

    func shutdownGracefully() async {
        // Submitted fetches finish (they are short); no new ones are accepted.
        continuation.finish()
    }
}

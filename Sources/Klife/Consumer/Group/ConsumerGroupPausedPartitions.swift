import Synchronization

/// The partitions a member's user paused (``KafkaConsumerGroup/pause(_:)``): their workers neither fetch nor
/// hand out records until resumed, while the member keeps its membership and its partitions.
final class ConsumerGroupPausedPartitions: Sendable {
    private struct State {
        var paused: Set<KafkaTopicPartition> = []
        /// Fired (and replaced) on every resume, waking the paused workers to look again.
        var resumed = GroupSignal()
    }

    private let state = Mutex(State())

    var partitions: Set<KafkaTopicPartition> { state.withLock { $0.paused } }

    func pause(_ partitions: some Sequence<KafkaTopicPartition>) {
        state.withLock { $0.paused.formUnion(partitions) }
    }

    func resume(_ partitions: some Sequence<KafkaTopicPartition>) {
        let signal = state.withLock { state -> GroupSignal? in
            let before = state.paused.count
            state.paused.subtract(partitions)
            guard state.paused.count != before else { return nil }
            defer { state.resumed = GroupSignal() }
            return state.resumed
        }
        signal?.fire()
    }

    /// The signal a worker of `partition` waits on while it is paused; nil when it is not paused.
    func resumeSignal(for partition: KafkaTopicPartition) -> GroupSignal? {
        state.withLock { $0.paused.contains(partition) ? $0.resumed : nil }
    }
}

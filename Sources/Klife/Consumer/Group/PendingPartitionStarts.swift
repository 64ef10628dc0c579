import Synchronization

/// Partitions a KIP-848 member was assigned whose start (the committed-offset lookup) runs in the
/// background while the member keeps heartbeating. A revocation that comes first cancels the start, so a
/// partition given away before its lookup finished is never started afterwards.
final class PendingPartitionStarts: Sendable {
    /// Each pending partition with the start it belongs to (a partition revoked and assigned again has a
    /// newer start; the older one must not start it).
    private let pending = Mutex<(starts: [KafkaTopicPartition: Int], nextStart: Int)>(([:], 0))

    /// Records a start of `partitions`; returns its token for ``finish(_:offsets:start:)``.
    func begin(_ partitions: [KafkaTopicPartition]) -> Int {
        pending.withLock { state in
            state.nextStart += 1
            for partition in partitions { state.starts[partition] = state.nextStart }
            return state.nextStart
        }
    }

    /// The partitions no longer start (revoked, lost, or the member stops).
    func cancel(_ partitions: [KafkaTopicPartition]) {
        pending.withLock { state in
            for partition in partitions { state.starts[partition] = nil }
        }
    }

    func cancelAll() {
        pending.withLock { $0.starts = [:] }
    }

    /// Ends start `token`: calls `start` with the offsets of its partitions that are still pending for it,
    /// under the lock, so a concurrent ``cancel(_:)`` happens either before (not started) or after (started,
    /// then stopped by the revocation).
    func finish(_ token: Int, offsets: [KafkaTopicPartition: Int64]?, start: ([KafkaTopicPartition: Int64]) -> Void) {
        pending.withLock { state in
            let mine = Set(state.starts.filter { $0.value == token }.keys)
            for partition in mine { state.starts[partition] = nil }
            guard let offsets else { return }
            let startable = offsets.filter { mine.contains($0.key) }
            if !startable.isEmpty { start(startable) }
        }
    }
}

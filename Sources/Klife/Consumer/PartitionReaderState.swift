import DequeModule

/// The positions and fetched-ahead batches of a ``KafkaPartitionConsumer``: which partitions to fetch from
/// where, how fetch answers move them, and seeks. A value type with no I/O.
struct PartitionReaderState {
    struct Position: Equatable {
        var offset: Int64
        var lastFetchedEpoch: Int32?
    }

    /// A fetched batch not delivered yet, with the position it was fetched at.
    private struct Pending {
        var batch: KafkaPartitionBatch
        var fetchedAt: Int64
    }

    /// What applying one round of fetch answers asks of the consumer.
    struct Outcome {
        /// Partitions whose position left the log (OFFSET_OUT_OF_RANGE), with the offset asked for: look their
        /// reset offset up, then ``reset(_:to:ifStillAt:)``.
        var resets: [(KafkaTopicPartition, Int64)] = []
        /// A failure that does not pass by itself; the partition keeps its position.
        var failure: KafkaError?
        /// Whether any partition delivered records or moved.
        var progressed = false
        /// Partitions whose passing failures keep coming (10 in a row, then every 100), to report.
        var persistentFailures: [(KafkaTopicPartition, Int, KafkaError)] = []
    }

    private(set) var positions: [KafkaTopicPartition: Position]
    private var pending: Deque<Pending> = []
    /// Partitions backing off after a retriable failure, until when.
    private var backoffUntil: [KafkaTopicPartition: ContinuousClock.Instant] = [:]
    private var failuresInARow: [KafkaTopicPartition: Int] = [:]
    /// Rounds in a row without progress (for the idle wait).
    private(set) var emptyRounds = 0
    let resetsOutOfRange: Bool

    init(_ positions: [KafkaFetchPosition], resetsOutOfRange: Bool) {
        var byPartition: [KafkaTopicPartition: Position] = [:]
        for position in positions {
            byPartition[KafkaTopicPartition(position.topic, position.partition)] = Position(
                offset: position.offset, lastFetchedEpoch: position.lastFetchedEpoch)
        }
        self.positions = byPartition
        self.resetsOutOfRange = resetsOutOfRange
    }

    /// The next offset delivered per partition: that of the first batch waiting, else the fetch position.
    var deliveryPositions: [KafkaTopicPartition: Int64] {
        var result = positions.mapValues(\.offset)
        for entry in pending.reversed() { result[KafkaTopicPartition(entry.batch.topic, entry.batch.partition)] = entry.fetchedAt }
        return result
    }

    /// The next batch fetched ahead, if any.
    mutating func nextBatch() -> KafkaPartitionBatch? {
        pending.popFirst()?.batch
    }

    /// The positions to fetch now (partitions backing off left out), sorted.
    func fetchPositions(now: ContinuousClock.Instant) -> [KafkaFetchPosition] {
        positions.keys.sorted().compactMap { partition in
            if let until = backoffUntil[partition], until > now { return nil }
            let position = positions[partition]!
            return KafkaFetchPosition(
                topic: partition.topic, partition: partition.partition, offset: position.offset, lastFetchedEpoch: position.lastFetchedEpoch)
        }
    }

    /// When the first partition backing off may be fetched again.
    var earliestBackoffEnd: ContinuousClock.Instant? { backoffUntil.values.min() }

    /// Applies one round of answers. An answer to a position the partition no longer has (a seek came in
    /// between) is dropped.
    mutating func apply(_ answers: [KafkaFetchPosition: Result<KafkaFetchedPartition, KafkaError>], now: ContinuousClock.Instant) -> Outcome {
        var outcome = Outcome()
        for (asked, answer) in answers.sorted(by: { ($0.key.topic, $0.key.partition) < ($1.key.topic, $1.key.partition) }) {
            let partition = KafkaTopicPartition(asked.topic, asked.partition)
            guard let current = positions[partition], current.offset == asked.offset else { continue }
            switch answer {
            case .success(let fetched):
                backoffUntil[partition] = nil
                failuresInARow[partition] = nil
                if fetched.divergence == nil, !fetched.records.isEmpty {
                    pending.append(Pending(
                        batch: KafkaPartitionBatch(
                            topic: partition.topic, partition: partition.partition, records: fetched.records,
                            nextOffset: fetched.nextOffset, highWatermark: fetched.highWatermark),
                        fetchedAt: asked.offset))
                }
                let moved = Position(offset: fetched.nextOffset, lastFetchedEpoch: fetched.lastFetchedEpoch ?? current.lastFetchedEpoch)
                if moved != current { outcome.progressed = true }
                positions[partition] = moved
            case .failure(let error) where error.code == .offsetOutOfRange && resetsOutOfRange:
                outcome.resets.append((partition, asked.offset))
            case .failure(let error) where error.isRetriable:
                let failures = (failuresInARow[partition] ?? 0) + 1
                failuresInARow[partition] = failures
                if failures == 10 || failures % 100 == 0 { outcome.persistentFailures.append((partition, failures, error)) }
                // 100 ms, doubling to at most 2 s.
                backoffUntil[partition] = now + .milliseconds(100) * (1 << min(failures - 1, 4))
            case .failure(let error):
                if outcome.failure == nil { outcome.failure = error }
            }
        }
        emptyRounds = outcome.progressed ? 0 : emptyRounds + 1
        return outcome
    }

    /// The reset policy chose `offset` for `partition`, whose position `requested` left the log; ignored when a
    /// seek moved it meanwhile.
    mutating func reset(_ partition: KafkaTopicPartition, to offset: Int64, ifStillAt requested: Int64) {
        guard positions[partition]?.offset == requested else { return }
        positions[partition] = Position(offset: offset, lastFetchedEpoch: nil)
    }

    /// A failed reset lookup: the partition waits like after a retriable fetch failure.
    mutating func resetLookupFailed(_ partition: KafkaTopicPartition, now: ContinuousClock.Instant) {
        backoffUntil[partition] = now + .milliseconds(500)
    }

    /// Moves `partition` to `offset`: its batches fetched ahead are dropped. False when it is not read here.
    mutating func seek(_ partition: KafkaTopicPartition, to offset: Int64) -> Bool {
        guard positions[partition] != nil else { return false }
        positions[partition] = Position(offset: offset, lastFetchedEpoch: nil)
        pending.removeAll { $0.batch.topic == partition.topic && $0.batch.partition == partition.partition }
        backoffUntil[partition] = nil
        failuresInARow[partition] = nil
        emptyRounds = 0
        return true
    }
}

import Synchronization

/// Reads partitions from positions the caller chooses, without a consumer group (Java's `assign` and `seek`,
/// franz-go's direct consuming): an async sequence of batches, each of one partition, fetching the partitions
/// led by one broker together (in as few requests as the fetcher's size limits allow). While the caller
/// handles a round's batches, the next round is fetched (one round ahead at most).
///
/// ```swift
/// let consumer = try client.partitionConsumer(
///     [KafkaFetchPosition(topic: "orders", partition: 0, offset: savedOffset)], offsetReset: .earliest)
/// for try await batch in consumer {
///     for record in batch.records { handle(record) }
///     save(batch.nextOffset)
/// }
/// ```
///
/// Positions move as batches are fetched; nothing is committed anywhere (keep ``KafkaPartitionBatch/nextOffset``
/// where you need it). Passing failures (a leader moving, a lost connection, a broker that is loading) are
/// retried per partition with a growing backoff while the other partitions go on; one that keeps failing is
/// logged as a warning (after 10 failures in a row, then every 100). A position that left the log
/// moves by `offsetReset`, or fails the iteration without one. A log cut short by an unclean leader election is
/// detected (KIP-320) and reading goes on where the new leader's log parts from the old one.
///
/// The iteration ends when the task is cancelled, at once: a fetch the broker holds (up to the fetcher's
/// maxWait) is not waited for, and its answers go to the next iteration. An error that does not pass by
/// itself ends it with that error (``KafkaError/Code/offsetOutOfRange`` without a reset policy,
/// ``KafkaError/Code/authorizationFailed``, ``KafkaError/Code/corruptRecords``,
/// ``KafkaError/Code/clientNotRunning``, …); the partitions keep their positions, so after ``seek(_:to:)`` (or a fix) a new `for try await` over the same consumer goes on. One
/// task at a time should iterate it.
public final class KafkaPartitionConsumer: AsyncSequence, Sendable {
    public typealias Element = KafkaPartitionBatch

    private let client: KafkaClient
    private let options: KafkaFetchOptions
    private let offsetReset: KafkaConsumerGroupConfiguration.OffsetResetPolicy?
    private let maxIdleWait: Duration
    private let state: Mutex<PartitionReaderState>
    /// Cuts the idle and backoff waits short when a seek comes in.
    private let seeks = ReaderWakeSignal()
    /// The fetch round under way while the caller handles batches of the previous one, or that a cancelled
    /// iteration left (at most one).
    private let fetchingAhead = Mutex<PartitionFetchRound?>(nil)

    init(
        client: KafkaClient, positions: [KafkaFetchPosition], options: KafkaFetchOptions,
        offsetReset: KafkaConsumerGroupConfiguration.OffsetResetPolicy?, maxIdleWait: Duration
    ) {
        self.client = client
        self.options = options
        self.offsetReset = offsetReset
        self.maxIdleWait = maxIdleWait
        self.state = Mutex(PartitionReaderState(positions, resetsOutOfRange: offsetReset != nil))
    }

    /// The partitions read, sorted.
    public var partitions: [KafkaTopicPartition] { state.withLock { $0.positions.keys.sorted() } }

    /// Per partition, the offset of the next record this consumer delivers.
    public var positions: [KafkaTopicPartition: Int64] { state.withLock { $0.deliveryPositions } }

    /// Moves `partition` to `offset`: records fetched ahead of it are dropped and the next batch of it starts at
    /// `offset`. Safe to call while another task iterates; an iteration waiting for records (or backing off
    /// after a failure) fetches at once.
    ///
    /// - Throws: ``KafkaError/Code/invalidArgument`` when `offset` is negative or `partition` is not read by
    ///   this consumer.
    public func seek(_ partition: KafkaTopicPartition, to offset: Int64) throws {
        guard offset >= 0 else { throw KafkaError(.invalidArgument, "seek: offset \(offset) for \(partition) is negative") }
        guard state.withLock({ $0.seek(partition, to: offset) }) else {
            throw KafkaError(.invalidArgument, "seek: \(partition) is not read by this consumer")
        }
        // A round fetched ahead from the old position is of no use: the next one starts at the new position.
        fetchingAhead.withLock { $0.take() }?.cancel()
        seeks.wake()
    }

    /// Fetch rounds in a row that brought nothing (tests: the consumer is waiting for records).
    var idleRounds: Int { state.withLock { $0.emptyRounds } }

    /// Fetch rounds that ran ahead of the caller and have ended (tests).
    var completedFetchesAhead: Int { fetchesAheadCompleted.load(ordering: .relaxed) }
    private let fetchesAheadCompleted = Atomic<Int>(0)

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(consumer: self) }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let consumer: KafkaPartitionConsumer

        /// The next batch; nil when the task is cancelled.
        ///
        /// - Throws: ``KafkaError`` for a failure that does not pass by itself (see ``KafkaPartitionConsumer``).
        public mutating func next() async throws -> KafkaPartitionBatch? {
            try await consumer.nextBatch()
        }
    }

    private func nextBatch() async throws -> KafkaPartitionBatch? {
        while !Task.isCancelled {
            if let batch = state.withLock({ $0.nextBatch() }) {
                fetchAhead()
                return batch
            }
            let round: PartitionFetchRound
            if let ahead = fetchingAhead.withLock({ $0.take() }) {
                round = ahead
            } else {
                let positions = state.withLock { $0.fetchPositions(now: .now) }
                if positions.isEmpty {
                    // Every partition backs off after a failure: wait for the first to be due.
                    let until = state.withLock { $0.earliestBackoffEnd } ?? .now + .milliseconds(100)
                    await seeks.sleep(until: until)
                    continue
                }
                round = PartitionFetchRound.start { [client, options] in await client.fetchPartitions(positions, options: options) }
            }
            guard let answers = await round.answers() else {
                // Cancelled while the broker holds the fetch (up to its maxWait): the iteration ends now, and the
                // round stays for the next one (unless a seek came meanwhile).
                fetchingAhead.withLock { if $0 == nil { $0 = round } }
                return nil
            }
            let outcome = state.withLock { $0.apply(answers, now: .now) }
            for (partition, failures, error) in outcome.persistentFailures {
                client.logger.warning("reading \(partition) has failed \(failures) times in a row; still retrying: \(error)")
            }
            for (partition, requested) in outcome.resets { await reset(partition, from: requested) }
            if let failure = outcome.failure { throw failure }
            if !outcome.progressed && outcome.resets.isEmpty {
                // Nothing new anywhere: wait a little more after each empty round, up to maxIdleWait.
                let steps = Swift.min(Swift.max(state.withLock { $0.emptyRounds }, 1), 10)
                await seeks.sleep(until: .now + Swift.max(maxIdleWait * steps / 10, .milliseconds(10)))
            }
        }
        return nil
    }

    /// Starts the next fetch round, from the positions past the batches fetched so far, while the caller
    /// handles those batches (as Java's and librdkafka's consumers fetch ahead), unless one is under way. Its
    /// answers are applied when the caller has taken every batch fetched before; an answer to a position a seek
    /// has moved meanwhile is dropped then.
    private func fetchAhead() {
        fetchingAhead.withLock { ahead in
            guard ahead == nil else { return }
            let positions = state.withLock { $0.fetchPositions(now: .now) }
            guard !positions.isEmpty else { return }
            ahead = PartitionFetchRound.start { [self] in
                let answers = await client.fetchPartitions(positions, options: options)
                fetchesAheadCompleted.add(1, ordering: .relaxed)
                return answers
            }
        }
    }

    /// Moves a partition whose position left the log to where the reset policy says.
    private func reset(_ partition: KafkaTopicPartition, from requested: Int64) async {
        let spec: KafkaClient.OffsetSpec = offsetReset == .earliest ? .earliest : .latest
        if let answer = try? await client.listOffsets(
            topic: partition.topic, partitions: [partition.partition], at: spec, isolation: options.isolationLevel)[partition.partition],
            answer.offset >= 0
        {
            client.logger.info("offset \(requested) of \(partition) is out of range; reading on at \(Swift.max(0, answer.offset))")
            state.withLock { $0.reset(partition, to: Swift.max(0, answer.offset), ifStillAt: requested) }
        } else {
            state.withLock { $0.resetLookupFailed(partition, now: .now) }
        }
    }
}

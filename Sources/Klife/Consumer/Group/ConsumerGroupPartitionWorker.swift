import Logging
import Synchronization

/// Consumes one assigned partition: fetches ahead into a bounded queue (``PartitionConsumerState``), hands
/// batches to the handler one at a time, commits by the topic's rules, and on stop commits what was processed
/// before it ends.
final class ConsumerGroupPartitionWorker: Sendable {
    let partition: KafkaTopicPartition
    let startOffset: Int64
    /// The leader epoch committed with ``startOffset``, when there was one (KIP-320).
    let startLeaderEpoch: Int32?
    let options: KafkaConsumerTopicOptions
    /// Fired by ``requestStop(_:)``.
    let stopSignal = GroupSignal()
    /// Fired when ``run(_:)`` has ended.
    let finished = GroupSignal()
    private let stopReason = Mutex<KafkaPartitionStopReason?>(nil)
    /// Given up by ``ConsumerGroupPartitions/stop(_:reason:)``: the partition may have another owner already,
    /// so nothing more is committed.
    private let abandoned = Atomic<Bool>(false)
    /// The position ``KafkaConsumerGroup/seek(_:to:)`` asked for, taken before the next fetch.
    private let pendingSeek = Mutex<Int64?>(nil)
    /// The manual batch the caller holds, abandoned when the worker stops.
    private let outstanding = Mutex<(batch: ConsumerBatchDecision?, closed: Bool)>((nil, false))
    /// The start offset of a partition without a committed offset whose reset lookup failed at assignment:
    /// the worker looks it up before its first fetch.
    static let unresolvedStartOffset: Int64 = -1
    /// How long a stopping worker keeps trying to commit.
    static let finalCommitDeadline: Duration = .seconds(10)
    static let commitRetryBackoff: Duration = .milliseconds(500)

    init(partition: KafkaTopicPartition, startOffset: Int64, startLeaderEpoch: Int32? = nil, options: KafkaConsumerTopicOptions) {
        self.partition = partition
        self.startOffset = startOffset
        self.startLeaderEpoch = startLeaderEpoch
        self.options = options
    }

    /// Asks the worker to stop after the current batch; the first reason given wins. A manual batch still in
    /// the buffer of ``KafkaConsumerGroup/batches`` is abandoned (never handed out); one the caller holds is
    /// waited for, like a handler, up to ``KafkaConsumerGroupConfiguration/rebalanceTimeout`` (see
    /// ``ConsumerGroupPartitions/stop(_:reason:)``), unless the partition was lost or the group failed.
    func requestStop(_ reason: KafkaPartitionStopReason) {
        stopReason.withLock { if $0 == nil { $0 = reason } }
        stopSignal.fire()
        let batch = outstanding.withLock { state -> ConsumerBatchDecision? in
            state.closed = true
            return state.batch
        }
        switch reason {
        case .revoked, .shutdown: _ = batch?.abandonUnlessTaken()
        case .lost, .failure: batch?.resolve(nil)
        }
    }

    /// Gives the worker up: its partition is released while its handler still runs. Nothing more is committed
    /// (the partition counts as lost), and a manual batch it waits for is abandoned.
    func abandon() {
        abandoned.store(true, ordering: .releasing)
        stopReason.withLock { $0 = .lost }
        outstanding.withLock { $0.batch }?.resolve(nil)
    }

    private var isAbandoned: Bool { abandoned.load(ordering: .acquiring) }

    /// Moves the position to `offset` before the next fetch, or before the final commit when the worker stops
    /// first (the last request wins). False once the worker is stopping.
    func seek(to offset: Int64) -> Bool {
        guard !stopSignal.isFired else { return false }
        pendingSeek.withLock { $0 = offset }
        return true
    }

    /// Applies a seek asked for since the last look.
    private func applyPendingSeek(_ state: inout PartitionConsumerState, _ logger: Logger, groupID: String) {
        guard let offset = pendingSeek.withLock({ seek in defer { seek = nil }; return seek }) else { return }
        let dropped = state.queue.reduce(0) { $0 + $1.count }
        logger.info("consumer group \(groupID): \(partition) moves to offset \(offset) (seek; \(dropped) fetched records dropped)")
        state.seek(to: offset)
    }

    /// Records the manual batch in the caller's hands; false when the worker is stopping.
    func setOutstanding(_ batch: ConsumerBatchDecision?) -> Bool {
        outstanding.withLock { state in
            if batch != nil && state.closed { return false }
            state.batch = batch
            return true
        }
    }

    private var isStopping: Bool { stopSignal.isFired || Task.isCancelled }

    /// Returns when `first` or `second` fires (or the task is cancelled).
    private static func waitForEither(_ first: GroupSignal, _ second: GroupSignal) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await first.wait() }
            group.addTask { await second.wait() }
            await group.next()
            group.cancelAll()
        }
    }

    func run(_ group: ConsumerGroupPartitions) async {
        defer { finished.fire() }
        let logger = group.logger
        await group.handler?.partitionStarted(partition)
        var start = startOffset
        while start == Self.unresolvedStartOffset, !isStopping {
            // No committed offset, and the reset policy's lookup failed when the partition was assigned: look
            // it up here (the membership goes on meanwhile). Never guess a position (0 would replay the log).
            if let offset = await group.resetOffset(partition, options: options) {
                start = offset
            } else {
                await stopSignal.sleep(for: max(options.fetchInterval, .milliseconds(100)))
            }
        }
        // The committed epoch only goes with the committed offset, not with one the reset policy chose.
        var state = PartitionConsumerState(
            partition: partition, startOffset: max(start, 0), startLeaderEpoch: start == startOffset ? startLeaderEpoch : nil,
            options: options)
        while !isStopping {
            applyPendingSeek(&state, logger, groupID: group.groupID)
            if let resumed = group.paused.resumeSignal(for: partition) {
                // Paused by the user: nothing fetched or handed out; commits allowed to wait go out meanwhile.
                if state.hasUncommitted { _ = await commitPending(&state, group, until: nil) }
                await Self.waitForEither(resumed, stopSignal)
                continue
            }
            if state.queue.isEmpty {
                // Idle: send commits that were allowed to wait (maxUnackedCommits > 0).
                if state.hasUncommitted { _ = await commitPending(&state, group, until: nil) }
                let offset = state.nextFetchOffset
                let outcome = await group.fetch(partition, offset: offset, lastFetchedEpoch: state.lastFetchedEpoch, options: options)
                let wait = await apply(outcome, requestedOffset: offset, &state, group)
                if wait > .zero { await stopSignal.sleep(for: wait) }
                continue
            }
            guard let records = state.takeBatch() else { continue }
            let offset = state.nextFetchOffset
            let prefetch = state.wantsFetch
            // The next fetch overlaps the handler (Klife's prefetch), bounded by maxQueueSize.
            let epoch = state.lastFetchedEpoch
            async let prefetched = prefetch ? group.fetch(partition, offset: offset, lastFetchedEpoch: epoch, options: options) : nil
            let batch = KafkaConsumerBatch(
                topic: partition.topic, partition: partition.partition, records: records, groupMetadata: group.groupMetadata)
            let answer = await group.process(batch, options: options, worker: self)
            var cooldown = options.handlerCooldown
            switch answer {
            case .success(let result)?:
                state.apply(result, to: records)
                // The transaction's TxnOffsetCommit already stored the position after the batch.
                if result.offsetsCommitted { state.committed(state.commitOffset) }
                if let override = result.cooldown { cooldown = override }
            case .failure(let error)?:
                logger.warning("consumer group \(group.groupID): handler failed for \(partition), the batch is delivered again: \(error)")
                state.handlerFailed(records)
                // A pause growing with the attempts (up to fetchInterval), so a handler that keeps failing does
                // not spin.
                let attempts = records.first?.consumerAttempts ?? 0
                cooldown = max(cooldown, min(options.fetchInterval, .milliseconds(100) * (attempts + 1)))
            case nil:
                // Stopped while the caller held a manual batch: it stays unprocessed.
                state.apply(.perRecord([:]), to: records)
            }
            if let outcome = await prefetched { _ = await apply(outcome, requestedOffset: offset, &state, group) }
            if isAbandoned { break }
            if state.mustCommit { _ = await commitPending(&state, group, until: nil, persistent: true) }
            if cooldown > .zero { await stopSignal.sleep(for: cooldown) }
        }
        // A seek that came while the last batch was handled (or the partition paused) still moves the position
        // the final commit stores.
        applyPendingSeek(&state, logger, groupID: group.groupID)
        let reason = stopReason.withLock { $0 } ?? .shutdown
        switch reason {
        case .revoked, .shutdown:
            if !Task.isCancelled && !isAbandoned && state.hasUncommitted {
                // Under the membership of the stop: should the member move on to a new generation meanwhile (the
                // partition may have another owner by then), the coordinator refuses the commit rather than
                // letting it move the committed offset back.
                let committed = await commitPending(
                    &state, group, until: .now + Self.finalCommitDeadline, persistent: true, as: group.currentCommitTarget)
                if !committed {
                    logger.warning("consumer group \(group.groupID): released \(partition) without committing offset \(state.commitOffset)")
                }
            }
        case .lost, .failure:
            break
        }
        logger.debug("consumer group \(group.groupID): stopped \(partition) (\(reason)) at committed offset \(state.committedOffset)")
        await group.handler?.partitionStopped(partition, reason: reason)
    }

    /// Applies a fetch outcome; returns how long to wait before the next fetch.
    private func apply(
        _ outcome: Result<KafkaFetchedPartition, KafkaError>, requestedOffset: Int64, _ state: inout PartitionConsumerState,
        _ group: ConsumerGroupPartitions
    ) async -> Duration {
        switch outcome {
        case .success(let fetched) where fetched.divergence != nil:
            // The same position and epoch back: Kafka never answers so (the epoch it gives ends there), but a
            // broker that did would have the worker spin; wait as after a failed fetch.
            if fetched.nextOffset == requestedOffset, fetched.lastFetchedEpoch == state.lastFetchedEpoch {
                group.logger.warning("consumer group \(group.groupID): the leader reports a divergence of \(partition) at the position asked for (offset \(requestedOffset)); retrying")
                return max(options.fetchInterval, .milliseconds(100))
            }
            // The fetcher logged the divergence; dropped records were fetched ahead, never handed out.
            let dropped = state.logDiverged(at: fetched.nextOffset, epoch: fetched.lastFetchedEpoch, requestedOffset: requestedOffset)
            if dropped > 0 {
                group.logger.warning("consumer group \(group.groupID): dropped \(dropped) fetched records of \(partition) the leader's log no longer holds")
            }
            return .zero
        case .success(let fetched):
            state.fetched(
                records: fetched.records, nextOffset: fetched.nextOffset, requestedOffset: requestedOffset,
                lastFetchedEpoch: fetched.lastFetchedEpoch)
            return state.queue.isEmpty ? state.idleWait : .zero
        case .failure(let error) where error.code == .offsetOutOfRange:
            guard state.resetsAfterOutOfRange(requestedOffset: requestedOffset) else { return .zero }
            if let offset = await group.resetOffset(partition, options: options) {
                group.logger.info("consumer group \(group.groupID): offset \(requestedOffset) of \(partition) is out of range, continuing at \(offset)")
                state.reset(to: offset)
                return .zero
            }
            return max(options.fetchInterval, .milliseconds(100))
        case .failure(let error):
            let failures = state.fetchFailed()
            // Retriable, or the client or member stopping: nothing to report.
            guard !error.isRetriable, error.code != .clientNotRunning, error.code != .cancelled else {
                group.logger.debug("consumer group \(group.groupID): fetch of \(partition)@\(requestedOffset) failed: \(error)")
                return max(options.fetchInterval / 2, .milliseconds(100))
            }
            // Not a passing condition (authorization, a corrupt batch, …): the partition cannot move until someone
            // acts. Reported to the handler each time, logged as a warning on the first failure and every 100th.
            if failures == 1 || failures % 100 == 0 {
                group.logger.warning(
                    "consumer group \(group.groupID): fetching \(partition) at offset \(requestedOffset) fails (\(failures) in a row); it is retried: \(error)")
            }
            await group.handler?.fetchFailed(partition, offset: requestedOffset, error: error)
            return max(options.fetchInterval, .milliseconds(100))
        }
    }

    /// Commits the processed records. Tries once, or with `persistent` keeps trying (a failed commit never
    /// counts as done) until it succeeds, the worker is stopping (unless `until` is given) or `until` passes.
    /// Every failure is reported to the handler. Returns whether everything processed is committed.
    private func commitPending(
        _ state: inout PartitionConsumerState, _ group: ConsumerGroupPartitions, until deadline: ContinuousClock.Instant?,
        persistent: Bool = false, as membership: GroupCommitTarget? = nil
    ) async -> Bool {
        while true {
            let offset = state.commitOffset
            guard offset > state.committedOffset else { return true }
            // Given up (released without a commit): the partition may be someone else's already.
            if isAbandoned { return false }
            guard let error = await group.commit(partition, offset: offset, leaderEpoch: state.commitLeaderEpoch, as: membership) else {
                state.committed(offset)
                return true
            }
            group.logger.debug("\(error.message)")
            await group.handler?.commitFailed(partition, offset: offset, error: error)
            guard persistent, !Task.isCancelled else { return false }
            if let deadline {
                if ContinuousClock.now >= deadline { return false }
                try? await Task.sleep(for: Self.commitRetryBackoff)
            } else if await stopSignal.sleep(for: Self.commitRetryBackoff) {
                return false
            }
        }
    }
}

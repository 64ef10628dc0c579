import DequeModule

/// The consumption of one assigned partition as a value type: the queue of fetched batches waiting for the
/// handler, where the next fetch starts, which offset may be committed and when a commit must happen.
///
/// The queue stays in offset order (retried records go back to its front), so the first unprocessed
/// offset, the one to commit, is the first queued record's offset, or the next fetch offset when the queue
/// is empty.
struct PartitionConsumerState {
    let partition: KafkaTopicPartition
    let maxQueueSize: Int
    /// nil: a fetch result is one batch.
    let maxBatchSize: Int?
    let maxUnackedCommits: Int
    let fetchInterval: Duration
    /// Where the next fetch starts.
    private(set) var nextFetchOffset: Int64
    /// The leader epoch of the last batch fetched, sent with the next fetch so the leader can tell whether its
    /// log still holds what was read (KIP-320). nil until a fetch read a batch with an epoch.
    private(set) var lastFetchedEpoch: Int32?
    /// The leader epoch of the last record handled before the first queued one (what ``commitOffset`` follows),
    /// when known; committed with it while records are queued.
    private(set) var lastHandledEpoch: Int32?
    /// The last offset the coordinator confirmed (the next offset to read), or the start offset.
    private(set) var committedOffset: Int64
    private(set) var queue: Deque<[KafkaRecord]> = []
    /// Empty fetches in a row.
    private(set) var emptyFetches = 0
    /// Records processed since the last confirmed commit.
    private(set) var processedSinceCommit = 0

    init(partition: KafkaTopicPartition, startOffset: Int64, startLeaderEpoch: Int32? = nil, options: KafkaConsumerTopicOptions) {
        self.lastFetchedEpoch = startLeaderEpoch
        self.lastHandledEpoch = startLeaderEpoch
        self.partition = partition
        self.maxQueueSize = options.effectiveMaxQueueSize
        if case .records(let n) = options.handlerMaxBatchSize { maxBatchSize = n } else { maxBatchSize = nil }
        self.maxUnackedCommits = options.maxUnackedCommits
        self.fetchInterval = options.fetchInterval
        self.nextFetchOffset = startOffset
        self.committedOffset = startOffset
    }

    /// Whether a fetch may start: the queue has room.
    var wantsFetch: Bool { queue.count < maxQueueSize }

    /// A fetch from `requestedOffset` returned `records` and said to fetch from `nextOffset` next. Answers
    /// to a fetch made before a reset are ignored.
    /// Fetches that failed in a row (reset by an answer).
    private(set) var consecutiveFetchFailures = 0

    /// A fetch failed; returns how many failed in a row, this one included.
    mutating func fetchFailed() -> Int {
        consecutiveFetchFailures += 1
        return consecutiveFetchFailures
    }

    mutating func fetched(records: [KafkaRecord], nextOffset: Int64, requestedOffset: Int64, lastFetchedEpoch: Int32? = nil) {
        consecutiveFetchFailures = 0
        guard requestedOffset == nextFetchOffset else { return }
        if let lastFetchedEpoch, nextOffset > requestedOffset { self.lastFetchedEpoch = lastFetchedEpoch }
        // The decoder already drops records before the fetch offset; filter (copy) only if some slipped through.
        let fresh = (records.first?.offset ?? requestedOffset) >= requestedOffset ? records : records.filter { ($0.offset ?? -1) >= requestedOffset }
        guard let last = fresh.last?.offset else {
            emptyFetches += 1
            nextFetchOffset = max(nextFetchOffset, nextOffset)
            return
        }
        emptyFetches = 0
        nextFetchOffset = max(nextOffset, last + 1)
        if let maxBatchSize, fresh.count > maxBatchSize {
            var start = fresh.startIndex
            while start < fresh.endIndex {
                let end = min(start + maxBatchSize, fresh.endIndex)
                queue.append(Array(fresh[start..<end]))
                start = end
            }
        } else {
            queue.append(fresh)
        }
    }

    /// How long to wait after an empty fetch: Klife's ramp, `ceil(min(n / 10, 1) × fetchInterval)` after the
    /// n-th empty fetch in a row.
    var idleWait: Duration {
        let steps = min(max(emptyFetches, 1), 10)
        return fetchInterval * steps / 10
    }

    /// The next batch for the handler, removed from the queue.
    mutating func takeBatch() -> [KafkaRecord]? {
        queue.popFirst()
    }

    /// Applies the handler's answer for `batch` (taken with ``takeBatch()``): retried records return to the
    /// front of the queue with their attempt counter raised. Returns how many records were processed.
    @discardableResult
    mutating func apply(_ result: KafkaConsumerBatchResult, to batch: [KafkaRecord]) -> Int {
        var retried: [KafkaRecord] = []
        switch result.decisions {
        case .batch(.commit): break
        case .batch(.retry): retried = batch
        case .records(let decisions):
            retried = batch.filter { record in decisions[record.offset ?? -1] != .commit }
        }
        let processed = batch.count - retried.count
        processedSinceCommit += processed
        if !retried.isEmpty {
            for i in retried.indices { retried[i].consumerAttempts += 1 }
            queue.prepend(retried)
        }
        // The record just before the commit position, if this batch had it (records before a retried one).
        let position = commitOffset
        if let last = batch.last(where: { ($0.offset ?? Int64.max) < position }) { lastHandledEpoch = last.leaderEpoch }
        return processed
    }

    /// The handler failed (threw): the batch comes back unchanged but for the attempt counter.
    mutating func handlerFailed(_ batch: [KafkaRecord]) {
        apply(.retry, to: batch)
    }

    /// The offset to commit: the first record not processed yet.
    var commitOffset: Int64 {
        queue.first?.first?.offset ?? nextFetchOffset
    }

    /// The leader epoch committed with ``commitOffset`` (KIP-320): that of the last record handled before it
    /// (Kafka's "leader epoch of the last consumed record"), or of the last batch fetched when everything
    /// fetched is handled. The next owner's first fetch carries it, so the leader can tell whether its log still
    /// holds the records up to the committed offset.
    var commitLeaderEpoch: Int32? {
        queue.isEmpty ? lastFetchedEpoch : lastHandledEpoch
    }

    /// Processed records wait for a commit.
    var hasUncommitted: Bool { commitOffset > committedOffset }

    /// Processing must wait until a commit confirms: more processed records are unconfirmed than
    /// ``KafkaConsumerTopicOptions/maxUnackedCommits`` allows.
    var mustCommit: Bool { hasUncommitted && processedSinceCommit > maxUnackedCommits }

    /// The coordinator confirmed `offset`.
    mutating func committed(_ offset: Int64) {
        guard offset > committedOffset else { return }
        committedOffset = offset
        if offset >= commitOffset { processedSinceCommit = 0 }
    }

    /// Whether an OFFSET_OUT_OF_RANGE answer to a fetch from `requestedOffset` calls for a reset now: only for
    /// the current fetch position, and only once the queue is empty. Queued records (fetched ahead, or put back
    /// by a retry) are still to be handled, and a reset would drop them, then commit past them; the position is
    /// fetched again once they are handled, and reset then.
    func resetsAfterOutOfRange(requestedOffset: Int64) -> Bool {
        requestedOffset == nextFetchOffset && queue.isEmpty
    }

    /// Start over from `offset` (the fetch position left the log and the reset policy chose `offset`, or a
    /// seek). `offset` becomes the position to commit, also when the committed offset lies past it (a position
    /// beyond the log end, committed or sought): left there, it would hide every commit until the reading
    /// passes it, and send the next owner back out of range.
    mutating func reset(to offset: Int64) {
        queue.removeAll()
        nextFetchOffset = offset
        lastFetchedEpoch = nil
        lastHandledEpoch = nil
        emptyFetches = 0
        // One below, so the new position itself counts as uncommitted and goes to the coordinator.
        if committedOffset > offset { committedOffset = offset - 1 }
    }

    /// The user moved the position to `offset` (``KafkaConsumerGroup/seek(_:to:)``): queued records are dropped
    /// and fetching goes on from `offset`, which becomes the group's position: it counts as uncommitted also
    /// when it lies before the committed offset, so a rewind survives a restart or a rebalance.
    mutating func seek(to offset: Int64) {
        reset(to: offset)
        consecutiveFetchFailures = 0
    }

    /// The leader's log parts, at `offset` and epoch `epoch`, from what a fetch from `requestedOffset` had read
    /// (KIP-320 divergence, after an unclean leader election): fetching goes on from `offset` with `epoch`, as
    /// Kafka's Java consumer does. Queued records at or past `offset` are no longer in the log and are dropped.
    /// A position confirmed past `offset` is committed again at the new position (``hasUncommitted``), so the
    /// coordinator does not keep a position past records now in the log. Returns how many queued records were
    /// dropped. Answers to a fetch made before a reset are ignored.
    mutating func logDiverged(at offset: Int64, epoch: Int32?, requestedOffset: Int64) -> Int {
        consecutiveFetchFailures = 0
        guard requestedOffset == nextFetchOffset, offset <= nextFetchOffset else { return 0 }
        var dropped = 0
        var kept: Deque<[KafkaRecord]> = []
        for batch in queue {
            let stillInLog = batch.filter { ($0.offset ?? -1) < offset }
            dropped += batch.count - stillInLog.count
            if !stillInLog.isEmpty { kept.append(stillInLog) }
        }
        queue = kept
        nextFetchOffset = offset
        lastFetchedEpoch = epoch
        if queue.isEmpty { lastHandledEpoch = epoch }
        emptyFetches = 0
        // One below, so the rewound position itself counts as uncommitted and goes to the coordinator.
        if committedOffset > commitOffset { committedOffset = commitOffset - 1 }
        return dropped
    }
}

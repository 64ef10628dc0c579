import NIOCore
import Testing

@testable import Klife

@Suite("PartitionConsumerState")
struct PartitionConsumerStateTests {
    static let partition = KafkaTopicPartition(topic: "t", partition: 0)

    static func records(_ offsets: ClosedRange<Int64>) -> [KafkaRecord] {
        offsets.map { offset in
            var record = KafkaRecord(topic: "t", partition: 0, value: "v\(offset)")
            record.offset = offset
            return record
        }
    }

    static func state(start: Int64 = 10, _ options: KafkaConsumerTopicOptions = KafkaConsumerTopicOptions()) -> PartitionConsumerState {
        PartitionConsumerState(partition: partition, startOffset: start, options: options)
    }

    @Test func dynamicBatchesAreWholeFetchesAndRecordsBeforeTheOffsetAreDropped() {
        var state = Self.state()
        state.fetched(records: Self.records(8...14), nextOffset: 15, requestedOffset: 10)
        #expect(state.queue.count == 1)
        #expect(state.queue.first?.map(\.offset) == [10, 11, 12, 13, 14])
        #expect(state.nextFetchOffset == 15)
        #expect(state.commitOffset == 10)
    }

    @Test func fixedBatchSizeCutsFetches() {
        var state = Self.state(KafkaConsumerTopicOptions(handlerMaxBatchSize: .records(2)))
        state.fetched(records: Self.records(10...14), nextOffset: 15, requestedOffset: 10)
        #expect(state.queue.map { $0.map(\.offset) } == [[10, 11], [12, 13], [14]])
        #expect(state.maxQueueSize == 20)
    }

    @Test func staleFetchAnswersAreIgnored() {
        var state = Self.state()
        state.fetched(records: Self.records(10...11), nextOffset: 12, requestedOffset: 10)
        state.fetched(records: Self.records(10...11), nextOffset: 12, requestedOffset: 10)
        #expect(state.queue.count == 1)
        #expect(state.nextFetchOffset == 12)
    }

    @Test func emptyFetchesAdvancePastGapsAndRampTheWait() {
        var state = Self.state(KafkaConsumerTopicOptions(fetchInterval: .seconds(1)))
        state.fetched(records: [], nextOffset: 12, requestedOffset: 10)
        #expect(state.nextFetchOffset == 12)
        #expect(state.idleWait == .milliseconds(100))
        state.fetched(records: [], nextOffset: 12, requestedOffset: 12)
        #expect(state.idleWait == .milliseconds(200))
        for _ in 0..<20 { state.fetched(records: [], nextOffset: 12, requestedOffset: 12) }
        #expect(state.idleWait == .seconds(1))
        state.fetched(records: Self.records(12...12), nextOffset: 13, requestedOffset: 12)
        #expect(state.emptyFetches == 0)
    }

    @Test func commitCommitsThroughTheBatchAndEveryBatchWaitsForItsCommitByDefault() {
        var state = Self.state()
        state.fetched(records: Self.records(10...12), nextOffset: 13, requestedOffset: 10)
        let batch = state.takeBatch()!
        state.apply(.commit, to: batch)
        #expect(state.commitOffset == 13)
        #expect(state.mustCommit)
        state.committed(13)
        #expect(!state.hasUncommitted)
        #expect(!state.mustCommit)
    }

    @Test func maxUnackedCommitsLetsCommitsWait() {
        var state = Self.state(KafkaConsumerTopicOptions(maxUnackedCommits: 5, handlerMaxBatchSize: .records(3)))
        state.fetched(records: Self.records(10...17), nextOffset: 18, requestedOffset: 10)
        state.apply(.commit, to: state.takeBatch()!)
        #expect(state.hasUncommitted && !state.mustCommit)
        state.apply(.commit, to: state.takeBatch()!)
        #expect(state.processedSinceCommit == 6)
        #expect(state.mustCommit)
        #expect(state.commitOffset == 16)
    }

    @Test func retryPutsTheBatchBackFirstWithItsAttemptCounterRaised() {
        var state = Self.state(KafkaConsumerTopicOptions(handlerMaxBatchSize: .records(2)))
        state.fetched(records: Self.records(10...13), nextOffset: 14, requestedOffset: 10)
        let batch = state.takeBatch()!
        state.apply(.retry, to: batch)
        #expect(state.queue.map { $0.map(\.offset) } == [[10, 11], [12, 13]])
        #expect(state.queue.first?.map(\.consumerAttempts) == [1, 1])
        #expect(!state.hasUncommitted)
        state.handlerFailed(state.takeBatch()!)
        #expect(state.queue.first?.map(\.consumerAttempts) == [2, 2])
    }

    @Test func perRecordDecisionsRetryTheRestAndCommitOnlyBeforeTheFirstRetry() {
        var state = Self.state()
        state.fetched(records: Self.records(10...14), nextOffset: 15, requestedOffset: 10)
        let batch = state.takeBatch()!
        // 10 and 11 processed, 12 retried, 13 processed, 14 left out (retried).
        let processed = state.apply(.perRecord([10: .commit, 11: .commit, 12: .retry, 13: .commit]), to: batch)
        #expect(processed == 3)
        #expect(state.queue.first?.map(\.offset) == [12, 14])
        #expect(state.commitOffset == 12)
        state.apply(.commit, to: state.takeBatch()!)
        #expect(state.commitOffset == 15)
    }

    @Test func resetDropsTheQueue() {
        var state = Self.state()
        state.fetched(records: Self.records(10...12), nextOffset: 13, requestedOffset: 10)
        state.reset(to: 100)
        #expect(state.queue.isEmpty)
        #expect(state.nextFetchOffset == 100)
        #expect(state.commitOffset == 100)
    }

    @Test func outOfRangeResetsOnlyTheCurrentPositionWithNothingQueued() {
        var state = Self.state()
        // Empty queue, the current position: reset.
        #expect(state.resetsAfterOutOfRange(requestedOffset: 10))
        // An answer to an older fetch (before a reset): ignored.
        #expect(!state.resetsAfterOutOfRange(requestedOffset: 9))
        // A prefetch answered out of range while fetched records wait: they are handled first.
        state.fetched(records: Self.records(10...12), nextOffset: 13, requestedOffset: 10)
        #expect(!state.resetsAfterOutOfRange(requestedOffset: 13))
        // The handler asked to retry the batch: its records are back in the queue, still no reset.
        let batch = state.takeBatch()!
        state.apply(.retry, to: batch)
        #expect(state.queue.first?.map(\.offset) == [10, 11, 12])
        #expect(!state.resetsAfterOutOfRange(requestedOffset: 13))
        #expect(state.commitOffset == 10)
        // Handled: the position is fetched again, and now a reset is due.
        state.apply(.commit, to: state.takeBatch()!)
        #expect(state.commitOffset == 13)
        #expect(state.resetsAfterOutOfRange(requestedOffset: 13))
    }

    @Test func queueBoundStopsPrefetch() {
        var state = Self.state(KafkaConsumerTopicOptions(maxQueueSize: 1))
        #expect(state.wantsFetch)
        state.fetched(records: Self.records(10...10), nextOffset: 11, requestedOffset: 10)
        #expect(!state.wantsFetch)
    }

    @Test func theLastFetchedEpochFollowsTheFetches() {
        var state = Self.state()
        #expect(state.lastFetchedEpoch == nil)
        state.fetched(records: Self.records(10...14), nextOffset: 15, requestedOffset: 10, lastFetchedEpoch: 3)
        #expect(state.lastFetchedEpoch == 3)
        // An empty answer moves nothing; an answer to an older fetch is ignored.
        state.fetched(records: [], nextOffset: 15, requestedOffset: 15, lastFetchedEpoch: 9)
        state.fetched(records: Self.records(10...14), nextOffset: 15, requestedOffset: 10, lastFetchedEpoch: 8)
        #expect(state.lastFetchedEpoch == 3)
        state.reset(to: 0)
        #expect(state.lastFetchedEpoch == nil)
    }

    @Test func aDivergenceDropsQueuedRecordsPastItAndFetchesFromThere() {
        var state = Self.state()
        state.fetched(records: Self.records(10...14), nextOffset: 15, requestedOffset: 10, lastFetchedEpoch: 3)
        state.fetched(records: Self.records(15...19), nextOffset: 20, requestedOffset: 15, lastFetchedEpoch: 3)
        let first = state.takeBatch()!
        state.apply(.commit, to: first)
        state.committed(state.commitOffset)
        #expect(state.committedOffset == 15)
        // The leader's log holds epoch 2 up to offset 12 only: 12-14 were handled already; 15-19 are dropped.
        #expect(state.logDiverged(at: 12, epoch: 2, requestedOffset: 20) == 5)
        #expect(state.queue.isEmpty)
        #expect(state.nextFetchOffset == 12 && state.lastFetchedEpoch == 2)
        // The rewound position goes to the coordinator (it holds 15, past what the log now has there).
        #expect(state.hasUncommitted && state.commitOffset == 12 && state.commitLeaderEpoch == 2)
        state.committed(12)
        #expect(state.committedOffset == 12 && !state.hasUncommitted)
        state.fetched(records: Self.records(12...13), nextOffset: 14, requestedOffset: 12, lastFetchedEpoch: 5)
        state.apply(.commit, to: state.takeBatch()!)
        #expect(state.hasUncommitted && state.commitOffset == 14)
        state.committed(14)
        #expect(state.committedOffset == 14)
    }

    @Test func aDivergenceKeepsQueuedRecordsBeforeItAndIgnoresStaleAnswers() {
        var state = Self.state()
        state.fetched(records: Self.records(10...19), nextOffset: 20, requestedOffset: 10, lastFetchedEpoch: 3)
        #expect(state.logDiverged(at: 12, epoch: 2, requestedOffset: 10) == 0)  // not the current fetch
        #expect(state.nextFetchOffset == 20)
        #expect(state.logDiverged(at: 16, epoch: 2, requestedOffset: 20) == 4)
        #expect(state.queue.first?.map(\.offset) == [10, 11, 12, 13, 14, 15])
        #expect(state.nextFetchOffset == 16 && state.commitOffset == 10)
    }

    @Test func theCommittedEpochIsThatOfTheLastRecordHandled() {
        var state = PartitionConsumerState(partition: Self.partition, startOffset: 10, startLeaderEpoch: 2, options: KafkaConsumerTopicOptions())
        // Started from a commit with its epoch: the first fetch carries it, and so would a commit of the start.
        #expect(state.lastFetchedEpoch == 2 && state.commitLeaderEpoch == 2)
        var records = Self.records(10...14)
        for i in records.indices { records[i].leaderEpoch = i < 3 ? 3 : 4 }
        state.fetched(records: records, nextOffset: 15, requestedOffset: 10, lastFetchedEpoch: 4)
        // Nothing handled yet: still the epoch of the record before 10.
        #expect(state.commitOffset == 10 && state.commitLeaderEpoch == 2)
        state.apply(.perRecord([10: .commit, 11: .commit, 12: .commit, 13: .retry, 14: .retry]), to: state.takeBatch()!)
        // Record 12 (epoch 3) is the last handled before the position; 13 and 14 (epoch 4) come again.
        #expect(state.commitOffset == 13 && state.commitLeaderEpoch == 3)
        state.apply(.commit, to: state.takeBatch()!)
        #expect(state.commitOffset == 15 && state.commitLeaderEpoch == 4)
    }

    /// A rewind drops what was fetched ahead and makes the earlier position the one to commit.
    @Test func aSeekBackDropsTheQueueAndCommitsTheEarlierPosition() {
        var state = Self.state()
        state.fetched(records: Self.records(10...14), nextOffset: 15, requestedOffset: 10)
        let batch = state.takeBatch()!
        state.apply(.commit, to: batch)
        state.committed(15)
        state.fetched(records: Self.records(15...16), nextOffset: 17, requestedOffset: 15)
        #expect(!state.hasUncommitted)

        state.seek(to: 11)
        #expect(state.queue.isEmpty)
        #expect(state.nextFetchOffset == 11)
        #expect(state.commitOffset == 11)
        #expect(state.hasUncommitted)
        state.committed(11)
        #expect(!state.hasUncommitted)
        // Answers to fetches from before the seek are ignored.
        state.fetched(records: Self.records(17...18), nextOffset: 19, requestedOffset: 17)
        #expect(state.queue.isEmpty)
        #expect(state.nextFetchOffset == 11)
    }

    /// Skipping ahead commits the new position; a seek to the committed offset commits nothing new.
    @Test func aSeekAheadCommitsTheNewPosition() {
        var ahead = Self.state()
        ahead.seek(to: 40)
        #expect(ahead.commitOffset == 40)
        #expect(ahead.hasUncommitted)

        var same = Self.state()
        same.committed(10)
        same.seek(to: 10)
        #expect(!same.hasUncommitted)
    }

    /// A committed (or sought) position past the log end that the reset policy replaces is not kept: the reset
    /// offset is committed, so the next owner does not start out of range again.
    @Test func aResetBelowTheCommittedOffsetIsCommitted() {
        var state = Self.state(start: 1_000)
        state.committed(1_000)
        #expect(!state.hasUncommitted)
        state.reset(to: 50)
        #expect(state.commitOffset == 50)
        #expect(state.hasUncommitted)
    }
}

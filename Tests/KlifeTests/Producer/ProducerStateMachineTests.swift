import NIOCore
import Testing

@testable import Klife

private typealias Machine = ProducerStateMachine<Int>
private let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
private func tp(_ partition: Int32, _ topic: String = "t") -> ProducerTopicPartition { .init(topic, partition) }
private func ms(_ value: Int64) -> TimeAmount { .milliseconds(value) }

private func makeMachine(_ configure: (inout Machine.Configuration) -> Void = { _ in }) -> Machine {
    var configuration = Machine.Configuration()
    configuration.idempotent = false
    configuration.retryBackoff = ms(100)
    configure(&configuration)
    return Machine(configuration: configuration)
}

private extension ProducerStateMachine where Entry == Int {
    @discardableResult
    mutating func add(_ ids: ClosedRange<Int>, to topicPartition: ProducerTopicPartition, leader: Int32?, size: Int = 10,
                      now: NIODeadline = t0) -> [AppendResult] {
        ids.map { append($0, size: size, to: topicPartition, leader: leader, now: now) }
    }

    mutating func expectSend(_ broker: Int32, now: NIODeadline = t0,
                             sourceLocation: SourceLocation = #_sourceLocation) throws -> ProduceRequestPlan<Int> {
        guard case .send(let plan) = nextAction(for: ProducerSinkID(broker: broker), now: now) else {
            Issue.record("expected a request to broker \(broker)", sourceLocation: sourceLocation)
            throw CancellationError()
        }
        return plan
    }

    /// Checks the machine asks the broker for an epoch bump of (42, 3) and grants it (42, 4).
    @discardableResult
    mutating func grantBump(sourceLocation: SourceLocation = #_sourceLocation) -> ProducerStateMachineOutput<Int> {
        #expect(producerIDRequest == .bump(id: 42, epoch: 3), sourceLocation: sourceLocation)
        return producerIDReceived(id: 42, epoch: 4)
    }

    mutating func expectWait(_ broker: Int32, now: NIODeadline = t0) -> NIODeadline?? {
        if case .wait(let until) = nextAction(for: ProducerSinkID(broker: broker), now: now) { return .some(until) }
        return nil
    }
}

private extension ProduceRequestPlan where Entry == Int {
    func ids(_ topicPartition: ProducerTopicPartition) -> [Int] {
        batches.first { $0.topicPartition == topicPartition }?.records.map(\.entry) ?? []
    }
    func batch(_ topicPartition: ProducerTopicPartition) -> Batch? { batches.first { $0.topicPartition == topicPartition } }
}

private func successes(_ output: ProducerStateMachineOutput<Int>) -> [Int: Int64] {
    var result: [Int: Int64] = [:]
    for completion in output.recordResults { if case .success(let info) = completion.result { result[completion.entry] = info.offset } }
    return result
}

private func failures(_ output: ProducerStateMachineOutput<Int>) -> [Int: ProducerFailure] {
    var result: [Int: ProducerFailure] = [:]
    for completion in output.recordResults { if case .failure(let failure) = completion.result { result[completion.entry] = failure } }
    return result
}

@Suite("Producer engine: batching")
struct ProducerBatchingTests {
    @Test func partitionsLedByOneBrokerShareOneRequest() throws {
        var machine = makeMachine()
        machine.add(1...2, to: tp(0), leader: 1)
        machine.add(3...3, to: tp(1), leader: 1)
        machine.add(4...5, to: tp(2), leader: 2)
        let toBroker1 = try machine.expectSend(1)
        #expect(toBroker1.batches.count == 2)
        #expect(toBroker1.ids(tp(0)) == [1, 2])
        #expect(toBroker1.ids(tp(1)) == [3])
        let toBroker2 = try machine.expectSend(2)
        #expect(toBroker2.ids(tp(2)) == [4, 5])
        #expect(toBroker2.batches.count == 1)
    }

    @Test func lingerHoldsTheBatchUntilItsDeadline() throws {
        var machine = makeMachine { $0.linger = ms(10) }
        machine.add(1...1, to: tp(0), leader: 1)
        #expect(machine.expectWait(1) == .some(t0 + ms(10)))
        let plan = try machine.expectSend(1, now: t0 + ms(10))
        #expect(plan.ids(tp(0)) == [1])
    }

    @Test func aLingeringPartitionTravelsWithAReadyOne() throws {
        var machine = makeMachine {
            $0.linger = ms(50)
            $0.batchSizeBytes = ProducerBatch<Int>.overheadBytes + 20
        }
        machine.add(1...1, to: tp(0), leader: 1)
        machine.add(2...3, to: tp(1), leader: 1)  // fills its batch: ready now
        let plan = try machine.expectSend(1)
        #expect(plan.ids(tp(0)) == [1])
        #expect(plan.ids(tp(1)) == [2, 3])
    }

    @Test func batchSizeSplitsBatchesAndOneBatchPerPartitionGoesPerRequest() throws {
        var machine = makeMachine { $0.batchSizeBytes = ProducerBatch<Int>.overheadBytes + 30 }
        machine.add(1...7, to: tp(0), leader: 1)
        let first = try machine.expectSend(1)
        #expect(first.ids(tp(0)) == [1, 2, 3])
        let second = try machine.expectSend(1)
        #expect(second.ids(tp(0)) == [4, 5, 6])
        // The last batch is open and the sink busy: at linger 0 it waits until the sink's requests are answered.
        #expect(machine.expectWait(1) == .some(nil))
        _ = machine.requestCompleted(first.requestID, result: .response([.init(tp(0), baseOffset: 0)]), now: t0)
        #expect(machine.expectWait(1) == .some(nil))
        _ = machine.requestCompleted(second.requestID, result: .response([.init(tp(0), baseOffset: 3)]), now: t0)
        let third = try machine.expectSend(1)
        #expect(third.ids(tp(0)) == [7])
    }

    @Test func anOversizedRecordGetsABatchOfItsOwn() throws {
        var machine = makeMachine { $0.batchSizeBytes = 200 }
        machine.add(1...1, to: tp(0), leader: 1, size: 10)
        machine.add(2...2, to: tp(0), leader: 1, size: 5000)
        machine.add(3...3, to: tp(0), leader: 1, size: 10)
        let first = try machine.expectSend(1)
        #expect(first.ids(tp(0)) == [1])
        let second = try machine.expectSend(1)
        #expect(second.ids(tp(0)) == [2])
        // Record 3's batch is open: at linger 0 it waits until the sink's requests are answered.
        #expect(machine.expectWait(1) == .some(nil))
        _ = machine.requestCompleted(first.requestID, result: .response([.init(tp(0), baseOffset: 0)]), now: t0)
        _ = machine.requestCompleted(second.requestID, result: .response([.init(tp(0), baseOffset: 1)]), now: t0)
        #expect(try machine.expectSend(1).ids(tp(0)) == [3])
    }

    @Test func busyInFlightSlotsAccumulateTheNextBatch() throws {
        var machine = makeMachine { $0.maxInFlightRequests = 1 }
        machine.add(1...1, to: tp(0), leader: 1)
        let first = try machine.expectSend(1)
        let appended = machine.add(2...5, to: tp(0), leader: 1)
        #expect(appended.allSatisfy { $0 == .appended(wake: nil) })
        #expect(machine.expectWait(1) == .some(nil))
        let output = machine.requestCompleted(first.requestID, result: .response([.init(tp(0), baseOffset: 40)]), now: t0)
        #expect(successes(output) == [1: 40])
        #expect(output.wake == [ProducerSinkID(broker: 1)])
        let second = try machine.expectSend(1)
        #expect(second.ids(tp(0)) == [2, 3, 4, 5])
    }

    @Test func aParkedSinkIsWokenOnceByAppends() throws {
        // An idle sink (nothing in flight; with a request in flight linger-0 records gather instead, see
        // `linger0RecordsGatherWhileTheSinkHasARequestInFlight`).
        var machine = makeMachine()
        machine.add(1...1, to: tp(0), leader: 1)
        let first = try machine.expectSend(1)
        _ = machine.requestCompleted(first.requestID, result: .response([.init(tp(0), baseOffset: 0)]), now: t0)
        #expect(machine.expectWait(1) == .some(nil))
        let appended = machine.add(2...3, to: tp(0), leader: 1)
        #expect(appended == [.appended(wake: ProducerSinkID(broker: 1)), .appended(wake: nil)])
    }

    @Test func anAnswerWakesAnIdleSinkOnlyWhenItLeavesABatch() throws {
        var machine = makeMachine()
        machine.add(1...1, to: tp(0), leader: 1)
        let first = try machine.expectSend(1)
        #expect(machine.expectWait(1) == .some(nil))  // idle: its only batch is in flight
        let answered = machine.requestCompleted(first.requestID, result: .response([.init(tp(0), baseOffset: 0)]), now: t0)
        #expect(successes(answered) == [1: 0])
        #expect(answered.wake.isEmpty)
        // Still parked, so the next append wakes it.
        #expect(machine.add(2...2, to: tp(0), leader: 1) == [.appended(wake: ProducerSinkID(broker: 1))])
        let second = try machine.expectSend(1)
        #expect(machine.expectWait(1) == .some(nil))
        // A failed answer leaves the batch to retry: the sink must look again.
        let failed = machine.requestCompleted(second.requestID, result: .transportFailure(message: "injected"), now: t0)
        #expect(failed.wake == [ProducerSinkID(broker: 1)])
    }

    @Test func linger0RecordsGatherWhileTheSinkHasARequestInFlight() throws {
        var machine = makeMachine()
        machine.add(1...1, to: tp(0), leader: 1)
        let first = try machine.expectSend(1)  // nothing in flight: a lone record goes at once
        machine.add(2...2, to: tp(0), leader: 1)
        machine.add(3...3, to: tp(1), leader: 1)
        #expect(machine.expectWait(1) == .some(nil))
        // Parked for the answer: further appends do not wake the drain loop.
        #expect(machine.add(4...5, to: tp(0), leader: 1) == [.appended(wake: nil), .appended(wake: nil)])
        let output = machine.requestCompleted(first.requestID, result: .response([.init(tp(0), baseOffset: 0)]), now: t0)
        #expect(output.wake == [ProducerSinkID(broker: 1)])
        let second = try machine.expectSend(1)
        #expect(second.ids(tp(0)) == [2, 4, 5])
        #expect(second.ids(tp(1)) == [3])
    }

    @Test func aBatchThatFillsWhileGatheringGoesWithoutWaitingForTheAnswer() throws {
        var machine = makeMachine {
            $0.maxInFlightRequests = 5
            $0.batchSizeBytes = ProducerBatch<Int>.overheadBytes + 30
        }
        machine.add(1...1, to: tp(0), leader: 1)
        _ = try machine.expectSend(1)
        machine.add(2...2, to: tp(0), leader: 1)
        #expect(machine.expectWait(1) == .some(nil))
        #expect(machine.add(3...4, to: tp(0), leader: 1) == [.appended(wake: nil), .appended(wake: ProducerSinkID(broker: 1))])
        let second = try machine.expectSend(1)
        #expect(second.ids(tp(0)) == [2, 3, 4])
    }

    @Test func aFlushSendsGatheringRecordsWithoutWaitingForTheAnswer() throws {
        var machine = makeMachine()
        machine.add(1...1, to: tp(0), leader: 1)
        _ = try machine.expectSend(1)
        machine.add(2...2, to: tp(0), leader: 1)
        #expect(machine.expectWait(1) == .some(nil))
        let (done, output) = machine.beginFlush(waiterID: 1)
        #expect(!done)
        #expect(output.wake == [ProducerSinkID(broker: 1)])
        #expect(try machine.expectSend(1).ids(tp(0)) == [2])
    }

    @Test func lingeredBatchesAboveLinger0DoNotWaitForInFlightRequests() throws {
        var machine = makeMachine { $0.linger = ms(10) }
        machine.add(1...1, to: tp(0), leader: 1)
        _ = try machine.expectSend(1, now: t0 + ms(10))
        machine.add(2...2, to: tp(0), leader: 1, now: t0 + ms(10))
        #expect(machine.expectWait(1, now: t0 + ms(10)) == .some(t0 + ms(20)))
        #expect(try machine.expectSend(1, now: t0 + ms(20)).ids(tp(0)) == [2])
    }

    @Test func retriesDoNotWaitForInFlightRequests() throws {
        var machine = makeMachine { $0.maxInFlightRequests = 5 }
        machine.add(1...1, to: tp(0), leader: 1)
        let first = try machine.expectSend(1)
        machine.add(2...2, to: tp(1), leader: 1)
        machine.add(3...3, to: tp(2), leader: 1, size: ProducerStateMachine<Int>.Configuration().batchSizeBytes)  // full
        let second = try machine.expectSend(1)
        #expect(second.ids(tp(1)) == [2])
        #expect(second.ids(tp(2)) == [3])
        _ = machine.requestCompleted(first.requestID, result: .response([
            .init(tp(0), errorCode: ProducerErrorCodes.leaderNotAvailable),
        ]), now: t0)
        // The second request is still out; the retry of record 1 goes anyway after its backoff.
        #expect(machine.expectWait(1) == .some(t0 + ms(100)))
        #expect(try machine.expectSend(1, now: t0 + ms(100)).ids(tp(0)) == [1])
    }

    @Test func lanesSpreadPartitionsOfOneBroker() throws {
        var machine = makeMachine { $0.lanesPerBroker = 2 }
        machine.add(1...1, to: tp(0), leader: 1)
        machine.add(2...2, to: tp(1), leader: 1)
        let lane0 = machine.nextAction(for: ProducerSinkID(broker: 1, lane: 0), now: t0)
        let lane1 = machine.nextAction(for: ProducerSinkID(broker: 1, lane: 1), now: t0)
        guard case .send(let a) = lane0, case .send(let b) = lane1 else {
            Issue.record("both lanes should send")
            return
        }
        #expect(a.ids(tp(0)) == [1])
        #expect(b.ids(tp(1)) == [2])
    }

    @Test func acksZeroCompletesWithoutOffsets() throws {
        var machine = makeMachine { $0.acks = 0 }
        machine.add(1...2, to: tp(0), leader: 1)
        let plan = try machine.expectSend(1)
        #expect(!plan.expectsResponse)
        let output = machine.requestCompleted(plan.requestID, result: .sentWithoutResponse, now: t0)
        #expect(successes(output) == [1: -1, 2: -1])
        #expect(machine.isIdle)
    }

    @Test func flushMakesLingeringBatchesReady() throws {
        var machine = makeMachine { $0.linger = .seconds(5) }
        machine.add(1...1, to: tp(0), leader: 1)
        #expect(machine.expectWait(1) == .some(t0 + .seconds(5)))
        let (done, output) = machine.beginFlush(waiterID: 9)
        #expect(!done)
        #expect(output.wake == [ProducerSinkID(broker: 1)])
        let plan = try machine.expectSend(1)
        let completed = machine.requestCompleted(plan.requestID, result: .response([.init(tp(0), baseOffset: 0)]), now: t0)
        #expect(completed.resumedFlushWaiters == [9])
    }

    @Test func responsesAreAppliedInSendOrder() throws {
        // One record fills a batch: full batches pipeline (open linger-0 ones would wait for the answer).
        var machine = makeMachine {
            $0.maxInFlightRequests = 3
            $0.batchSizeBytes = ProducerBatch<Int>.overheadBytes + 10
        }
        machine.add(1...1, to: tp(0), leader: 1)
        let first = try machine.expectSend(1)
        machine.add(2...2, to: tp(0), leader: 1)
        let second = try machine.expectSend(1)
        let early = machine.requestCompleted(second.requestID, result: .response([.init(tp(0), baseOffset: 11)]), now: t0)
        #expect(early.completions.isEmpty)
        let late = machine.requestCompleted(first.requestID, result: .response([.init(tp(0), baseOffset: 10)]), now: t0)
        #expect(late.recordResults.map(\.entry) == [1, 2])
        #expect(successes(late) == [1: 10, 2: 11])
    }

    /// The append remembers partitions' and the sink's slots; responses remove and reinsert partitions and
    /// new partitions grow the tables, after which every record must still land in its own partition.
    @Test func appendsLandInTheirPartitionAfterTheTablesChange() throws {
        var machine = makeMachine()
        machine.add(1...3, to: tp(0), leader: 1)
        let first = try machine.expectSend(1)
        machine.add(4...5, to: tp(0), leader: 1)  // while the first request is in flight
        _ = machine.requestCompleted(first.requestID, result: .response([.init(tp(0), baseOffset: 0)]), now: t0)
        var expected: [ProducerTopicPartition: [Int]] = [tp(0): [4, 5]]
        var id = 6
        for round in 0..<3 {
            // New partitions (here and on another broker) grow the partition and sink tables.
            for partition in Int32(1 + round * 40)...Int32(40 + round * 40) {
                machine.add(id...id, to: tp(partition), leader: partition % 2 == 0 ? 1 : 2)
                expected[tp(partition), default: []].append(id)
                id += 1
                machine.add(id...id, to: tp(0), leader: 1)
                expected[tp(0), default: []].append(id)
                id += 1
                // Another topic with the same partition numbers (slots are remembered by partition number).
                machine.add(id...id, to: tp(partition % 3, "u"), leader: 1)
                expected[tp(partition % 3, "u"), default: []].append(id)
                id += 1
            }
        }
        var sent: [ProducerTopicPartition: [Int]] = [:]
        for broker: Int32 in [1, 2] {
            let plan = try machine.expectSend(broker)
            for batch in plan.batches { sent[batch.topicPartition, default: []] += batch.records.map(\.entry) }
        }
        #expect(sent == expected)
    }

    /// Delivered batches' emptied record arrays are kept (bounded) and the next new batch fills one of them.
    @Test func newBatchesReuseRecycledRecordArrays() throws {
        var machine = makeMachine()
        func array(capacity: Int, records: Int = 0) -> [ProducerPendingRecord<Int>] {
            var array: [ProducerPendingRecord<Int>] = []
            array.reserveCapacity(capacity)
            for id in 0..<records { array.append(ProducerPendingRecord(entry: id, estimatedSize: 10)) }
            return array
        }
        var arrays = [array(capacity: 4), array(capacity: 200), array(capacity: 100, records: 1)]
        machine.recycleRecordArrays(&arrays)
        // Only the empty one large enough is taken.
        #expect(machine.spareRecordArrays.count == 1 && arrays[1].capacity == 0)
        #expect(machine.spareRecordArrays.first.map(\.capacity) ?? 0 >= 200)
        #expect(arrays[0].capacity >= 4 && arrays[2].count == 1)
        let spareCapacity = machine.spareRecordArrays[0].capacity

        machine.add(1...3, to: tp(0), leader: 1)
        #expect(machine.spareRecordArrays.isEmpty)
        let plan = try machine.expectSend(1)
        #expect(plan.batches[0].records.map(\.entry) == [1, 2, 3])
        #expect(plan.batches[0].records.capacity == spareCapacity)

        // Bounds: at most 16 arrays, and at most one batch size (at least 1 MiB) of capacity.
        var many = (0..<20).map { _ in array(capacity: 100) }
        machine.recycleRecordArrays(&many)
        #expect(machine.spareRecordArrays.count == Machine.maxSpareRecordArrays)
        var other = makeMachine { $0.batchSizeBytes = 2 << 20 }
        #expect(other.maxSpareRecordBytes == 2 << 20)
        let stride = MemoryLayout<ProducerPendingRecord<Int>>.stride
        var large = (0..<3).map { _ in array(capacity: other.maxSpareRecordBytes * 2 / 5 / stride) }
        other.recycleRecordArrays(&large)
        #expect(other.spareRecordArrays.count == 2)
        #expect(makeMachine { $0.batchSizeBytes = 16_384 }.maxSpareRecordBytes == 1 << 20)
    }
}

@Suite("Producer engine: errors and retries")
struct ProducerRetryTests {
    @Test func nonRetriableErrorsFailOnlyTheAffectedPartition() throws {
        var machine = makeMachine()
        machine.add(1...2, to: tp(0), leader: 1)
        machine.add(3...4, to: tp(1), leader: 1)
        let plan = try machine.expectSend(1)
        let output = machine.requestCompleted(plan.requestID, result: .response([
            .init(tp(0), errorCode: 29, errorMessage: "not allowed"),  // TOPIC_AUTHORIZATION_FAILED
            .init(tp(1), baseOffset: 7),
        ]), now: t0)
        #expect(failures(output) == [1: .broker(code: 29, message: "not allowed"), 2: .broker(code: 29, message: "not allowed")])
        #expect(successes(output) == [3: 7, 4: 8])
        #expect(machine.isIdle)
        #expect(machine.bufferedBytes == 0)
    }

    /// MESSAGE_TOO_LARGE (RECORD_LIST_TOO_LARGE) for a batch of several records: the topic's max.message.bytes
    /// is below the batch. It is split in halves that go out in order, again while a half is refused, down to
    /// single records; a single record too large fails with the code, alone.
    @Test(arguments: [ProducerErrorCodes.messageTooLarge, ProducerErrorCodes.recordListTooLarge])
    func aBatchTooLargeForTheTopicIsSplit(code: Int16) throws {
        var machine = makeMachine()
        machine.add(1...5, to: tp(0), leader: 1)
        let whole = try machine.expectSend(1)
        #expect(whole.ids(tp(0)) == [1, 2, 3, 4, 5])
        var output = machine.requestCompleted(whole.requestID, result: .response([.init(tp(0), errorCode: code)]), now: t0)
        #expect(output.completions.isEmpty)
        let firstHalf = try machine.expectSend(1)
        #expect(firstHalf.ids(tp(0)) == [1, 2])
        output = machine.requestCompleted(firstHalf.requestID, result: .response([.init(tp(0), errorCode: code)]), now: t0)
        #expect(output.completions.isEmpty)
        var offsets: [Int: Int64] = [:]
        var nextOffset: Int64 = 0
        for expected in [[1], [2], [3, 4, 5]] {
            let plan = try machine.expectSend(1)
            #expect(plan.ids(tp(0)) == expected)
            if expected == [1] {
                // One record the topic refuses: it fails alone.
                output = machine.requestCompleted(plan.requestID, result: .response([.init(tp(0), errorCode: code)]), now: t0)
                #expect(failures(output) == [1: .broker(code: code, message: nil)])
                continue
            }
            output = machine.requestCompleted(plan.requestID, result: .response([.init(tp(0), baseOffset: nextOffset)]), now: t0)
            offsets.merge(successes(output)) { $1 }
            nextOffset += Int64(expected.count)
        }
        #expect(offsets == [2: 0, 3: 1, 4: 2, 5: 3])
        #expect(machine.isIdle && machine.bufferedBytes == 0)
    }

    /// With idempotence the halves get the batch's sequences, in order, and the partition's sequence goes on.
    @Test func aSplitIdempotentBatchKeepsItsSequences() throws {
        var machine = makeMachine { $0.idempotent = true }
        _ = machine.producerIDReceived(id: 7, epoch: 0)
        machine.add(1...4, to: tp(0), leader: 1)
        let whole = try machine.expectSend(1)
        #expect(whole.batch(tp(0))?.baseSequence == 0)
        _ = machine.requestCompleted(whole.requestID, result: .response([.init(tp(0), errorCode: ProducerErrorCodes.messageTooLarge)]), now: t0)
        let first = try machine.expectSend(1)
        #expect(first.ids(tp(0)) == [1, 2] && first.batch(tp(0))?.baseSequence == 0)
        _ = machine.requestCompleted(first.requestID, result: .response([.init(tp(0), baseOffset: 10)]), now: t0)
        let second = try machine.expectSend(1)
        #expect(second.ids(tp(0)) == [3, 4] && second.batch(tp(0))?.baseSequence == 2)
        let done = machine.requestCompleted(second.requestID, result: .response([.init(tp(0), baseOffset: 12)]), now: t0)
        #expect(successes(done) == [3: 12, 4: 13])
        machine.add(5...5, to: tp(0), leader: 1)
        #expect(try machine.expectSend(1).batch(tp(0))?.baseSequence == 4)
    }

    /// Few answers are searched in place and many through a dictionary: both must match each answer to its
    /// own partition (by topic and number, in any order) and treat a partition left out as unanswered.
    @Test(arguments: [3, 12])
    func eachPartitionGetsItsOwnAnswer(partitionsPerTopic: Int) throws {
        var machine = makeMachine()
        let partitions = ["a", "b"].flatMap { topic in (0..<Int32(partitionsPerTopic)).map { tp($0, topic) } }
        for (index, topicPartition) in partitions.enumerated() { machine.add(index...index, to: topicPartition, leader: 1) }
        let plan = try machine.expectSend(1)
        #expect(plan.batches.count == partitions.count)
        // Every partition but the last is answered, in reverse order, each with an offset of its own.
        let answers = partitions.enumerated().dropLast().reversed().map { index, topicPartition in
            ProducePartitionResult(topicPartition, baseOffset: Int64(100 + index))
        }
        let output = machine.requestCompleted(plan.requestID, result: .response(Array(answers)), now: t0)
        let expected = Dictionary(uniqueKeysWithValues: (0..<partitions.count - 1).map { ($0, Int64(100 + $0)) })
        #expect(successes(output) == expected)
        #expect(failures(output).isEmpty)
        // The unanswered partition's record is retried, not completed.
        let retry = try machine.expectSend(1, now: t0 + ms(100))
        #expect(retry.batches.map(\.topicPartition) == [partitions.last!])
    }

    @Test func retriesGoToTheNewLeaderAfterBackoff() throws {
        var machine = makeMachine()
        machine.add(1...2, to: tp(0), leader: 1)
        let plan = try machine.expectSend(1)
        let output = machine.requestCompleted(plan.requestID, result: .response([
            .init(tp(0), errorCode: ProducerErrorCodes.notLeaderOrFollower),
        ]), now: t0)
        #expect(output.completions.isEmpty)
        #expect(output.refreshMetadata)
        let moved = machine.updateLeaders([(tp(0), Int32?(2))])
        #expect(moved.wake == [ProducerSinkID(broker: 2)])
        #expect(machine.expectWait(1) == .some(nil))
        #expect(machine.expectWait(2) == .some(t0 + ms(100)))
        let retried = try machine.expectSend(2, now: t0 + ms(100))
        #expect(retried.ids(tp(0)) == [1, 2])
        #expect(retried.batch(tp(0))?.attempt == 2)
    }

    @Test func transportFailuresAreRetriedUntilTheDeliveryTimeout() throws {
        var machine = makeMachine { $0.deliveryTimeout = ms(250) }
        machine.add(1...1, to: tp(0), leader: 1)
        var now = t0
        var plan = try machine.expectSend(1, now: now)
        var output = machine.requestCompleted(plan.requestID, result: .transportFailure(message: "reset"), now: now)
        #expect(output.completions.isEmpty)
        now = now + ms(100)
        plan = try machine.expectSend(1, now: now)
        output = machine.requestCompleted(plan.requestID, result: .response([
            .init(tp(0), errorCode: ProducerErrorCodes.notEnoughReplicasAfterAppend),
        ]), now: now)
        #expect(output.completions.isEmpty)
        now = now + ms(100)
        plan = try machine.expectSend(1, now: now)
        output = machine.requestCompleted(plan.requestID, result: .response([
            .init(tp(0), errorCode: ProducerErrorCodes.leaderNotAvailable),
        ]), now: now)
        // The first attempt's answer never came: the later refusals do not prove it was not appended.
        #expect(failures(output) == [1: .deliveryTimeout(lastErrorCode: 5, mayHaveBeenWritten: true)])
    }

    @Test func recordsWithoutALeaderExpire() throws {
        var machine = makeMachine { $0.deliveryTimeout = ms(500) }
        let appended = machine.add(1...1, to: tp(0), leader: nil)
        #expect(appended == [.appendedWithoutLeader])
        #expect(machine.partitionsWithoutLeader == [tp(0)])
        #expect(machine.expireBatches(now: t0 + ms(499)).completions.isEmpty)
        let output = machine.expireBatches(now: t0 + ms(500))
        #expect(failures(output) == [1: .deliveryTimeout(lastErrorCode: nil, mayHaveBeenWritten: false)])
    }

    @Test func recordErrorsFailTheNamedRecordsAndRetryTheOthers() throws {
        var machine = makeMachine { $0.idempotent = true }
        _ = machine.producerIDReceived(id: 7, epoch: 0)
        machine.add(1...3, to: tp(0), leader: 1)
        let plan = try machine.expectSend(1)
        #expect(plan.batch(tp(0))?.baseSequence == 0)
        let output = machine.requestCompleted(plan.requestID, result: .response([
            .init(tp(0), errorCode: ProducerErrorCodes.invalidRecord,
                  recordErrors: [.init(batchIndex: 1, message: "bad key")], errorMessage: "one bad record"),
        ]), now: t0)
        #expect(failures(output) == [2: .recordRejected(code: 87, message: "bad key")])
        let retried = try machine.expectSend(1)
        #expect(retried.ids(tp(0)) == [1, 3])
        #expect(retried.batch(tp(0))?.baseSequence == 0)
        let done = machine.requestCompleted(retried.requestID, result: .response([.init(tp(0), baseOffset: 100)]), now: t0)
        #expect(successes(done) == [1: 100, 3: 101])
        machine.add(4...4, to: tp(0), leader: 1)
        #expect(try machine.expectSend(1).batch(tp(0))?.baseSequence == 2)
    }

    /// Record errors that name no record of the batch drop nothing: the batch fails with the code instead of
    /// being re-sent as it was, again and again.
    @Test func recordErrorsNamingNoRecordFailTheBatch() throws {
        var machine = makeMachine()
        machine.add(1...2, to: tp(0), leader: 1)
        let plan = try machine.expectSend(1)
        let output = machine.requestCompleted(plan.requestID, result: .response([
            .init(tp(0), errorCode: ProducerErrorCodes.invalidRecord,
                  recordErrors: [.init(batchIndex: 5, message: "?"), .init(batchIndex: -1, message: "?")], errorMessage: "bad"),
        ]), now: t0)
        #expect(failures(output) == [1: .broker(code: 87, message: "bad"), 2: .broker(code: 87, message: "bad")])
        if case .send = machine.nextAction(for: ProducerSinkID(broker: 1), now: t0 + ms(1000)) {
            Issue.record("the batch was sent again")
        }
    }
}

@Suite("Producer engine: idempotence")
struct ProducerIdempotenceTests {
    /// Record 1 goes out, its answer never comes (the connection is cut), and its retry 100 ms later gets
    /// `answer`; returns what that answer produced.
    private func sendUnansweredThen(
        _ answer: ProduceRequestResult, _ machine: inout Machine
    ) throws -> ProducerStateMachineOutput<Int> {
        machine.add(1...1, to: tp(0), leader: 1)
        let first = try machine.expectSend(1)
        _ = machine.requestCompleted(first.requestID, result: .transportFailure(message: "reset"), now: t0)
        let retry = try machine.expectSend(1, now: t0 + ms(100))
        return machine.requestCompleted(retry.requestID, result: answer, now: t0 + ms(100))
    }

    private func idempotentMachine(_ configure: (inout Machine.Configuration) -> Void = { _ in }) -> Machine {
        var machine = makeMachine {
            $0.idempotent = true
            $0.maxInFlightRequests = 5
            configure(&$0)
        }
        _ = machine.producerIDReceived(id: 42, epoch: 3)
        return machine
    }

    /// One record fills a batch, so batches pipeline up to 5 in flight (open linger-0 batches would wait
    /// for the sink's answer instead).
    private func pipeliningMachine(_ configure: (inout Machine.Configuration) -> Void = { _ in }) -> Machine {
        idempotentMachine {
            $0.batchSizeBytes = ProducerBatch<Int>.overheadBytes + 10
            configure(&$0)
        }
    }

    /// A batch split while a later batch of its partition is in flight: the halves keep the original's sequence
    /// range, so the later batch stays valid (the broker's OUT_OF_ORDER for it, sent before the halves, is
    /// retried, not a reset), and no new producer epoch is needed.
    @Test func aSplitBatchKeepsItsRangeWhileLaterBatchesAreInFlight() throws {
        // Batches of 4 records (full, so the second goes out while the first is in flight).
        var machine = idempotentMachine { $0.batchSizeBytes = ProducerBatch<Int>.overheadBytes + 40 }
        machine.add(1...4, to: tp(0), leader: 1)
        let big = try machine.expectSend(1)
        #expect(big.batch(tp(0))?.baseSequence == 0)
        machine.add(5...8, to: tp(0), leader: 1)
        let later = try machine.expectSend(1)
        #expect(later.ids(tp(0)) == [5, 6, 7, 8] && later.batch(tp(0))?.baseSequence == 4)
        var output = machine.requestCompleted(big.requestID, result: .response([.init(tp(0), errorCode: ProducerErrorCodes.messageTooLarge)]), now: t0)
        #expect(output.completions.isEmpty)
        output = machine.requestCompleted(later.requestID, result: .response([.init(tp(0), errorCode: ProducerErrorCodes.outOfOrderSequenceNumber)]), now: t0)
        #expect(output.completions.isEmpty)
        #expect(machine.producerIDRequest == nil, "a split must not need a new epoch")
        var sent: [([Int], Int32?)] = []
        var offset: Int64 = 0
        while sent.count < 3 {
            let plan = try machine.expectSend(1, now: t0 + ms(2000))
            sent.append((plan.ids(tp(0)), plan.batch(tp(0))?.baseSequence))
            #expect(plan.batch(tp(0))?.producerEpoch == 3)
            _ = machine.requestCompleted(plan.requestID, result: .response([.init(tp(0), baseOffset: offset)]), now: t0 + ms(2000))
            offset += Int64(plan.ids(tp(0)).count)
        }
        #expect(sent.map(\.0) == [[1, 2], [3, 4], [5, 6, 7, 8]])
        #expect(sent.map(\.1) == [0, 2, 4])
    }

    /// A batch whose earlier attempt may be in the log (it went unanswered) is not split when refused as too
    /// large: its halves could duplicate what the earlier attempt wrote. It fails, its outcome unknown.
    @Test func aBatchThatMayBeInTheLogIsNotSplit() throws {
        var machine = idempotentMachine()
        machine.add(1...4, to: tp(0), leader: 1)
        let first = try machine.expectSend(1)
        _ = machine.requestCompleted(first.requestID, result: .transportFailure(message: "reset"), now: t0)
        let retry = try machine.expectSend(1, now: t0 + ms(100))
        let output = machine.requestCompleted(retry.requestID, result: .response([.init(tp(0), errorCode: ProducerErrorCodes.messageTooLarge)]), now: t0 + ms(100))
        #expect(failures(output) == [1: .outcomeUnknown, 2: .outcomeUnknown, 3: .outcomeUnknown, 4: .outcomeUnknown])
    }

    @Test func sinksWaitForTheProducerID() throws {
        var machine = makeMachine { $0.idempotent = true }
        machine.add(1...1, to: tp(0), leader: 1)
        #expect(machine.expectWait(1) == .some(nil))
        let output = machine.producerIDReceived(id: 1, epoch: 0)
        #expect(output.wake == [ProducerSinkID(broker: 1)])
        let plan = try machine.expectSend(1)
        #expect(plan.batch(tp(0))?.producerID == 1)
    }

    @Test func sequencesAdvancePerPartition() throws {
        var machine = idempotentMachine { $0.batchSizeBytes = ProducerBatch<Int>.overheadBytes + 30 }
        machine.add(1...3, to: tp(0), leader: 1)
        machine.add(4...4, to: tp(1), leader: 1)
        let first = try machine.expectSend(1)
        #expect(first.batch(tp(0))?.baseSequence == 0)
        #expect(first.batch(tp(0))?.producerID == 42)
        #expect(first.batch(tp(0))?.producerEpoch == 3)
        #expect(first.batch(tp(1))?.baseSequence == 0)
        machine.add(5...6, to: tp(0), leader: 1, size: 15)  // fills its batch: pipelined behind the first
        let second = try machine.expectSend(1)
        #expect(second.batch(tp(0))?.baseSequence == 3)
        #expect(second.batch(tp(1)) == nil)
    }

    @Test func inFlightIsCappedAtFive() {
        let machine = makeMachine {
            $0.idempotent = true
            $0.maxInFlightRequests = 9
        }
        #expect(machine.configuration.maxInFlightRequests == 5)
    }

    @Test func sequenceArithmeticWraps() {
        #expect(Machine.incrementSequence(Int32.max - 1, by: 3) == 1)
        #expect(Machine.incrementSequence(5, by: 3) == 8)
    }

    @Test func duplicateSequenceNumberIsSuccess() throws {
        var machine = idempotentMachine()
        machine.add(1...2, to: tp(0), leader: 1)
        let plan = try machine.expectSend(1)
        let output = machine.requestCompleted(plan.requestID, result: .response([
            .init(tp(0), errorCode: ProducerErrorCodes.duplicateSequenceNumber, baseOffset: -1),
        ]), now: t0)
        #expect(successes(output) == [1: -1, 2: -1])
    }

    @Test func retriedBatchesKeepTheirSequencesAndOrder() throws {
        var machine = pipeliningMachine()
        machine.add(1...1, to: tp(0), leader: 1)
        let first = try machine.expectSend(1)
        machine.add(2...2, to: tp(0), leader: 1)
        let second = try machine.expectSend(1)
        #expect(second.batch(tp(0))?.baseSequence == 1)
        _ = machine.requestCompleted(first.requestID, result: .response([.init(tp(0), errorCode: ProducerErrorCodes.notLeaderOrFollower)]), now: t0)
        // The retry of batch 1 waits until batch 2 is answered, so the broker sees them in order.
        #expect(machine.expectWait(1, now: t0 + ms(100)) == .some(nil))
        let output = machine.requestCompleted(second.requestID, result: .response([
            .init(tp(0), errorCode: ProducerErrorCodes.outOfOrderSequenceNumber),
        ]), now: t0)
        #expect(output.completions.isEmpty)
        let retryFirst = try machine.expectSend(1, now: t0 + ms(100))
        #expect(retryFirst.ids(tp(0)) == [1])
        #expect(retryFirst.batch(tp(0))?.baseSequence == 0)
        #expect(machine.expectWait(1, now: t0 + ms(100)) == .some(nil))
        _ = machine.requestCompleted(retryFirst.requestID, result: .response([.init(tp(0), baseOffset: 5)]), now: t0 + ms(100))
        let retrySecond = try machine.expectSend(1, now: t0 + ms(100))
        #expect(retrySecond.ids(tp(0)) == [2])
        #expect(retrySecond.batch(tp(0))?.baseSequence == 1)
        #expect(retrySecond.batch(tp(0))?.producerEpoch == 3)
    }

    @Test func outOfOrderOnTheOldestBatchBumpsTheEpochThroughTheBrokerAndRestartsSequences() throws {
        var machine = idempotentMachine()
        machine.add(1...2, to: tp(0), leader: 1)
        let first = try machine.expectSend(1)
        _ = machine.requestCompleted(first.requestID, result: .response([.init(tp(0), baseOffset: 0)]), now: t0)
        machine.add(3...4, to: tp(0), leader: 1)
        let second = try machine.expectSend(1)
        #expect(second.batch(tp(0))?.baseSequence == 2)
        let output = machine.requestCompleted(second.requestID, result: .response([
            .init(tp(0), errorCode: ProducerErrorCodes.outOfOrderSequenceNumber),
        ]), now: t0)
        #expect(output.completions.isEmpty)
        // No local bump: the partition waits for the broker to grant a new epoch.
        #expect(output.needsProducerID)
        #expect(machine.producerIDRequest == .bump(id: 42, epoch: 3))
        #expect(machine.expectWait(1, now: t0 + ms(100)) == .some(nil))
        let granted = machine.grantBump()
        #expect(granted.wake == [ProducerSinkID(broker: 1)])
        #expect(machine.producerIDRequest == nil)
        let retry = try machine.expectSend(1, now: t0 + ms(100))
        #expect(retry.ids(tp(0)) == [3, 4])
        #expect(retry.batch(tp(0))?.producerID == 42)
        #expect(retry.batch(tp(0))?.producerEpoch == 4)
        #expect(retry.batch(tp(0))?.baseSequence == 0)
        // A second OUT_OF_ORDER on the same batch after a reset fails it.
        let failed = machine.requestCompleted(retry.requestID, result: .response([
            .init(tp(0), errorCode: ProducerErrorCodes.outOfOrderSequenceNumber),
        ]), now: t0 + ms(100))
        #expect(failures(failed) == [3: .broker(code: 45, message: nil), 4: .broker(code: 45, message: nil)])
    }

    @Test func theBumpWaitsUntilNothingOfThePartitionIsInFlight() throws {
        var machine = pipeliningMachine()
        machine.add(1...1, to: tp(0), leader: 1)
        let first = try machine.expectSend(1)
        machine.add(2...2, to: tp(0), leader: 1)
        let second = try machine.expectSend(1)
        machine.add(3...3, to: tp(1), leader: 1)
        var output = machine.requestCompleted(first.requestID, result: .response([
            .init(tp(0), errorCode: ProducerErrorCodes.outOfOrderSequenceNumber),
        ]), now: t0)
        // Batch 2 is still out: neither a bump request nor a resend yet; other partitions carry on.
        #expect(!output.needsProducerID)
        #expect(machine.producerIDRequest == nil)
        let other = try machine.expectSend(1, now: t0 + ms(100))
        #expect(other.ids(tp(0)).isEmpty)
        #expect(other.ids(tp(1)) == [3])
        #expect(other.batch(tp(1))?.producerEpoch == 3)
        _ = machine.requestCompleted(other.requestID, result: .response([.init(tp(1), baseOffset: 0)]), now: t0 + ms(100))
        output = machine.requestCompleted(second.requestID, result: .response([
            .init(tp(0), errorCode: ProducerErrorCodes.outOfOrderSequenceNumber),
        ]), now: t0)
        #expect(output.needsProducerID)
        machine.grantBump()
        let resent = try machine.expectSend(1, now: t0 + ms(100))
        #expect(resent.ids(tp(0)) == [1])
        #expect(resent.batch(tp(0))?.baseSequence == 0)
        #expect(resent.batch(tp(0))?.producerEpoch == 4)
        _ = machine.requestCompleted(resent.requestID, result: .response([.init(tp(0), baseOffset: 0)]), now: t0 + ms(100))
        let next = try machine.expectSend(1, now: t0 + ms(100))
        #expect(next.ids(tp(0)) == [2])
        #expect(next.batch(tp(0))?.baseSequence == 1)
        // Partition 1 keeps the identity its sequences were issued under.
        machine.add(4...4, to: tp(1), leader: 1)
        _ = machine.requestCompleted(next.requestID, result: .response([.init(tp(0), baseOffset: 1)]), now: t0 + ms(100))
        let later = try machine.expectSend(1, now: t0 + ms(100))
        #expect(later.batch(tp(1))?.producerEpoch == 3)
        #expect(later.batch(tp(1))?.baseSequence == 1)
    }

    /// A first InitProducerId refused for good fails the records waiting for it with the broker's code (not a
    /// code-less delivery timeout); a retriable failure leaves them waiting; later records ask again.
    @Test func aRefusedFirstProducerIDFailsTheWaitingRecordsWithItsCode() throws {
        var machine = makeMachine {
            $0.idempotent = true
            $0.maxInFlightRequests = 5
        }
        machine.add(1...1, to: tp(0), leader: 1)
        machine.add(2...2, to: tp(1), leader: 2)
        #expect(machine.producerIDRequestFailed(errorCode: 15).completions.isEmpty)  // COORDINATOR_NOT_AVAILABLE
        let output = machine.producerIDRequestFailed(errorCode: 31, message: "not authorized")  // CLUSTER_AUTHORIZATION_FAILED
        #expect(failures(output) == [1: .broker(code: 31, message: "not authorized"), 2: .broker(code: 31, message: "not authorized")])
        #expect(machine.bufferedRecords == 0)
        #expect(machine.producerIDRequest == .fresh)
        machine.add(3...3, to: tp(0), leader: 1)
        _ = machine.producerIDReceived(id: 42, epoch: 0)
        let plan = try machine.expectSend(1)
        #expect(plan.ids(tp(0)) == [3])
    }

    @Test func aRefusedBumpAsksForAFreshProducerID() throws {
        var machine = idempotentMachine()
        machine.add(1...1, to: tp(0), leader: 1)
        let plan = try machine.expectSend(1)
        _ = machine.requestCompleted(plan.requestID, result: .response([.init(tp(0), errorCode: ProducerErrorCodes.unknownProducerID)]), now: t0)
        #expect(machine.producerIDRequest == .bump(id: 42, epoch: 3))
        // A retriable failure keeps asking for the bump; a refusal asks for a new producer id.
        _ = machine.producerIDRequestFailed(errorCode: nil)
        #expect(machine.producerIDRequest == .bump(id: 42, epoch: 3))
        _ = machine.producerIDRequestFailed(errorCode: ProducerErrorCodes.invalidProducerEpoch)
        #expect(machine.producerIDRequest == .fresh)
        _ = machine.producerIDReceived(id: 77, epoch: 0)
        let resent = try machine.expectSend(1, now: t0 + ms(100))
        #expect(resent.batch(tp(0))?.producerID == 77)
        #expect(resent.batch(tp(0))?.producerEpoch == 0)
        #expect(resent.batch(tp(0))?.baseSequence == 0)
    }

    @Test func aBumpAnsweredWithTheOldIdentityAsksForAFreshProducerID() throws {
        var machine = idempotentMachine()
        machine.add(1...1, to: tp(0), leader: 1)
        let plan = try machine.expectSend(1)
        _ = machine.requestCompleted(plan.requestID, result: .response([.init(tp(0), errorCode: ProducerErrorCodes.unknownProducerID)]), now: t0)
        let output = machine.producerIDReceived(id: 42, epoch: 3)
        #expect(output.needsProducerID)
        #expect(machine.producerIDRequest == .fresh)
        #expect(machine.expectWait(1, now: t0 + ms(100)) == .some(nil))
    }

    @Test func anExhaustedEpochAsksForAFreshProducerID() throws {
        var machine = makeMachine { $0.idempotent = true }
        _ = machine.producerIDReceived(id: 5, epoch: .max)
        machine.add(1...1, to: tp(0), leader: 1)
        let plan = try machine.expectSend(1)
        _ = machine.requestCompleted(plan.requestID, result: .response([.init(tp(0), errorCode: ProducerErrorCodes.unknownProducerID)]), now: t0)
        #expect(machine.producerIDRequest == .fresh)
    }

    @Test func unknownProducerIDResetsThePartition() throws {
        var machine = idempotentMachine()
        machine.add(1...1, to: tp(0), leader: 1)
        let plan = try machine.expectSend(1)
        _ = machine.requestCompleted(plan.requestID, result: .response([.init(tp(0), errorCode: ProducerErrorCodes.unknownProducerID)]), now: t0)
        machine.grantBump()
        let retry = try machine.expectSend(1, now: t0 + ms(100))
        #expect(retry.batch(tp(0))?.producerEpoch == 4)
        #expect(retry.batch(tp(0))?.baseSequence == 0)
    }

    @Test func aDiscardedBatchWithLaterBatchesSentResetsOnceNothingIsInFlight() throws {
        var machine = pipeliningMachine()
        machine.add(1...1, to: tp(0), leader: 1)
        let first = try machine.expectSend(1)
        machine.add(2...2, to: tp(0), leader: 1)
        let second = try machine.expectSend(1)
        machine.add(3...3, to: tp(0), leader: 1)
        var output = machine.requestCompleted(first.requestID, result: .response([
            .init(tp(0), errorCode: ProducerErrorCodes.messageTooLarge),
        ]), now: t0)
        #expect(failures(output) == [1: .broker(code: 10, message: nil)])
        // Batch 2 is still in flight: no reset yet, nothing of the partition may go out.
        #expect(machine.expectWait(1) == .some(nil))
        output = machine.requestCompleted(second.requestID, result: .response([
            .init(tp(0), errorCode: ProducerErrorCodes.outOfOrderSequenceNumber),
        ]), now: t0)
        #expect(output.completions.isEmpty)
        machine.grantBump()
        let retry = try machine.expectSend(1, now: t0 + ms(100))
        #expect(retry.ids(tp(0)) == [2])
        #expect(retry.batch(tp(0))?.producerEpoch == 4)
        #expect(retry.batch(tp(0))?.baseSequence == 0)
        _ = machine.requestCompleted(retry.requestID, result: .response([.init(tp(0), baseOffset: 0)]), now: t0 + ms(100))
        let next = try machine.expectSend(1, now: t0 + ms(100))
        #expect(next.ids(tp(0)) == [3])
        #expect(next.batch(tp(0))?.baseSequence == 1)
    }

    @Test func aLoneDiscardedBatchGivesItsSequencesBack() throws {
        var machine = idempotentMachine()
        machine.add(1...2, to: tp(0), leader: 1)
        let first = try machine.expectSend(1)
        _ = machine.requestCompleted(first.requestID, result: .response([.init(tp(0), errorCode: 29)]), now: t0)
        machine.add(3...3, to: tp(0), leader: 1)
        let next = try machine.expectSend(1)
        #expect(next.batch(tp(0))?.baseSequence == 0)
        #expect(next.batch(tp(0))?.producerEpoch == 3)
    }

    @Test func aResetNeverResendsABatchThatMayBeInTheLog() throws {
        var machine = pipeliningMachine { $0.deliveryTimeout = ms(150) }
        machine.add(1...1, to: tp(0), leader: 1)
        let first = try machine.expectSend(1)
        machine.add(2...2, to: tp(0), leader: 1)
        let second = try machine.expectSend(1)
        machine.add(3...3, to: tp(0), leader: 1, now: t0 + ms(100))
        _ = machine.requestCompleted(first.requestID, result: .transportFailure(message: "gone"), now: t0)
        _ = machine.requestCompleted(second.requestID, result: .transportFailure(message: "gone"), now: t0)
        // Both outcomes unknown; the delivery timeout passes before the retry.
        let output = machine.expireBatches(now: t0 + ms(150))
        #expect(failures(output) == [
            1: .deliveryTimeout(lastErrorCode: nil, mayHaveBeenWritten: true),
            2: .deliveryTimeout(lastErrorCode: nil, mayHaveBeenWritten: true),
        ])
        machine.grantBump()
        let next = try machine.expectSend(1, now: t0 + ms(150))
        #expect(next.ids(tp(0)) == [3])
        #expect(next.batch(tp(0))?.producerEpoch == 4)
        #expect(next.batch(tp(0))?.baseSequence == 0)
    }

    @Test func unknownOutcomeBatchesBehindAResetFail() throws {
        var machine = pipeliningMachine()
        machine.add(1...1, to: tp(0), leader: 1)
        let first = try machine.expectSend(1)
        machine.add(2...2, to: tp(0), leader: 1)
        let second = try machine.expectSend(1)
        _ = machine.requestCompleted(first.requestID, result: .transportFailure(message: "gone"), now: t0)
        _ = machine.requestCompleted(second.requestID, result: .transportFailure(message: "gone"), now: t0)
        let retry = try machine.expectSend(1, now: t0 + ms(100))
        #expect(retry.ids(tp(0)) == [1])
        // Batch 1 turns out to be in the log; the broker then lost our producer state for batch 2's retry.
        _ = machine.requestCompleted(retry.requestID, result: .response([.init(tp(0), baseOffset: 9)]), now: t0 + ms(100))
        let retry2 = try machine.expectSend(1, now: t0 + ms(100))
        #expect(retry2.ids(tp(0)) == [2])
        let output = machine.requestCompleted(retry2.requestID, result: .response([
            .init(tp(0), errorCode: ProducerErrorCodes.unknownProducerID),
        ]), now: t0 + ms(100))
        #expect(output.completions.isEmpty)  // definitely rejected: re-sent under the new epoch
        machine.grantBump()
        let resent = try machine.expectSend(1, now: t0 + ms(200))
        #expect(resent.batch(tp(0))?.baseSequence == 0)
        #expect(resent.batch(tp(0))?.producerEpoch == 4)
    }

    /// A batch whose first attempt went unanswered may be in the log even when its later attempts were not
    /// sent or were refused before the sequence check. Timing out, it reports that, and its sequences are
    /// not given to the next batch: a batch of the same size would be taken for its duplicate and dropped,
    /// answered with the first one's offset. The partition moves to a new epoch instead.
    @Test(arguments: [false, true])
    func aBatchOnceUnansweredNeverGivesItsSequencesBack(refusedByLeader: Bool) throws {
        var machine = idempotentMachine { $0.deliveryTimeout = ms(250) }
        machine.add(1...1, to: tp(0), leader: 1)
        let first = try machine.expectSend(1)
        #expect(first.batch(tp(0))?.baseSequence == 0)
        _ = machine.requestCompleted(first.requestID, result: .transportFailure(message: "reset"), now: t0)
        let second = try machine.expectSend(1, now: t0 + ms(100))
        let laterAttempt: ProduceRequestResult = refusedByLeader
            ? .response([.init(tp(0), errorCode: ProducerErrorCodes.notLeaderOrFollower)])
            : .notSent(message: "connection closed before the request was written")
        _ = machine.requestCompleted(second.requestID, result: laterAttempt, now: t0 + ms(100))
        let third = try machine.expectSend(1, now: t0 + ms(200))
        let output = machine.requestCompleted(third.requestID, result: laterAttempt, now: t0 + ms(200))
        #expect(failures(output) == [
            1: .deliveryTimeout(lastErrorCode: refusedByLeader ? ProducerErrorCodes.notLeaderOrFollower : nil, mayHaveBeenWritten: true),
        ])
        machine.add(2...2, to: tp(0), leader: 1, now: t0 + ms(200))
        machine.grantBump()
        let next = try machine.expectSend(1, now: t0 + ms(300))
        #expect(next.ids(tp(0)) == [2])
        #expect(next.batch(tp(0))?.producerEpoch == 4, "sequence 0 of epoch 3 may be taken")
        #expect(next.batch(tp(0))?.baseSequence == 0)
    }

    /// The same when the delivery timeout passes while the batch waits for its retry (expiry, not an answer).
    @Test func anExpiredBatchOnceUnansweredNeverGivesItsSequencesBack() throws {
        var machine = idempotentMachine { $0.deliveryTimeout = ms(250) }
        _ = try sendUnansweredThen(.response([.init(tp(0), errorCode: 19)]), &machine)  // NOT_ENOUGH_REPLICAS
        let output = machine.expireBatches(now: t0 + ms(250))
        #expect(failures(output) == [1: .deliveryTimeout(lastErrorCode: 19, mayHaveBeenWritten: true)])
        machine.add(2...2, to: tp(0), leader: 1, now: t0 + ms(250))
        machine.grantBump()
        let next = try machine.expectSend(1, now: t0 + ms(250))
        #expect(next.batch(tp(0))?.producerEpoch == 4)
    }

    /// A batch once unanswered and then refused for good (an ACL changed in between) may still be in the log
    /// from the first attempt: it fails as outcome unknown, and its sequences are not reused.
    @Test func aBatchOnceUnansweredAndThenRefusedIsOfUnknownOutcome() throws {
        var machine = idempotentMachine()
        let output = try sendUnansweredThen(.response([.init(tp(0), errorCode: 29)]), &machine)  // TOPIC_AUTHORIZATION_FAILED
        #expect(failures(output) == [1: .outcomeUnknown])
        machine.add(2...2, to: tp(0), leader: 1, now: t0 + ms(100))
        machine.grantBump()
        let next = try machine.expectSend(1, now: t0 + ms(100))
        #expect(next.batch(tp(0))?.producerEpoch == 4)
    }

    /// An answer that shows the broker checked the batch's sequence and found it absent
    /// (OUT_OF_ORDER_SEQUENCE_NUMBER on the oldest batch) clears the doubt: the batch is re-sent under the
    /// new epoch, not failed.
    @Test func aSequenceRefusalProvesAnUnansweredBatchAbsent() throws {
        var machine = idempotentMachine()
        let output = try sendUnansweredThen(.response([.init(tp(0), errorCode: ProducerErrorCodes.outOfOrderSequenceNumber)]), &machine)
        #expect(output.completions.isEmpty)
        machine.grantBump()
        let resent = try machine.expectSend(1, now: t0 + ms(200))
        #expect(resent.ids(tp(0)) == [1])
        #expect(resent.batch(tp(0))?.producerEpoch == 4)
    }
}

@Suite("Producer engine: backpressure")
struct ProducerBackpressureTests {
    @Test func appendsPastTheBufferLimitWaitForSpace() throws {
        var machine = makeMachine { $0.maxBufferedBytes = 100 }
        machine.add(1...2, to: tp(0), leader: 1, size: 40)
        #expect(machine.append(3, size: 40, to: tp(0), leader: 1, now: t0) == .bufferFull)
        machine.registerBufferWaiter(id: 77, bytes: 40)
        // Later small appends queue behind the waiter.
        #expect(machine.append(4, size: 1, to: tp(0), leader: 1, now: t0) == .bufferFull)
        let plan = try machine.expectSend(1)
        let output = machine.requestCompleted(plan.requestID, result: .response([.init(tp(0), baseOffset: 0)]), now: t0)
        #expect(output.resumedBufferWaiters == [77])
        #expect(machine.bufferedBytes == 40)
        #expect(machine.append(3, size: 40, to: tp(0), leader: 1, now: t0, reserved: true) == .appended(wake: nil))
        #expect(machine.bufferedBytes == 40)
    }

    @Test func appendsPastTheRecordLimitWaitAndAreAdmittedAfterAnAcknowledgement() throws {
        // Bytes have room to spare: only the record count holds callers back.
        var machine = makeMachine { $0.maxBufferedRecords = 2 }
        machine.add(1...2, to: tp(0), leader: 1, size: 10)
        #expect(machine.append(3, size: 10, to: tp(0), leader: 1, now: t0) == .bufferFull)
        machine.registerBufferWaiter(id: 10, bytes: 10)
        #expect(machine.append(4, size: 10, to: tp(0), leader: 1, now: t0) == .bufferFull)
        machine.registerBufferWaiter(id: 11, bytes: 10)
        #expect(machine.append(5, size: 10, to: tp(0), leader: 1, now: t0) == .bufferFull)
        machine.registerBufferWaiter(id: 12, bytes: 10)
        let plan = try machine.expectSend(1)
        let output = machine.requestCompleted(plan.requestID, result: .response([.init(tp(0), baseOffset: 0)]), now: t0)
        // Two records were acknowledged: two waiters get a record each, the third keeps waiting.
        #expect(output.resumedBufferWaiters == [10, 11])
        #expect(machine.append(3, size: 10, to: tp(0), leader: 1, now: t0, reserved: true) == .appended(wake: nil))
        #expect(machine.bufferedRecords == 1)
        // A caller whose reservation is given back (cancelled) frees its record for the next waiter.
        let cancelled = machine.cancelBufferWaiter(id: 11, reservedBytes: 10)
        #expect(cancelled.resumedBufferWaiters == [12])
        #expect(machine.append(5, size: 10, to: tp(0), leader: 1, now: t0, reserved: true) == .appended(wake: nil))
        #expect(machine.bufferedRecords == 2)
        #expect(machine.append(6, size: 10, to: tp(0), leader: 1, now: t0) == .bufferFull)
    }

    @Test func aRecordLargerThanTheBufferPassesWhenTheBufferIsEmpty() {
        var machine = makeMachine { $0.maxBufferedBytes = 100 }
        #expect(machine.append(1, size: 500, to: tp(0), leader: 1, now: t0) != .bufferFull)
    }

    @Test func failAllCompletesEverythingAndReleasesWaiters() throws {
        var machine = makeMachine { $0.maxBufferedBytes = 50 }
        machine.add(1...1, to: tp(0), leader: 1, size: 40)
        _ = try machine.expectSend(1)
        machine.add(2...2, to: tp(1), leader: 2, size: 10)
        machine.registerBufferWaiter(id: 5, bytes: 30)
        let output = machine.failAll(with: .shutdown, shutDown: true)
        // Batch 1 is in flight: the broker may have it.
        #expect(failures(output) == [1: .outcomeUnknown, 2: .shutdown])
        #expect(output.resumedBufferWaiters == [5])
        #expect(machine.isIdle)
    }
}

@Suite("Producer engine: leader moves while in flight")
struct ProducerLeaderMoveTests {
    @Test func theNewSinkIsWokenWhenTheOldSinkAnswers() throws {
        var machine = makeMachine()
        machine.add(1...1, to: tp(0), leader: 1)
        let plan = try machine.expectSend(1)
        machine.add(9...9, to: tp(5), leader: 2)
        _ = try machine.expectSend(2)
        // Broker 2's sink parks while partition 0 is still in flight on broker 1.
        _ = machine.updateLeaders([(tp(0), Int32?(2))])
        #expect(machine.expectWait(2) == .some(nil))
        let output = machine.requestCompleted(plan.requestID, result: .response([
            .init(tp(0), errorCode: ProducerErrorCodes.notLeaderOrFollower),
        ]), now: t0)
        #expect(output.wake.contains(ProducerSinkID(broker: 2)))
        let retried = try machine.expectSend(2, now: t0 + ms(100))
        #expect(retried.ids(tp(0)) == [1])
    }
}

import Dispatch
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import Klife

/// A broker stand-in: answers every batch with contiguous offsets per partition and checks idempotent
/// sequences are contiguous too. It models KIP-360 as a broker does: an epoch is only valid once
/// InitProducerId granted it, and a newer epoch restarts the partition's sequences at 0.
private final class FakeProduceBackend: ProducerDriverBackend {
    typealias Entry = Int
    typealias PendingRequest = ProduceRequestResult
    /// Connection number: a refused connection attempt reaches none.
    typealias Link = Int

    struct State {
        var nextOffset: [ProducerTopicPartition: Int64] = [:]
        var nextSequence: [ProducerTopicPartition: Int32] = [:]
        var delivered: [Int: Result<ProducedRecordInfo, ProducerFailure>] = [:]
        var deliveredOrder: [ProducerTopicPartition: [Int]] = [:]
        var requests = 0
        var maxBatchesPerRequest = 0
        var sequenceErrors: [String] = []
        var producerIDCalls = 0
        var producerIDRequests: [ProducerIDRequest] = []
        var grantedEpoch: Int16 = -1
        var partitionEpoch: [ProducerTopicPartition: Int16] = [:]
        var failNextRequests = 0
        /// The next this many batches are answered OUT_OF_ORDER_SEQUENCE_NUMBER without being appended.
        var rejectNextBatchesOutOfOrder = 0
        /// Partitions with an injected rejection: the batches pipelined behind it see a gap, legitimately,
        /// until the client restarts the partition under a new epoch.
        var gapExpected: Set<ProducerTopicPartition> = []
        /// false: like librdkafka's mock cluster, append whatever arrives without checking sequences.
        var validatesSequences = true
        /// The next this many connection attempts are refused (the request is not sent).
        var refuseNextConnections = 0
        var connection = 1
        /// true: answers are kept in `heldAnswers` until the test releases them.
        var holdsAnswers = false
        var heldAnswers: [@Sendable () -> Void] = []
        /// When set, each delivery waits for a signal before recording its results (a caller slow in its callback).
        var deliveryGate: DispatchSemaphore?
        var deliveriesEntered = 0
    }

    let state = Mutex(State())
    let partitionOf: @Sendable (Int) -> ProducerTopicPartition

    init(partitionOf: @escaping @Sendable (Int) -> ProducerTopicPartition) {
        self.partitionOf = partitionOf
    }

    /// Answers later, from another task, as an answer from the network would arrive; a request that was not
    /// sent at once, as the network backend does (its result is known when `write` returns).
    func whenAnswered(_ request: ProduceRequestResult, _ answered: @escaping @Sendable (ProduceRequestResult) -> Void) {
        if case .notSent = request {
            answered(request)
            return
        }
        let held = state.withLock { state -> Bool in
            guard state.holdsAnswers else { return false }
            state.heldAnswers.append { answered(request) }
            return true
        }
        if held { return }
        Task {
            await Task.yield()
            answered(request)
        }
    }

    /// Answers at once, in write order, as a broker reading one connection would.
    func write(_ plan: ProduceRequestPlan<Int>, pinnedTo link: Int?) async -> (ProduceRequestResult, Int?) {
        let refused = state.withLock { state -> Bool in
            guard link == nil, state.refuseNextConnections > 0 else { return false }
            state.refuseNextConnections -= 1
            state.connection += 1
            return true
        }
        if refused { return (.notSent(message: "connection refused"), nil) }
        let connection = state.withLock { $0.connection }
        if let link, link != connection { return (.notSent(message: "connection closed"), nil) }
        return (answer(plan), connection)
    }

    private func answer(_ plan: ProduceRequestPlan<Int>) -> ProduceRequestResult {
        state.withLock { state in
            state.requests += 1
            state.maxBatchesPerRequest = max(state.maxBatchesPerRequest, plan.batches.count)
            if state.failNextRequests > 0 {
                state.failNextRequests -= 1
                return .transportFailure(message: "injected")
            }
            var results: [ProducePartitionResult] = []
            for batch in plan.batches {
                let tp = batch.topicPartition
                if state.rejectNextBatchesOutOfOrder > 0 {
                    state.rejectNextBatchesOutOfOrder -= 1
                    state.gapExpected.insert(tp)
                    results.append(.init(tp, errorCode: ProducerErrorCodes.outOfOrderSequenceNumber))
                    continue
                }
                if batch.baseSequence >= 0 && state.validatesSequences {
                    if batch.producerEpoch != state.grantedEpoch && batch.producerEpoch > state.partitionEpoch[tp, default: -1] {
                        state.sequenceErrors.append("\(tp): epoch \(batch.producerEpoch) was never granted")
                        results.append(.init(tp, errorCode: ProducerErrorCodes.invalidProducerEpoch))
                        continue
                    }
                    if batch.producerEpoch > state.partitionEpoch[tp, default: -1] {
                        state.partitionEpoch[tp] = batch.producerEpoch
                        state.nextSequence[tp] = 0
                        state.gapExpected.remove(tp)
                    }
                    let expected = state.nextSequence[tp, default: 0]
                    if batch.baseSequence < expected {
                        results.append(.init(tp, errorCode: ProducerErrorCodes.duplicateSequenceNumber))
                        continue
                    }
                    if batch.baseSequence != expected {
                        if !state.gapExpected.contains(tp) {
                            state.sequenceErrors.append("\(tp): got \(batch.baseSequence), expected \(expected)")
                        }
                        results.append(.init(tp, errorCode: ProducerErrorCodes.outOfOrderSequenceNumber))
                        continue
                    }
                    state.nextSequence[tp] = expected + Int32(batch.records.count)
                }
                let base = state.nextOffset[tp, default: 0]
                state.nextOffset[tp] = base + Int64(batch.records.count)
                results.append(.init(tp, baseOffset: base))
            }
            return .response(results)
        }
    }

    func fetchProducerID(_ request: ProducerIDRequest) async throws -> (id: Int64, epoch: Int16) {
        state.withLock { state in
            state.producerIDCalls += 1
            state.producerIDRequests.append(request)
            switch request {
            case .fresh: state.grantedEpoch = 0
            case .bump(_, let epoch): state.grantedEpoch = epoch + 1
            }
            return (1000, state.grantedEpoch)
        }
    }

    func refreshLeaders(of partitions: [ProducerTopicPartition]) async -> [(ProducerTopicPartition, Int32?)] {
        partitions.map { ($0, Int32?(1)) }
    }

    func deliver(_ completions: inout [ProducerStateMachineOutput<Int>.Completion]) {
        let gate = state.withLock { state -> DispatchSemaphore? in
            state.deliveriesEntered += 1
            return state.deliveryGate
        }
        gate?.wait()
        state.withLock { state in
            for completion in completions {
                for position in completion.records.indices {
                    let entry = completion.records[position].entry
                    state.delivered[entry] = completion.result(at: position)
                    state.deliveredOrder[partitionOf(entry), default: []].append(entry)
                }
            }
        }
    }
}

@Suite("Producer driver with a fake broker")
struct ProducerDriverTests {
    private static let partitionOf: @Sendable (Int) -> ProducerTopicPartition = { ProducerTopicPartition("t", Int32($0 % 3)) }

    private func items(_ range: Range<Int>, size: Int = 100) -> [ProducerDriver<FakeProduceBackend>.Item] {
        range.map { .init(entry: $0, size: size, topicPartition: Self.partitionOf($0), leader: $0 % 3 == 2 ? 2 : 1) }
    }

    private func withDriver(
        _ configure: (inout ProducerStateMachine<Int>.Configuration) -> Void,
        _ body: (ProducerDriver<FakeProduceBackend>, FakeProduceBackend) async throws -> Void
    ) async throws {
        var configuration = ProducerStateMachine<Int>.Configuration()
        configuration.retryBackoff = .milliseconds(5)
        configure(&configuration)
        let backend = FakeProduceBackend(partitionOf: Self.partitionOf)
        let driver = ProducerDriver(
            configuration: configuration, backend: backend, eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await driver.run() }
            try await body(driver, backend)
            group.cancelAll()
        }
    }

    @Test func everyRecordIsAcknowledgedInPartitionOrderUnderBackpressure() async throws {
        try await withDriver({
            $0.maxBufferedBytes = 2_000
            $0.batchSizeBytes = 700
            $0.maxInFlightRequests = 5
        }) { driver, backend in
            let appended = await driver.append(items(0..<3_000))
            #expect(appended == 3_000)
            await driver.flush()
            #expect(driver.bufferedRecords == 0)
            backend.state.withLock { state in
                #expect(state.delivered.count == 3_000)
                #expect(state.sequenceErrors.isEmpty)
                #expect(state.producerIDCalls == 1)
                for partition in Int32(0)..<3 {
                    let ids = state.deliveredOrder[ProducerTopicPartition("t", partition)] ?? []
                    #expect(ids.count == 1_000)
                    let inOrder = ids == ids.sorted()
                    #expect(inOrder, "completion order of partition \(partition)")
                    let offsets = ids.compactMap { try? state.delivered[$0]?.get().offset }
                    let contiguous = offsets == Array(0..<Int64(ids.count))
                    #expect(contiguous, "offsets of partition \(partition)")
                }
                // Partitions 0 and 1 share broker 1: their batches share requests.
                #expect(state.maxBatchesPerRequest == 2)
            }
        }
    }

    @Test func transportFailuresAreRetriedWithoutDuplicates() async throws {
        try await withDriver({ $0.maxInFlightRequests = 3 }) { driver, backend in
            backend.state.withLock { $0.failNextRequests = 4 }
            #expect(await driver.append(items(0..<300)) == 300)
            await driver.flush()
            backend.state.withLock { state in
                #expect(state.delivered.count == 300)
                #expect(state.delivered.values.allSatisfy { (try? $0.get()) != nil })
                #expect(state.nextOffset.values.reduce(0, +) == 300)
            }
        }
    }

    @Test func outOfOrderRejectionsAreRecoveredWithABrokerGrantedEpochBump() async throws {
        try await withDriver({
            $0.maxInFlightRequests = 5
            $0.batchSizeBytes = 500
        }) { driver, backend in
            #expect(await driver.append(items(0..<30)) == 30)
            await driver.flush()
            backend.state.withLock { $0.rejectNextBatchesOutOfOrder = 2 }
            #expect(await driver.append(items(30..<300)) == 300 - 30)
            await driver.flush()
            backend.state.withLock { state in
                #expect(state.sequenceErrors.isEmpty)
                #expect(state.delivered.count == 300)
                #expect(state.delivered.values.allSatisfy { (try? $0.get()) != nil })
                #expect(state.producerIDRequests.first == .fresh)
                #expect(state.producerIDRequests.contains(.bump(id: 1000, epoch: 0)))
                #expect(state.grantedEpoch >= 1)
                for partition in Int32(0)..<3 {
                    let ids = state.deliveredOrder[ProducerTopicPartition("t", partition)] ?? []
                    #expect(ids == Array(stride(from: Int(partition), to: 300, by: 3)), "partition \(partition) in order")
                    let offsets = ids.compactMap { try? state.delivered[$0]?.get().offset }
                    #expect(offsets == Array(0..<Int64(ids.count)), "offsets of partition \(partition): each record once")
                }
            }
        }
    }

    @Test func aLaterRequestNeverOvertakesAnEarlierOneThatWasNotSent() async throws {
        // The broker does not check sequences (as librdkafka's mock cluster), so only the producer keeps
        // order: when a request reaches no connection, the requests pipelined behind it must not go out on
        // a new connection before it is retried.
        for _ in 0..<20 {
            try await withDriver({
                $0.maxInFlightRequests = 5
                $0.batchSizeBytes = 300
                $0.linger = .zero
            }) { driver, backend in
                backend.state.withLock {
                    $0.validatesSequences = false
                    $0.refuseNextConnections = 1
                }
                for chunk in stride(from: 0, to: 300, by: 10) {
                    #expect(await driver.append(items(chunk..<chunk + 10)) == 10)
                    if chunk == 150 { backend.state.withLock { $0.refuseNextConnections = 1 } }
                }
                await driver.flush()
                backend.state.withLock { state in
                    #expect(state.delivered.count == 300)
                    for partition in Int32(0)..<3 {
                        let ids = state.deliveredOrder[ProducerTopicPartition("t", partition)] ?? []
                        let offsets = ids.compactMap { try? state.delivered[$0]?.get().offset }
                        // Offsets say where each record landed in the log: in input order means in order.
                        let logOrder = zip(offsets, ids).sorted { $0.0 < $1.0 }.map(\.1)
                        #expect(logOrder == Array(stride(from: Int(partition), to: 300, by: 3)), "partition \(partition) log order")
                    }
                }
            }
        }
    }

    @Test func lingerIsHonouredAndFlushCutsItShort() async throws {
        try await withDriver({ $0.linger = .seconds(30) }) { driver, backend in
            #expect(await driver.append(items(0..<10)) == 10)
            try await Task.sleep(for: .milliseconds(50))
            #expect(backend.state.withLock { $0.requests } == 0)
            await driver.flush()
            #expect(backend.state.withLock { $0.delivered.count } == 10)
        }
    }

    /// Answers are handled in callbacks, not child tasks: the drain loop must still wait for them when
    /// cancelled, or the producer's stop would fail records the broker may be appending as shut down.
    @Test func aCancelledRunReturnsOnlyAfterTheAnswersItWaitsFor() async throws {
        var configuration = ProducerStateMachine<Int>.Configuration()
        configuration.linger = .zero
        let backend = FakeProduceBackend(partitionOf: Self.partitionOf)
        backend.state.withLock { $0.holdsAnswers = true }
        let driver = ProducerDriver(
            configuration: configuration, backend: backend, eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        let returned = Atomic<Bool>(false)
        let run = Task {
            await driver.run()
            returned.store(true, ordering: .sequentiallyConsistent)
        }
        #expect(await driver.append(items(0..<1)) == 1)
        #expect(await KafkaClientLifecycleTests.eventually { backend.state.withLock { $0.heldAnswers.count } == 1 })
        run.cancel()
        // While the answer is held, the run must not return: a return within this deadline is the failure.
        #expect(await KafkaClientLifecycleTests.eventually(within: .milliseconds(500)) { returned.load(ordering: .sequentiallyConsistent) } == false)
        for answer in backend.state.withLock({ $0.heldAnswers }) { answer() }
        await run.value
        backend.state.withLock { state in
            #expect(state.delivered.count == 1)
            #expect((try? state.delivered[0]?.get().offset) == 0, "delivered from the broker's answer, not failed")
        }
    }

    /// A caller cancelled before it starts waiting for buffer space gives up at once: its cancellation handler
    /// runs before there is a waiter to remove, so the wait itself must notice.
    @Test func anAlreadyCancelledCallerDoesNotWaitForBufferSpace() async throws {
        var configuration = ProducerStateMachine<Int>.Configuration()
        configuration.maxBufferedBytes = 250
        configuration.linger = .zero
        let backend = FakeProduceBackend(partitionOf: Self.partitionOf)
        backend.state.withLock { $0.holdsAnswers = true }
        let driver = ProducerDriver(
            configuration: configuration, backend: backend, eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        let run = Task { await driver.run() }
        #expect(await driver.append(items(0..<2)) == 2)  // the buffer is full; the answers are held
        let appended = Atomic<Int>(-1)
        let caller = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            appended.store(await driver.append(items(2..<3)), ordering: .sequentiallyConsistent)
        }
        #expect(await KafkaClientLifecycleTests.eventually(within: .seconds(5)) { appended.load(ordering: .sequentiallyConsistent) == 0 })
        for answer in backend.state.withLock({ $0.heldAnswers }) { answer() }
        await caller.value
        run.cancel()
        await run.value
    }

    /// The engine has completed the record and another thread is still handing its result to the caller: a
    /// flush must return only after that, or a caller reading its callbacks' results right after `flush()`
    /// would find them missing.
    @Test func flushWaitsForResultsStillBeingDelivered() async throws {
        let gate = DispatchSemaphore(value: 0)
        try await withDriver({ $0.linger = .zero }) { driver, backend in
            backend.state.withLock {
                $0.holdsAnswers = true
                $0.deliveryGate = gate
            }
            #expect(await driver.append(items(0..<1)) == 1)
            #expect(await KafkaClientLifecycleTests.eventually { backend.state.withLock { $0.heldAnswers.count } == 1 })
            let answer = backend.state.withLock { $0.heldAnswers.removeFirst() }
            DispatchQueue.global().async { answer() }  // applies the answer, then waits in `deliver`
            #expect(await KafkaClientLifecycleTests.eventually { backend.state.withLock { $0.deliveriesEntered } == 1 })
            #expect(driver.bufferedRecords == 0)
            let deliveredWhenFlushReturned = Atomic<Int>(-1)
            let flushing = Task {
                await driver.flush()
                deliveredWhenFlushReturned.store(backend.state.withLock { $0.delivered.count }, ordering: .sequentiallyConsistent)
            }
            // The delivery is released once the flush has either returned (the failure) or is waiting.
            #expect(await KafkaClientLifecycleTests.eventually {
                deliveredWhenFlushReturned.load(ordering: .sequentiallyConsistent) >= 0 || driver.flushWaiterCount == 1
            })
            gate.signal()
            await flushing.value
            #expect(deliveredWhenFlushReturned.load(ordering: .sequentiallyConsistent) == 1)
        }
    }

    @Test func stopFailsWhatIsLeft() async throws {
        try await withDriver({ $0.linger = .seconds(30) }) { driver, backend in
            #expect(await driver.append(items(0..<5)) == 5)
            driver.stop()
            backend.state.withLock { state in
                #expect(state.delivered.count == 5)
                #expect(state.delivered.values.allSatisfy { $0 == .failure(.shutdown) })
            }
            #expect(await driver.append(items(5..<6)) == 0)
        }
    }
}

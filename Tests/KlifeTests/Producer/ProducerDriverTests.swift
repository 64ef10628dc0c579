import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import Klife

/// A broker stand-in: answers every batch with contiguous offsets per partition and checks idempotent
/// sequences are contiguous too.
private final class FakeProduceBackend: ProducerDriverBackend {
    typealias Entry = Int
    typealias PendingRequest = ProduceRequestResult

    struct State {
        var nextOffset: [ProducerTopicPartition: Int64] = [:]
        var nextSequence: [ProducerTopicPartition: Int32] = [:]
        var delivered: [Int: Result<ProducedRecordInfo, ProducerFailure>] = [:]
        var deliveredOrder: [ProducerTopicPartition: [Int]] = [:]
        var requests = 0
        var maxBatchesPerRequest = 0
        var sequenceErrors: [String] = []
        var producerIDCalls = 0
        var failNextRequests = 0
    }

    let state = Mutex(State())
    let partitionOf: @Sendable (Int) -> ProducerTopicPartition

    init(partitionOf: @escaping @Sendable (Int) -> ProducerTopicPartition) {
        self.partitionOf = partitionOf
    }

    func result(of request: ProduceRequestResult) async -> ProduceRequestResult {
        await Task.yield()
        return request
    }

    /// Answers at once, in write order, as a broker reading one connection would.
    func write(_ plan: ProduceRequestPlan<Int>) async -> ProduceRequestResult {
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
                if batch.baseSequence >= 0 {
                    let expected = state.nextSequence[tp, default: 0]
                    if batch.baseSequence < expected {
                        results.append(.init(tp, errorCode: ProducerErrorCodes.duplicateSequenceNumber))
                        continue
                    }
                    if batch.baseSequence != expected {
                        state.sequenceErrors.append("\(tp): got \(batch.baseSequence), expected \(expected)")
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

    func fetchProducerID() async throws -> (id: Int64, epoch: Int16) {
        state.withLock { $0.producerIDCalls += 1 }
        return (1000, 0)
    }

    func refreshLeaders(of partitions: [ProducerTopicPartition]) async -> [(ProducerTopicPartition, Int32?)] {
        partitions.map { ($0, Int32?(1)) }
    }

    func deliver(_ completions: [ProducerStateMachineOutput<Int>.Completion]) {
        state.withLock { state in
            for completion in completions {
                state.delivered[completion.entry] = completion.result
                state.deliveredOrder[partitionOf(completion.entry), default: []].append(completion.entry)
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

    @Test func lingerIsHonouredAndFlushCutsItShort() async throws {
        try await withDriver({ $0.linger = .seconds(30) }) { driver, backend in
            #expect(await driver.append(items(0..<10)) == 10)
            try await Task.sleep(for: .milliseconds(50))
            #expect(backend.state.withLock { $0.requests } == 0)
            await driver.flush()
            #expect(backend.state.withLock { $0.delivered.count } == 10)
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

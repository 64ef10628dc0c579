import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import Klife

/// Answers every batch at once; partition 1 of topic "t" rejects records whose value is "bad" (KIP-467)
/// and partition 2 rejects whole batches with MESSAGE_TOO_LARGE.
private final class ScriptedBackend: ProducerDriverBackend {
    typealias Entry = ProducerEntry
    typealias PendingRequest = ProduceRequestResult
    typealias Link = Int

    let nextOffsets = Mutex<[ProducerTopicPartition: Int64]>([:])

    func write(_ plan: ProduceRequestPlan<ProducerEntry>, pinnedTo link: Int?) async -> (ProduceRequestResult, Int?) {
        (answer(plan), 1)
    }

    private func answer(_ plan: ProduceRequestPlan<ProducerEntry>) -> ProduceRequestResult {
        nextOffsets.withLock { offsets in
            .response(plan.batches.map { batch in
                let tp = batch.topicPartition
                if tp.partition == 2 {
                    return ProducePartitionResult(tp, errorCode: ProducerErrorCodes.messageTooLarge, errorMessage: "too large")
                }
                let bad = batch.records.enumerated().filter { $0.element.entry.value.map { String(buffer: $0) } == "bad" }
                if !bad.isEmpty {
                    return ProducePartitionResult(
                        tp, errorCode: ProducerErrorCodes.invalidRecord,
                        recordErrors: bad.map { .init(batchIndex: Int32($0.offset), message: "bad value") })
                }
                let base = offsets[tp, default: 0]
                offsets[tp] = base + Int64(batch.records.count)
                return ProducePartitionResult(tp, baseOffset: base)
            })
        }
    }

    func whenAnswered(_ request: ProduceRequestResult, _ answered: @escaping @Sendable (ProduceRequestResult) -> Void) {
        Task { answered(request) }
    }
    func fetchProducerID(_ request: ProducerIDRequest) async throws -> (id: Int64, epoch: Int16) { (5, 0) }
    func refreshLeaders(of partitions: [ProducerTopicPartition]) async -> [(ProducerTopicPartition, Int32?)] {
        partitions.map { ($0, Int32?(1)) }
    }
    func deliver(_ completions: inout [ProducerStateMachineOutput<ProducerEntry>.Completion]) {
        ProducerEntry.deliver(&completions)
    }
}

@Suite("Producer: record routing and per-record results")
struct ProducerTests {
    static let metadata = KafkaClusterMetadata(
        brokers: [KafkaBroker(nodeID: 1, host: "127.0.0.1", port: 9092)], controllerID: 1,
        topics: [KafkaTopicMetadata(name: "t", partitions: (0..<3).map { KafkaPartitionMetadata(partition: $0, leaderID: 1) })])

    /// Runs `producer` while `submit` hands it records, and returns what the collector got for each.
    static func results<Backend>(
        of producer: Producer<Backend>, count: Int, submit: (ProducerResultCollector) async -> Void
    ) async -> ProducerResultCollector.Results {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await producer.run() }
            let collector = ProducerResultCollector(count: count)
            await submit(collector)
            let results = await collector.results()
            group.cancelAll()
            return results
        }
    }

    static func router(_ configure: (inout KafkaClient.Configuration) -> Void = { _ in }) -> ProducerRecordRouter {
        var configuration = KafkaClient.Configuration(bootstrapServers: [.init(host: "127.0.0.1", port: 9092)])
        configure(&configuration)
        return ProducerRecordRouter(metadata: metadata, clientConfiguration: configuration, partitionerOverride: nil)
    }

    @Test func routingChecksTopicsAndPartitions() throws {
        let router = Self.router()
        let explicit = KafkaRecord(topic: "t", partition: 2, value: "v")
        #expect(try router.route(explicit).topicPartition == ProducerTopicPartition("t", 2))
        let outOfRange = KafkaRecord(topic: "t", partition: 3, value: "v")
        #expect(throws: KafkaError.self) { try router.route(outOfRange) }
        do {
            _ = try router.route(outOfRange)
        } catch let error as KafkaError {
            #expect(error.code == .invalidPartition)
        }
        let unknown = KafkaRecord(topic: "nope", value: "v")
        do {
            _ = try router.route(unknown)
            Issue.record("an unknown topic must fail")
        } catch let error as KafkaError {
            #expect(error.code == .unknownTopicOrPartition)
        }
        let keyed = KafkaRecord(topic: "t", key: "k", value: "v")
        let route = try router.route(keyed)
        #expect(try router.route(keyed).topicPartition == route.topicPartition)  // keyed: the same partition every time
        #expect((0..<3).contains(route.topicPartition.partition))
        #expect(route.leader == 1)
    }

    /// A keyless record does not go to a partition without a leader while another has one (sticky or random);
    /// a keyed record keeps its key's partition; with no leader anywhere, the choice stands (the record waits).
    @Test(arguments: [KafkaDefaultPartitioner.KeylessStrategy.sticky, .random])
    func keylessRecordsAvoidPartitionsWithoutALeader(strategy: KafkaDefaultPartitioner.KeylessStrategy) throws {
        func router(leaders: [Int32]) -> ProducerRecordRouter {
            var configuration = KafkaClient.Configuration(bootstrapServers: [.init(host: "127.0.0.1", port: 9092)])
            configuration.defaultPartitioner = KafkaDefaultPartitioner(keylessStrategy: strategy)
            let metadata = KafkaClusterMetadata(
                brokers: [KafkaBroker(nodeID: 1, host: "127.0.0.1", port: 9092)], controllerID: 1,
                topics: [KafkaTopicMetadata(name: "t", partitions: leaders.enumerated().map {
                    KafkaPartitionMetadata(partition: Int32($0.offset), leaderID: $0.element)
                })])
            return ProducerRecordRouter(metadata: metadata, clientConfiguration: configuration, partitionerOverride: nil)
        }
        let partlyDown = router(leaders: [1, -1, 1, -1])
        // The sticky choice starts on a partition without a leader (else it could pick one with a leader and
        // stay there, and the test would pass without the fix).
        let partitioner = try #require(partlyDown.partitioner(forTopic: "t"))
        let keyless = KafkaRecord(topic: "t", value: "v")
        var current = partitioner.partition(for: keyless, partitionCount: 4)
        while strategy == .sticky && current % 2 == 0 {
            partitioner.onNewBatch(topic: "t", previousPartition: current, partitionCount: 4)
            current = partitioner.partition(for: keyless, partitionCount: 4)
        }
        var chosen = Set<Int32>()
        for _ in 0..<200 {
            let route = try partlyDown.route(KafkaRecord(topic: "t", value: "v"))
            chosen.insert(route.topicPartition.partition)
            #expect(route.leader == 1)
        }
        #expect(chosen.isSubset(of: [0, 2]), "\(chosen)")
        // A key whose partition has no leader keeps it.
        let key = try #require((0..<1000).map { "k\($0)" }.first {
            KafkaDefaultPartitioner.partition(forKey: ByteBuffer(string: $0), partitionCount: 4) == 1
        })
        #expect(try partlyDown.route(KafkaRecord(topic: "t", key: key, value: "v")).topicPartition.partition == 1)
        let allDown = try router(leaders: [-1, -1]).route(KafkaRecord(topic: "t", value: "v"))
        #expect(allDown.leader == nil)
    }

    @Test func aBatchGivesPerRecordResultsInInputOrder() async throws {
        var configuration = KafkaProducerConfiguration(name: "p", linger: .milliseconds(5))
        configuration.enableIdempotence = false
        let producer = Producer(
            configuration: configuration, backend: ScriptedBackend(), eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        let records = [
            KafkaRecord(topic: "t", partition: 0, value: "a"),
            KafkaRecord(topic: "t", partition: 1, value: "b"),
            KafkaRecord(topic: "t", partition: 1, value: "bad"),
            KafkaRecord(topic: "t", partition: 2, value: "c"),
            KafkaRecord(topic: "t", partition: 9, value: "d"),
            KafkaRecord(topic: "t", partition: 1, value: "e"),
            KafkaRecord(topic: "t", partition: 0, value: "f", timestamp: 1234),
        ]
        let results = await Self.results(of: producer, count: records.count) { collector in
            let rejected = await producer.submit(records, router: Self.router()) { .collector(collector, index: $0) }
            for (index, error) in rejected { collector.set(index, .failure(error)) }
        }
        #expect(results.count == 7)
        let offsets = results.map { try? $0.get().offset }
        #expect(offsets == [0, 0, nil, nil, nil, 1, 1])
        let codes = results.map { result -> KafkaError.Code? in
            if case .failure(let error) = result { return error.code }
            return nil
        }
        #expect(codes == [nil, nil, .recordRejected, .brokerError, .invalidPartition, nil, nil])
        if case .failure(let error) = results[3] { #expect(error.kafkaCode == 10) }
        #expect((try? results[5].get().valueString) == "e")
        #expect((try? results[6].get().timestamp) == 1234)
        #expect((try? results[0].get().timestamp) != nil)
        #expect((try? results[0].get().partition) == 0)
    }

    @Test func keylessRecordsMoveToAnotherPartitionAfterABatch() async throws {
        var configuration = KafkaProducerConfiguration(name: "p", batchSizeBytes: 1_000)
        configuration.enableIdempotence = false
        let producer = Producer(
            configuration: configuration, backend: ScriptedBackend(), eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        let records = (0..<100).map { KafkaRecord(topic: "t", value: "keyless value \($0)") }
        let results = await Self.results(of: producer, count: records.count) { collector in
            let rejected = await producer.submit(records, router: Self.router()) { .collector(collector, index: $0) }
            for (index, error) in rejected { collector.set(index, .failure(error)) }
        }
        // Partition 2 of the scripted broker rejects everything; count where records went either way.
        let partitions = Set(results.map { result -> Int32? in
            switch result {
            case .success(let record): return record.partition
            case .failure: return 2
            }
        })
        #expect(partitions.count > 1)
    }

    @Test func resultsOfOneCallAreHandedOverTogetherAndInOrder() async throws {
        let first = ProducerResultCollector(count: 3)
        let second = ProducerResultCollector(count: 1)
        func pending(_ value: String, _ completion: ProducerCompletion) -> ProducerPendingRecord<ProducerEntry> {
            ProducerPendingRecord(
                entry: ProducerEntry(key: nil, value: ByteBuffer(string: value), headers: [], timestamp: 1, completion: completion),
                estimatedSize: 10)
        }
        let tp = ProducerTopicPartition("t", 0)
        var completions: [ProducerStateMachineOutput<ProducerEntry>.Completion] = [
            .init(
                topicPartition: tp,
                records: [
                    pending("a0", .collector(first, index: 0)), pending("b0", .collector(second, index: 0)),
                    pending("a1", .collector(first, index: 1)),
                ],
                result: .success(ProducedRecordInfo(offset: 10, logAppendTime: -1))),
            .init(topicPartition: tp, records: [pending("a2", .collector(first, index: 2))], result: .failure(.shutdown)),
        ]
        ProducerEntry.deliver(&completions)
        let results = await first.results()
        #expect(try results[0].get().valueString == "a0")
        #expect(try results[0].get().offset == 10)
        #expect(try results[1].get().valueString == "a1")
        #expect(try results[1].get().offset == 12)
        #expect(try results[1].get().partition == 0)
        if case .success = results[2] { Issue.record("the third record failed") }
        let other = await second.results()
        #expect(try other[0].get().offset == 11)
        #expect(try other[0].get().topic == "t")
    }

    @Test func aRouteMapsLeadersAndServesOnlyItsGenerationTopicAndOptions() throws {
        let metadata = KafkaClusterMetadata(
            brokers: [KafkaBroker(nodeID: 1, host: "127.0.0.1", port: 9092)], controllerID: 1,
            topics: [KafkaTopicMetadata(name: "t", partitions: [
                KafkaPartitionMetadata(partition: 0, leaderID: 1), KafkaPartitionMetadata(partition: 1, leaderID: -1),
                KafkaPartitionMetadata(partition: 2, leaderID: 3),
            ])])
        let producer = Producer(
            configuration: KafkaProducerConfiguration(name: "p"), backend: ScriptedBackend(),
            eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        let partitioning = ProducerPartitioning(KafkaClient.Configuration(bootstrapServers: [.init(host: "127.0.0.1", port: 9092)]))
        #expect(ProducerTopicRoute(
            topic: "nope", options: .init(), producer: producer, partitioning: partitioning, metadata: metadata, generation: 1) == nil)
        let route = try #require(ProducerTopicRoute(
            topic: "t", options: .init(), producer: producer, partitioning: partitioning, metadata: metadata, generation: 7))
        #expect(route.partitionCount == 3)
        #expect(route.leader(of: 0) == 1)
        #expect(route.leader(of: 1) == nil)
        #expect(route.leader(of: 2) == 3)
        #expect(route.partitioner != nil)
        #expect(route.serves(topic: "t", options: .init(), generation: 7))
        #expect(!route.serves(topic: "t", options: .init(), generation: 8))
        #expect(!route.serves(topic: "u", options: .init(), generation: 7))
        #expect(!route.serves(topic: "t", options: .init(producer: "q"), generation: 7))
        #expect(!route.serves(topic: "t", options: .init(partitioner: "x"), generation: 7))
        let named = try #require(ProducerTopicRoute(
            topic: "t", options: .init(partitioner: "x"), producer: producer, partitioning: partitioning, metadata: metadata,
            generation: 7))
        #expect(named.partitioner == nil)  // not configured: keyless records take the general path, which reports it
    }

    @Test func aRouteSaysWhenABatchOfKeylessBytesWentOut() throws {
        let metadata = KafkaClusterMetadata(
            brokers: [KafkaBroker(nodeID: 1, host: "127.0.0.1", port: 9092)], controllerID: 1,
            topics: [KafkaTopicMetadata(name: "t", partitions: [KafkaPartitionMetadata(partition: 0, leaderID: 1)])])
        let producer = Producer(
            configuration: KafkaProducerConfiguration(name: "p"), backend: ScriptedBackend(),
            eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        let partitioning = ProducerPartitioning(KafkaClient.Configuration(bootstrapServers: [.init(host: "127.0.0.1", port: 9092)]))
        let route = try #require(ProducerTopicRoute(
            topic: "t", options: .init(), producer: producer, partitioning: partitioning, metadata: metadata, generation: 1))
        // 100-byte records, 250-byte batches: the third record fills one, then the count starts over.
        #expect((0..<6).map { _ in route.noteKeyless(size: 100, batchSize: 250) } == [false, false, true, false, false, true])
    }

    @Test func keylessRecordsSubmittedByRouteMoveToAnotherPartitionAfterABatch() async throws {
        var configuration = KafkaProducerConfiguration(name: "p", batchSizeBytes: 1_000)
        configuration.enableIdempotence = false
        let producer = Producer(
            configuration: configuration, backend: ScriptedBackend(), eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        let partitioning = ProducerPartitioning(KafkaClient.Configuration(bootstrapServers: [.init(host: "127.0.0.1", port: 9092)]))
        let route = try #require(ProducerTopicRoute(
            topic: "t", options: .init(), producer: producer, partitioning: partitioning, metadata: Self.metadata, generation: 1))
        let records = (0..<100).map { KafkaRecord(topic: "t", value: "keyless value \($0)") }
        let results = await Self.results(of: producer, count: records.count) { collector in
            for (index, record) in records.enumerated() {
                if case .buffered = producer.submitNow(record, route: route, completion: .collector(collector, index: index)) { continue }
                collector.set(index, .failure(KafkaError(.invalidArgument, "not buffered")))
            }
        }
        // Partition 2 of the scripted broker rejects everything; count where records went either way.
        let partitions = Set(results.map { result -> Int32? in
            switch result {
            case .success(let record): return record.partition
            case .failure(let error): return error.code == .invalidArgument ? -1 : 2
            }
        })
        #expect(!partitions.contains(-1))
        #expect(partitions.count > 1)
    }

    /// `submitNow(&record, ...)` moves key, value, headers and completion into the engine only when it buffers
    /// the record: one refused for buffer space comes back whole, for the waiting path to send.
    @Test func aRecordRefusedForBufferSpaceKeepsItsFieldsAndCompletion() async throws {
        var configuration = KafkaProducerConfiguration(name: "p", linger: .seconds(30))
        configuration.enableIdempotence = false
        configuration.maxBufferedRecords = 1
        let producer = Producer(
            configuration: configuration, backend: ScriptedBackend(), eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        let partitioning = ProducerPartitioning(KafkaClient.Configuration(bootstrapServers: [.init(host: "127.0.0.1", port: 9092)]))
        let route = try #require(ProducerTopicRoute(
            topic: "t", options: .init(), producer: producer, partitioning: partitioning, metadata: Self.metadata, generation: 1))
        var buffered = KafkaRecord(topic: "t", partition: 0, key: "k0", value: "a")
        var none = ProducerCompletion.none
        guard case .buffered = producer.submitNow(&buffered, route: route, completion: &none) else {
            Issue.record("the first record was not buffered")
            return
        }
        #expect(buffered.key == nil && buffered.value == nil, "a buffered record's key and value move into the engine")
        var refused = KafkaRecord(topic: "t", partition: 1, key: "k1", value: "b")
        refused.headers = [.init(key: "h", value: "x")]
        var completion = ProducerCompletion.callback { _ in }
        guard case .notNow = producer.submitNow(&refused, route: route, completion: &completion) else {
            Issue.record("the second record was buffered past maxBufferedRecords = 1")
            return
        }
        #expect(refused.keyString == "k1")
        #expect(refused.valueString == "b")
        #expect(refused.headers == [.init(key: "h", value: "x")])
        #expect(refused.timestamp == nil, "no producer timestamp is left on a record that was not buffered")
        guard case .callback = completion else {
            Issue.record("the completion was not given back")
            return
        }
    }

    @Test func submittingByRouteBuffersPlaceableRecordsAndLeavesTheRestToTheGeneralPath() async throws {
        var configuration = KafkaProducerConfiguration(name: "p", linger: .milliseconds(1))
        configuration.enableIdempotence = false
        let producer = Producer(
            configuration: configuration, backend: ScriptedBackend(), eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        let partitioning = ProducerPartitioning(KafkaClient.Configuration(bootstrapServers: [.init(host: "127.0.0.1", port: 9092)]))
        let route = try #require(ProducerTopicRoute(
            topic: "t", options: .init(), producer: producer, partitioning: partitioning, metadata: Self.metadata, generation: 1))
        let noPartitioner = try #require(ProducerTopicRoute(
            topic: "t", options: .init(partitioner: "x"), producer: producer, partitioning: partitioning, metadata: Self.metadata,
            generation: 1))
        let results = await Self.results(of: producer, count: 3) { collector in
            var outcomes: [String] = []
            let records = [
                KafkaRecord(topic: "t", partition: 0, value: "a", timestamp: 42),
                KafkaRecord(topic: "t", key: "k", value: "b"),
                KafkaRecord(topic: "t", partition: 0, value: "c"),
            ]
            for (index, record) in records.enumerated() {
                switch producer.submitNow(record, route: route, completion: .collector(collector, index: index)) {
                case .buffered: outcomes.append("buffered")
                case .rejected: outcomes.append("rejected")
                case .notNow: outcomes.append("notNow")
                }
            }
            // Out of range, and a keyless record without a configured partitioner: nothing buffered.
            for record in [KafkaRecord(topic: "t", partition: 3, value: "x"), KafkaRecord(topic: "t", value: "y")] {
                if case .notNow = producer.submitNow(record, route: record.partition == nil ? noPartitioner : route, completion: .none) {
                    outcomes.append("notNow")
                }
            }
            #expect(outcomes == ["buffered", "buffered", "buffered", "notNow", "notNow"])
        }
        #expect(try results[0].get().offset == 0)
        #expect(try results[0].get().timestamp == 42)
        #expect(try results[2].get().offset == 1)
        #expect(try results[2].get().valueString == "c")
        // The keyed record went to its murmur2 partition (the scripted partition 2 rejects whole batches).
        let expected = KafkaDefaultPartitioner().partition(for: KafkaRecord(topic: "t", key: "k", value: "b"), partitionCount: 3)
        switch results[1] {
        case .success(let keyed):
            #expect(keyed.partition == expected)
            #expect(keyed.timestamp != nil)
        case .failure(let error):
            #expect(expected == 2)
            #expect(error.kafkaCode == ProducerErrorCodes.messageTooLarge)
        }
        #expect(producer.driver.bufferedRecords == 0)
    }
}

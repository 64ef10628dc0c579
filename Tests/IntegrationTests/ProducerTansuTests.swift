import Foundation
import Klife
import NIOCore
import Synchronization
import Testing

/// The produce API against a real broker (Tansu), read back by librdkafka 2.16.
@Suite("Producer against Tansu", .serialized)
struct ProducerTansuTests {
    static func configuration(
        _ configure: (inout KafkaClient.Configuration) -> Void = { _ in }
    ) throws -> KafkaClient.Configuration {
        let servers = try KafkaConnectionConfiguration.BrokerAddress.parseList(try TestBrokers.tansuBootstrap)
        var configuration = KafkaClient.Configuration(bootstrapServers: servers)
        configuration.producers = [KafkaProducerConfiguration(name: KafkaProducerConfiguration.defaultName, linger: .milliseconds(2))]
        configure(&configuration)
        return configuration
    }

    static func topic(partitions: Int) async throws -> String {
        let topic = TestBrokers.uniqueName("produce")
        try await RdKafkaTool.createTopic(bootstrap: try TestBrokers.tansuBootstrap, topic: topic, partitions: partitions)
        return topic
    }

    @Test func everyAPIShapeDeliversInOrder() async throws {
        let topic = try await Self.topic(partitions: 3)
        let delivered = Mutex<[Int: Result<KafkaRecord, KafkaError>]>([:])
        try await KafkaClient.withRunningClient(configuration: try Self.configuration()) { client in
            let single = try await client.produce(KafkaRecord(topic: topic, partition: 0, value: "one"))
            #expect(single.partition == 0)
            #expect(single.offset == 0)

            let batch = await client.produceBatch((0..<10).map { KafkaRecord(topic: topic, partition: 1, value: "b\($0)") })
            let offsets = batch.map { try? $0.get().offset }
            #expect(offsets == (0..<10).map { Int64($0) })

            for index in 0..<5 {
                try await client.produceAsync(KafkaRecord(topic: topic, partition: 2, value: "a\(index)")) { result in
                    delivered.withLock { $0[index] = result }
                }
            }
            let batchDone = Mutex<[Result<KafkaRecord, KafkaError>]?>(nil)
            await client.produceBatchAsync((5..<8).map { KafkaRecord(topic: topic, partition: 2, value: "a\($0)") }) { results in
                batchDone.withLock { $0 = results }
            }
            await client.flush()
            let asyncOffsets = delivered.withLock { results in (0..<5).map { try? results[$0]?.get().offset } }
            #expect(asyncOffsets == [0, 1, 2, 3, 4], "produceAsync results: \(delivered.withLock { $0 })")
            let batchOffsets = batchDone.withLock { $0?.map { try? $0.get().offset } }
            #expect(batchOffsets == [5, 6, 7], "produceBatchAsync results: \(String(describing: batchDone.withLock { $0 }))")
        }
        let consumed = try await RdKafkaTool.consume(bootstrap: try TestBrokers.tansuBootstrap, topic: topic, count: 19)
        let byPartition = Dictionary(grouping: consumed, by: \.partition).mapValues { $0.sorted { $0.offset < $1.offset }.map { $0.valueString ?? "" } }
        #expect(byPartition[0] == ["one"])
        #expect(byPartition[1] == (0..<10).map { "b\($0)" })
        #expect(byPartition[2] == (0..<8).map { "a\($0)" })
    }

    /// Every codec at its default level, and gzip, lz4 (high-compression mode) and zstd at their strongest.
    @Test(arguments: KafkaCompression.allCases.map { ($0, Int?.none) } + [(.gzip, 9), (.lz4, 12), (.zstd, 19)])
    func codecsHeadersTombstonesAndTimestampsReadBackByLibrdkafka(_ compression: KafkaCompression, level: Int?) async throws {
        let topic = try await Self.topic(partitions: 1)
        var records: [KafkaRecord] = []
        for index in 0..<30 {
            records.append(KafkaRecord(
                topic: topic, partition: 0, key: ByteBuffer(string: "key-\(index)"),
                value: ByteBuffer(string: String(repeating: "value \(index) ", count: 20)),
                headers: [.init(key: "h", value: "v\(index)"), .init(key: "null", value: nil as ByteBuffer?), .init(key: "h", value: "dup")],
                timestamp: 1_700_000_000_000 + Int64(index)))
        }
        records.append(KafkaRecord(topic: topic, partition: 0, key: ByteBuffer(string: "gone"), value: nil, timestamp: 1_700_000_000_999))
        let toProduce = records
        let configuration = try Self.configuration {
            $0.producers = [KafkaProducerConfiguration(name: KafkaProducerConfiguration.defaultName, linger: .milliseconds(5), compression: compression, compressionLevel: level)]
        }
        try await KafkaClient.withRunningClient(configuration: configuration) { client in
            let results = await client.produceBatch(toProduce)
            let failures = results.compactMap { result -> KafkaError? in
                if case .failure(let error) = result { return error }
                return nil
            }
            #expect(failures.isEmpty, "\(failures.first.map(String.init(describing:)) ?? "")")
        }
        let consumed = try await RdKafkaTool.consume(bootstrap: try TestBrokers.tansuBootstrap, topic: topic, count: records.count)
            .sorted { $0.offset < $1.offset }
        #expect(consumed.count == records.count)
        for (record, read) in zip(records, consumed) {
            #expect(read.key == record.keyBytes)
            #expect(read.value == record.valueBytes)
            #expect(read.timestamp == record.timestamp)
            #expect(read.headers == record.headers.map { RdKafkaRecord.Header(key: $0.key, value: $0.value.map { Array($0.readableBytesView) }) })
        }
    }

    @Test func keyedRecordsLandWhereLibrdkafkaPutsThem() async throws {
        let topic = try await Self.topic(partitions: 7)
        let keys = (0..<60).map { "user-\($0 * 7919)" } + [""]
        let expected = try await RdKafkaTool.partitionFor(keys: keys, partitions: 7)
        try await KafkaClient.withRunningClient(configuration: try Self.configuration()) { client in
            let results = await client.produceBatch(keys.map { KafkaRecord(topic: topic, key: $0, value: "v") })
            for (key, result) in zip(keys, results) {
                #expect((try? result.get().partition) == expected[key], "key \(key)")
            }
        }
    }

    /// Always the same partition: shows which partitioner routed a record.
    struct FixedPartitioner: KafkaPartitioner {
        let partition: Int32
        func partition(for record: KafkaRecord, partitionCount: Int32) -> Int32 { partition }
    }

    /// The partitioner of a record: the call's, else the topic's, else the client's default, through every
    /// produce call shape (single records take a remembered route from the second call on).
    @Test func partitionerChoiceCallThenTopicThenDefault() async throws {
        let configured = try await Self.topic(partitions: 4)
        let other = try await Self.topic(partitions: 4)
        let configuration = try Self.configuration {
            $0.partitioners = ["one": FixedPartitioner(partition: 1), "two": FixedPartitioner(partition: 2), "outside": FixedPartitioner(partition: 9)]
            $0.defaultPartitioner = FixedPartitioner(partition: 3)
            $0.topics = [KafkaTopicConfiguration(name: configured, partitioner: "one")]
        }
        try await KafkaClient.withRunningClient(configuration: configuration) { client in
            for round in 0..<2 {
                let topicChoice = try await client.produce(KafkaRecord(topic: configured, key: "k\(round)", value: "v"))
                #expect(topicChoice.partition == 1)
                let defaultChoice = try await client.produce(KafkaRecord(topic: other, value: "v"))
                #expect(defaultChoice.partition == 3)
                let callChoice = try await client.produce(KafkaRecord(topic: configured, value: "v"), options: .init(partitioner: "two"))
                #expect(callChoice.partition == 2)
                // An explicit partition is not the partitioner's to choose.
                let explicit = try await client.produce(KafkaRecord(topic: configured, partition: 0, value: "v"), options: .init(partitioner: "two"))
                #expect(explicit.partition == 0)
            }
            let batch = await client.produceBatch([KafkaRecord(topic: configured, value: "a"), KafkaRecord(topic: other, value: "b")])
            #expect(batch.map { try? $0.get().partition } == [1, 3])
            let called = await client.produceBatch([KafkaRecord(topic: configured, value: "a"), KafkaRecord(topic: other, value: "b")], options: .init(partitioner: "two"))
            #expect(called.map { try? $0.get().partition } == [2, 2])
            // A partitioner choosing a partition the topic lacks, and one that is not configured: typed errors.
            let outside = await client.produceBatch([KafkaRecord(topic: other, value: "c")], options: .init(partitioner: "outside"))
            if case .failure(let error) = outside[0] { #expect(error.code == .invalidPartition) } else { Issue.record("partition 9 of 4") }
            let unknown = await client.produceBatch([KafkaRecord(topic: other, value: "c")], options: .init(partitioner: "nope"))
            if case .failure(let error) = unknown[0] {
                #expect(error.code == .invalidArgument)
                #expect(error.message.contains("nope"))
            } else {
                Issue.record("an unknown partitioner was accepted")
            }
        }
    }

    @Test func badInputGivesTypedErrors() async throws {
        let topic = try await Self.topic(partitions: 2)
        let configuration = try Self.configuration {
            // Unknown topics off: only configured topics take records, and nothing waits for a refresh.
            $0.enableUnknownTopics = false
            $0.topics = [KafkaTopicConfiguration(name: topic)]
        }
        try await KafkaClient.withRunningClient(configuration: configuration) { client in
            await #expect(throws: KafkaError.self) {
                _ = try await client.produce(KafkaRecord(topic: topic, value: "x"), options: .init(producer: "nope"))
            }
            do {
                _ = try await client.produce(KafkaRecord(topic: topic, value: "x"), options: .init(producer: "nope"))
            } catch let error as KafkaError {
                #expect(error.code == .unknownProducer)
                #expect(error.failedRecord?.valueString == "x")
            }
            do {
                _ = try await client.produce(KafkaRecord(topic: topic + "-missing", value: "x"))
                Issue.record("an unknown topic must fail")
            } catch let error as KafkaError {
                #expect(error.code == .unknownTopicOrPartition)
            }
            let mixed = await client.produceBatch([
                KafkaRecord(topic: topic, partition: 5, value: "bad"),
                KafkaRecord(topic: topic, partition: 1, value: "good"),
            ])
            if case .failure(let error) = mixed[0] { #expect(error.code == .invalidPartition) } else { Issue.record("partition 5") }
            #expect((try? mixed[1].get().offset) == 0)
            do {
                try await client.produceAsync(KafkaRecord(topic: topic, partition: -1, value: "x"))
                Issue.record("a negative partition must fail")
            } catch let error as KafkaError {
                #expect(error.code == .invalidPartition)
            }
        }
    }
}

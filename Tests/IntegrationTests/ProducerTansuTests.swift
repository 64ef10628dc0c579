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
            #expect(asyncOffsets == [0, 1, 2, 3, 4])
            let batchOffsets = batchDone.withLock { $0?.map { try? $0.get().offset } }
            #expect(batchOffsets == [5, 6, 7])
        }
        let consumed = try await RdKafkaTool.consume(bootstrap: try TestBrokers.tansuBootstrap, topic: topic, count: 19)
        let byPartition = Dictionary(grouping: consumed, by: \.partition).mapValues { $0.sorted { $0.offset < $1.offset }.map { $0.valueString ?? "" } }
        #expect(byPartition[0] == ["one"])
        #expect(byPartition[1] == (0..<10).map { "b\($0)" })
        #expect(byPartition[2] == (0..<8).map { "a\($0)" })
    }

    @Test(arguments: KafkaCompression.allCases)
    func codecsHeadersTombstonesAndTimestampsReadBackByLibrdkafka(_ compression: KafkaCompression) async throws {
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
            $0.producers = [KafkaProducerConfiguration(name: KafkaProducerConfiguration.defaultName, linger: .milliseconds(5), compression: compression)]
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

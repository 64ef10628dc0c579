@testable import Klife
import Testing

/// `KafkaClient.partitionConsumer`: reading partitions without a group, against Tansu and the mock cluster.
@Suite struct PartitionConsumerTests {
    /// Two partitions read from chosen offsets arrive in order, each record once; a seek replays one partition;
    /// the positions say where reading would go on; cancelling ends the iteration.
    @Test func partitionsAreReadFromTheirPositionsAndSeekReplays() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("partition-consumer")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 2)
        try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, records: (0..<5).map { (key: nil, value: "a\($0)") }, partition: 0)
        try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, records: (0..<3).map { (key: nil, value: "b\($0)") }, partition: 1)
        let p0 = KafkaTopicPartition(topic: topic, partition: 0)
        let p1 = KafkaTopicPartition(topic: topic, partition: 1)
        try await FetchTests.withClient(bootstrap) { client in
            let consumer = try client.partitionConsumer(
                [KafkaFetchPosition(topic: topic, partition: 0, offset: 1), KafkaFetchPosition(topic: topic, partition: 1, offset: 0)],
                maxIdleWait: .milliseconds(50))
            #expect(consumer.partitions == [p0, p1])
            var seen: [String] = []
            var nextOffsets: [KafkaTopicPartition: Int64] = [:]
            for try await batch in consumer {
                seen += batch.records.map { "\(batch.partition):\($0.offset!):\($0.valueString ?? "")" }
                nextOffsets[KafkaTopicPartition(topic: batch.topic, partition: batch.partition)] = batch.nextOffset
                if seen.count >= 7 { break }
            }
            #expect(seen.filter { $0.hasPrefix("0:") } == ["0:1:a1", "0:2:a2", "0:3:a3", "0:4:a4"], "\(seen)")
            #expect(seen.filter { $0.hasPrefix("1:") } == ["1:0:b0", "1:1:b1", "1:2:b2"], "\(seen)")
            #expect(nextOffsets == [p0: 5, p1: 3])
            #expect(consumer.positions == [p0: 5, p1: 3])

            // A seek replays partition 0 from offset 3; nothing more of partition 1 comes.
            try consumer.seek(p0, to: 3)
            var replayed: [String] = []
            for try await batch in consumer {
                replayed += batch.records.map { "\(batch.partition):\($0.offset!)" }
                if replayed.count >= 2 { break }
            }
            #expect(replayed == ["0:3", "0:4"])

            let unknown = #expect(throws: KafkaError.self) { try consumer.seek(KafkaTopicPartition(topic: topic, partition: 9), to: 0) }
            #expect(unknown?.code == .invalidArgument)

            // With nothing left to read, cancelling the reading task ends its iteration (a consumer that ignored
            // cancellation would hang here).
            let reader = Task { () -> Int in
                var count = 0
                for try await batch in consumer { count += batch.records.count }
                return count
            }
            reader.cancel()
            #expect(try await reader.value == 0)
        }
    }

    /// A seek is read at once by a consumer waiting for records, not after its idle wait (60 s here: the first
    /// empty round waits 6 s).
    @Test func aSeekWakesAConsumerWaitingForRecords() async throws {
        let fixture = try await GroupTopicFixture("partition-consumer-wake", records: 3)
        try await FetchTests.withClient(fixture.bootstrap) { client in
            let consumer = try client.partitionConsumer(
                [KafkaFetchPosition(topic: fixture.topic, partition: 0, offset: 3)], maxIdleWait: .seconds(60))
            let reader = Task { () -> (offset: Int64?, at: ContinuousClock.Instant)? in
                for try await batch in consumer { return (batch.records.first?.offset, .now) }
                return nil
            }
            defer { reader.cancel() }
            try await ClientTestSupport.eventuallyOrFail("the consumer found nothing to read and waits", timeout: .seconds(15)) {
                consumer.idleRounds >= 1
            }
            let seekAt = ContinuousClock.now
            try consumer.seek(fixture.partition, to: 0)
            let first = try #require(try await reader.value)
            #expect(first.offset == 0)
            #expect(first.at - seekAt < .seconds(3), "the batch came \(first.at - seekAt) after the seek")
        }
    }

    /// While the caller holds a batch, the next round is fetched (one record batch per fetch here: max bytes 1,
    /// which the mock cluster keeps to and Tansu does not).
    @Test func theNextRoundIsFetchedWhileTheCallerHandlesABatch() async throws {
        let cluster = try await MockCluster.create(brokers: 1)
        defer { Task { try? await cluster.destroy() } }
        let topic = TestBrokers.uniqueName("partition-consumer-ahead")
        try await cluster.createTopic(topic, partitions: 1)
        try await FetchTests.withClient(cluster.bootstrap) { client in
            // One at a time: three record batches.
            for i in 0..<3 { _ = try await client.produce(KafkaRecord(topic: topic, partition: 0, value: "r\(i)")) }
            let consumer = try client.partitionConsumer(
                [KafkaFetchPosition(topic: topic, partition: 0, offset: 0)], options: KafkaFetchOptions(maxBytes: 1),
                maxIdleWait: .milliseconds(50))
            var iterator = consumer.makeAsyncIterator()
            let first = try #require(try await iterator.next())
            #expect(first.records.map(\.offset) == [0])
            // The caller holds the first batch and asks for nothing: the second is fetched meanwhile.
            try await ClientTestSupport.eventuallyOrFail("the next batch is fetched while the caller holds the first", timeout: .seconds(15)) {
                consumer.completedFetchesAhead == 1
            }
            let second = try #require(try await iterator.next())
            #expect(second.records.map(\.offset) == [1])
        }
    }

    /// A position past the log end moves by the reset policy; without one the iteration fails with
    /// offsetOutOfRange and the position stays, so a seek lets a new iteration go on. (Tansu does not answer
    /// OFFSET_OUT_OF_RANGE; the mock cluster does.)
    @Test func aPositionOutOfRangeIsResetOrReported() async throws {
        try await FaultInjectionTests.withTopic(records: 3) { _, client, topic in
            let partition = KafkaTopicPartition(topic: topic, partition: 0)
            let resetting = try client.partitionConsumer(
                [KafkaFetchPosition(topic: topic, partition: 0, offset: 100)], offsetReset: .earliest, maxIdleWait: .milliseconds(50))
            var values: [String] = []
            for try await batch in resetting {
                values += batch.records.map { $0.valueString ?? "" }
                if values.count >= 3 { break }
            }
            #expect(values == ["r-0", "r-1", "r-2"])

            let strict = try client.partitionConsumer([KafkaFetchPosition(topic: topic, partition: 0, offset: 100)], maxIdleWait: .milliseconds(50))
            let error = await #expect(throws: KafkaError.self) {
                for try await _ in strict {}
            }
            #expect(error?.code == .offsetOutOfRange, "\(String(describing: error))")
            #expect(strict.positions == [partition: 100])
            try strict.seek(partition, to: 2)
            var after: [String] = []
            for try await batch in strict {
                after += batch.records.map { $0.valueString ?? "" }
                if !after.isEmpty { break }
            }
            #expect(after == ["r-2"])
        }
    }

    /// Records come decoded also when the caller's options ask for lazy decompression (which would leave them in
    /// `batches`, and the consumer would move past them). Read under a deadline: a broken consumer would skip
    /// everything and wait forever.
    @Test func lazyDecompressionOptionsStillDeliverRecords() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("partition-consumer-lazy")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 1)
        try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, records: (0..<3).map { (key: nil, value: "z\($0)") }, partition: 0, compression: .lz4)
        try await FetchTests.withClient(bootstrap) { client in
            let consumer = try client.partitionConsumer(
                [KafkaFetchPosition(topic: topic, partition: 0, offset: 0)], options: KafkaFetchOptions(decompression: .lazy),
                maxIdleWait: .milliseconds(50))
            let values = try await withThrowingTaskGroup(of: [String]?.self) { group in
                group.addTask {
                    var values: [String] = []
                    for try await batch in consumer {
                        values += batch.records.map { $0.valueString ?? "" }
                        if values.count >= 3 { break }
                    }
                    return values
                }
                group.addTask {
                    try await Task.sleep(for: .seconds(30))
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                return first
            }
            #expect(values == ["z0", "z1", "z2"])
        }
    }

    @Test func invalidPositionsAreRefused() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        try await FetchTests.withClient(bootstrap) { client in
            let cases: [(String, [KafkaFetchPosition])] = [
                ("at least one position", []),
                ("named twice", [KafkaFetchPosition(topic: "t", partition: 0, offset: 0), KafkaFetchPosition(topic: "t", partition: 0, offset: 5)]),
                ("negative", [KafkaFetchPosition(topic: "t", partition: 0, offset: -1)]),
                ("bad topic!", [KafkaFetchPosition(topic: "bad topic!", partition: 0, offset: 0)]),
            ]
            for (mention, positions) in cases {
                let error = #expect(throws: KafkaError.self) { _ = try client.partitionConsumer(positions) }
                #expect(error?.code == .invalidArgument)
                #expect(error?.message.contains(mention) == true, "\(String(describing: error?.message))")
            }
        }
    }
}

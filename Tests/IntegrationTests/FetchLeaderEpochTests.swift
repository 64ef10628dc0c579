import KafkaProtocol
import NIOCore
import Testing

@testable import Klife

/// Leader epochs in fetches (KIP-320): the current epoch from the metadata fences a fetch built on stale
/// metadata (librdkafka mock cluster, which checks it), and the last fetched epoch lets the leader report
/// where its log parts from what was read, after an unclean election cut it short (the bad-input broker,
/// answering as Kafka does: neither test broker can lose acknowledged records).
@Suite("Fetch: leader epochs (KIP-320)", .serialized)
struct FetchLeaderEpochTests {
    static func batch(_ buffer: inout ByteBuffer, base: Int64, epoch: Int32, values: [String]) throws {
        var writer = RecordBatchWriter(baseOffset: base, partitionLeaderEpoch: epoch, baseTimestamp: 1_000)
        for value in values { writer.append(key: nil, value: ByteBuffer(string: value), timestamp: 1_000) }
        var written = try writer.finish()
        buffer.writeBuffer(&written)
    }

    @Test func aLogCutShortIsReportedAndReadOnWhereTheLogsPart() async throws {
        let broker = try await BadInputBroker.start()
        defer { Task { await broker.stop() } }
        var before = ByteBuffer()
        try Self.batch(&before, base: 0, epoch: 1, values: (0..<10).map { "a-\($0)" })
        broker.serveFetch(BadInputBroker.FetchLog(records: before, highWatermark: 10, epochStarts: [(1, 0)]))
        let configuration = try ClientTestSupport.configuration(bootstrap: broker.bootstrap)
        try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            let topic = BadInputBroker.topic
            let start = KafkaFetchPosition(topic: topic, partition: 0, offset: 0)
            let first = try #require(await client.fetchPartitions([start])[start]).get()
            #expect(first.records.count == 10 && first.nextOffset == 10 && first.lastFetchedEpoch == 1)
            #expect(first.divergence == nil)

            // An unclean election: the new leader has epoch 1 up to offset 6 only, then its own epoch 2.
            var after = ByteBuffer()
            try Self.batch(&after, base: 0, epoch: 1, values: (0..<6).map { "a-\($0)" })
            try Self.batch(&after, base: 6, epoch: 2, values: (6..<9).map { "b-\($0)" })
            broker.serveFetch(BadInputBroker.FetchLog(records: after, highWatermark: 9, epochStarts: [(1, 0), (2, 6)]))

            let next = KafkaFetchPosition(topic: topic, partition: 0, offset: first.nextOffset, lastFetchedEpoch: first.lastFetchedEpoch)
            let parted = try #require(await client.fetchPartitions([next])[next]).get()
            #expect(parted.divergence == KafkaLogDivergence(epoch: 1, endOffset: 6))
            #expect(parted.records.isEmpty && parted.nextOffset == 6 && parted.lastFetchedEpoch == 1)
            // The call that returns records alone says so as an error naming where to go on.
            let asError = await client.fetch([next])[next]
            #expect(throws: KafkaError.self) { try asError?.get() }
            if case .failure(let error)? = asError {
                #expect(error.code == .logTruncated && error.message.contains("fetch from offset 6"), "\(error)")
            }

            // From there, the new leader's records.
            let resumed = KafkaFetchPosition(topic: topic, partition: 0, offset: parted.nextOffset, lastFetchedEpoch: parted.lastFetchedEpoch)
            let read = try #require(await client.fetchPartitions([resumed])[resumed]).get()
            #expect(read.records.compactMap(\.valueString) == ["b-6", "b-7", "b-8"])
            #expect(read.divergence == nil && read.lastFetchedEpoch == 2 && read.nextOffset == 9)
        }
        // The metadata's leader epoch (0) went out as the current epoch, the last fetched one where known.
        #expect(broker.fetchEpochs.map(\.current).allSatisfy { $0 == 0 })
        #expect(broker.fetchEpochs.map(\.lastFetched) == [-1, 1, 1, 1])
    }

    @Test func aFetchWithAStaleLeaderEpochIsFencedAndFollowsTheNewOne() async throws {
        let cluster = try await MockCluster.create(brokers: 3)
        defer { Task { try? await cluster.destroy() } }
        let topic = TestBrokers.uniqueName("epoch")
        try await cluster.createTopic(topic, partitions: 1, replicationFactor: 3)
        try await cluster.setLeader(topic: topic, partition: 0, broker: 1)
        var configuration = try ClientTestSupport.configuration(bootstrap: cluster.bootstrap)
        // No periodic refresh during the test: only the fencing may teach the client the new epoch.
        configuration.metadataRefreshInterval = .seconds(3600)
        try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            let tp = KafkaTopicPartition(topic: topic, partition: 0)
            let produced = await client.produceBatch((0..<3).map { KafkaRecord(topic: topic, partition: 0, value: "r-\($0)") })
            #expect(produced.allSatisfy { (try? $0.get()) != nil }, "setup produce failed: \(produced)")
            let known = try #require(try await client.refreshMetadata().partition(tp))
            #expect(known.leaderID == 1 && known.leaderEpoch >= 0)

            // The leader moves away and back: the same broker leads, under a newer epoch our metadata lacks.
            try await cluster.setLeader(topic: topic, partition: 0, broker: 2)
            try await cluster.setLeader(topic: topic, partition: 0, broker: 1)
            #expect(client.clusterMetadata.partition(tp)?.leaderEpoch == known.leaderEpoch)

            // The broker fences the stale epoch; the fetch refreshes the metadata and succeeds.
            let records = try await client.fetch(topic: topic, partition: 0, offset: 0)
            #expect(records.compactMap(\.valueString) == ["r-0", "r-1", "r-2"])
            let now = try #require(client.clusterMetadata.partition(tp))
            #expect(now.leaderID == 1 && now.leaderEpoch > known.leaderEpoch, "metadata epoch \(now.leaderEpoch), was \(known.leaderEpoch)")
        }
    }
}

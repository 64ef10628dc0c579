import Foundation
import Klife
import Logging
import NIOCore
import Testing

/// The fetch API against real brokers: records written by librdkafka 2.16 read back exactly (Tansu),
/// multi-partition fetches across brokers and a leader move (librdkafka mock cluster).
@Suite("Fetch", .serialized)
struct FetchTests {
    static func configuration(_ bootstrap: String) throws -> KafkaClient.Configuration {
        let brokers = try bootstrap.split(separator: ",").map { entry in
            let (host, port) = try TestBrokers.hostAndPort(String(entry))
            return KafkaConnectionConfiguration.BrokerAddress(host: host, port: port)
        }
        return KafkaClient.Configuration(connection: KafkaConnectionConfiguration(bootstrapServers: brokers, clientID: "klife-fetch-tests"))
    }

    static func withClient<T: Sendable>(_ bootstrap: String, _ body: @Sendable (KafkaClient) async throws -> T) async throws -> T {
        var logger = Logger(label: "klife-test")
        if ProcessInfo.processInfo.environment["KLIFE_TEST_DEBUG"] != nil { logger.logLevel = .debug }
        return try await KafkaClient.withRunningClient(configuration: try configuration(bootstrap), logger: logger, body)
    }

    @Test("records of every codec written by librdkafka are fetched back exactly from Tansu", arguments: ["none", "gzip", "snappy", "lz4", "zstd"])
    func everyCodecFromTansu(codec: String) async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("fetch-\(codec)")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 1)
        let input: [(key: String?, value: String)] = (0..<20).map { i in
            (key: i % 3 == 0 ? nil : "key-\(i)", value: "value-\(i)-" + String(repeating: "x", count: i * 7))
        }
        try await RdKafkaTool.produce(
            bootstrap: bootstrap, topic: topic, records: input, partition: 0,
            compression: RdKafkaTool.Compression(rawValue: codec)!, headers: [("h1", "a"), ("h2", "b")])
        let expected = try await RdKafkaTool.consume(bootstrap: bootstrap, topic: topic, count: input.count)
        #expect(expected.count == input.count)

        let position = KafkaFetchPosition(topic: topic, partition: 0, offset: 0)
        let (records, lazy) = try await Self.withClient(bootstrap) { client in
            let eager = try await client.fetch(topic: topic, partition: 0, offset: 0)
            let lazy = try await client.fetchPartitions(
                [position], options: KafkaFetchOptions(decompression: .lazy))[position]?.get()
            // The [KafkaRecord] calls decompress eagerly whatever the option says.
            let forcedEager = try await client.fetch(
                topic: topic, partition: 0, offset: 0, options: KafkaFetchOptions(decompression: .lazy))
            #expect(forcedEager.map(\.offset) == eager.map(\.offset))
            return (eager, lazy)
        }
        // Lazily decompressed batches hold the same records.
        let fetched = try #require(lazy)
        #expect(fetched.records.isEmpty)
        #expect(!fetched.batches.isEmpty)
        #expect(fetched.batches.allSatisfy { $0.topic == topic && $0.partition == 0 && $0.compression.description == codec })
        let lazyRecords = try fetched.batches.flatMap { try $0.records() }
        #expect(lazyRecords.map(\.offset) == records.map(\.offset))
        #expect(lazyRecords.map(\.valueBytes) == records.map(\.valueBytes))
        #expect(lazyRecords.map(\.keyBytes) == records.map(\.keyBytes))
        #expect(fetched.nextOffset == Int64(input.count))
        #expect(records.count == expected.count)
        for (record, reference) in zip(records, expected) {
            #expect(record.topic == topic)
            #expect(record.partition == 0)
            #expect(record.offset == reference.offset)
            #expect(record.keyBytes == reference.key)
            #expect(record.valueBytes == reference.value)
            #expect(record.headers.map(\.key) == reference.headers.map(\.key))
            #expect(record.headers.map { $0.value.map { Array($0.readableBytesView) } } == reference.headers.map(\.value))
            #expect(record.timestamp == reference.timestamp)
            #expect(record.batchAttributes?.compression.description == codec)
            #expect(record.batchAttributes?.isTransactional == false)
        }
    }

    @Test("fetch starts at the requested offset, is empty at the end, and names unknown partitions")
    func offsetsAndErrorsOnTansu() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("fetch-offsets")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 2)
        // Most likely one batch of 10 (a long linger): a fetch from the middle of it must drop the records
        // before the offset. The expectations hold however librdkafka batched them.
        try await RdKafkaTool.produce(
            bootstrap: bootstrap, topic: topic, records: (0..<10).map { (key: nil, value: "r\($0)") }, partition: 1,
            compression: .lz4, lingerMilliseconds: 10_000)
        try await Self.withClient(bootstrap) { client in
            let fromSix = try await client.fetch(topic: topic, partition: 1, offset: 6)
            #expect(fromSix.map(\.offset) == [6, 7, 8, 9])
            #expect(fromSix.map(\.valueString) == ["r6", "r7", "r8", "r9"])
            #expect(try await client.fetch(topic: topic, partition: 1, offset: 10).isEmpty)
            #expect(try await client.fetch(topic: topic, partition: 0, offset: 0).isEmpty)
            let error = await #expect(throws: KafkaError.self) {
                try await client.fetch(topic: topic, partition: 5, offset: 0)
            }
            #expect(error?.code == .unknownTopicOrPartition)
            let missing = await #expect(throws: KafkaError.self) {
                try await client.fetch(topic: TestBrokers.uniqueName("no-such-topic"), partition: 0, offset: 0)
            }
            #expect(missing?.code == .unknownTopicOrPartition)
            // A small max bytes still returns at least the first batch (KIP-74), never an error.
            let small = try await client.fetch(topic: topic, partition: 1, offset: 0, options: KafkaFetchOptions(maxBytes: 1))
            #expect(small.first?.offset == 0)
        }
    }

    @Test("a fetch reports the partition's high watermark, last stable offset and log start offset (Tansu)")
    func watermarksOnTansu() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("fetch-watermarks")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 1)
        try await RdKafkaTool.produce(
            bootstrap: bootstrap, topic: topic, records: (0..<15).map { (key: nil, value: "r\($0)") }, partition: 0)
        try await Self.withClient(bootstrap) { client in
            for offset: Int64 in [0, 15] {
                let position = KafkaFetchPosition(topic: topic, partition: 0, offset: offset)
                let fetched = try #require(try await client.fetchPartitions([position])[position]?.get())
                #expect(fetched.nextOffset == 15)
                #expect(fetched.highWatermark == 15)
                #expect(fetched.lastStableOffset == 15)
                #expect(fetched.logStartOffset == 0)
                #expect(fetched.lag == 0)
            }
        }
    }

    @Test("a fetch that stops short of the end reports the records left as its lag (mock cluster)")
    func lagOnMockCluster() async throws {
        let cluster = try await MockCluster.create(brokers: 1)
        defer { Task { try? await cluster.destroy() } }
        let topic = "fetch-lag"
        try await cluster.createTopic(topic, partitions: 1, replicationFactor: 1)
        // At least two batches (two producer calls, 10 records then 5): a fetch limited to 1 byte returns the
        // first batch only (KIP-74). How librdkafka batches the first call is its own affair: in clean-clone CI
        // runs its first record went alone, even with a long linger, so the expectations follow from the
        // batch the fetch returned.
        for range in [0..<10, 10..<15] {
            try await RdKafkaTool.produce(
                bootstrap: cluster.bootstrap, topic: topic, records: range.map { (key: nil, value: "r\($0)") }, partition: 0,
                lingerMilliseconds: 10_000)
        }
        try await Self.withClient(cluster.bootstrap) { client in
            let position = KafkaFetchPosition(topic: topic, partition: 0, offset: 0)
            let first = try #require(
                try await client.fetchPartitions([position], options: KafkaFetchOptions(maxBytes: 1))[position]?.get())
            #expect(first.highWatermark == 15)
            #expect(first.nextOffset > 0 && first.nextOffset <= 10, "stops after the first batch")
            #expect(first.records.map(\.offset) == Array(0..<first.nextOffset))
            #expect(first.lag == 15 - first.nextOffset)
        }
    }

    @Test("8 partitions of 1 MiB make three requests to one broker (two on their own connections), all answered exactly")
    func requestsOfOneCallOnSeveralConnections() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("fetch-lanes")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 8)
        for partition: Int32 in 0..<8 {
            try await RdKafkaTool.produce(
                bootstrap: bootstrap, topic: topic, records: (0..<5).map { (key: "p\(partition)", value: "v\(partition)-\($0)") },
                partition: partition)
        }
        try await Self.withClient(bootstrap) { client in
            // 8 x 1 MiB against the default 5,000,000 B per request: two requests; 3 MiB per partition: three
            // (lanes 0, 1, then 0 again, pipelined). Each round must still answer every partition exactly.
            for maxBytes in [1 << 20, 3 << 20, 1 << 20] {
                let positions = (0..<8).map { KafkaFetchPosition(topic: topic, partition: Int32($0), offset: 1) }
                let results = await client.fetch(positions, options: KafkaFetchOptions(maxBytes: maxBytes))
                #expect(results.count == 8)
                for position in positions {
                    let records = try #require(try results[position]?.get())
                    #expect(records.map(\.offset) == [1, 2, 3, 4])
                    #expect(records.map(\.valueString) == (1..<5).map { "v\(position.partition)-\($0)" })
                }
            }
        }
    }

    @Test("fetchAsync delivers to a callback and to an async sequence")
    func fetchAsyncOnTansu() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("fetch-async")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 2)
        for p: Int32 in 0..<2 {
            try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, records: [(key: nil, value: "a\(p)"), (key: nil, value: "b\(p)")], partition: p)
        }
        try await Self.withClient(bootstrap) { client in
            let (stream, continuation) = AsyncStream<Result<[KafkaRecord], KafkaError>>.makeStream()
            try client.fetchAsync(topic: topic, partition: 1, offset: 1) { result in
                continuation.yield(result)
                continuation.finish()
            }
            var callbackResults: [Result<[KafkaRecord], KafkaError>] = []
            for await result in stream { callbackResults.append(result) }
            #expect(callbackResults.count == 1)
            #expect(try callbackResults.first?.get().map(\.valueString) == ["b1"])

            let positions = [KafkaFetchPosition(topic: topic, partition: 0, offset: 0), KafkaFetchPosition(topic: topic, partition: 1, offset: 0)]
            var seen: [KafkaFetchPosition: [String?]] = [:]
            for await (position, result) in try client.fetchAsync(positions) {
                seen[position] = try result.get().map(\.valueString)
            }
            #expect(seen == [positions[0]: ["a0", "b0"], positions[1]: ["a1", "b1"]])
        }
    }

    @Test("several partitions on several brokers in one call, then a leader move is followed")
    func multiPartitionAndLeaderMoveOnMockCluster() async throws {
        let cluster = try await MockCluster.create(brokers: 3)
        do {
            try await multiPartitionAndLeaderMove(cluster)
        } catch {
            try? await cluster.destroy()
            throw error
        }
        try await cluster.destroy()
    }

    private func multiPartitionAndLeaderMove(_ cluster: MockCluster) async throws {
        let topic = "fetch-multi"
        try await cluster.createTopic(topic, partitions: 4, replicationFactor: 3)
        // Partitions 0 and 1 on broker 1, 2 on broker 2, 3 on broker 3.
        for (partition, broker) in [(0, 1), (1, 1), (2, 2), (3, 3)] as [(Int32, Int32)] {
            try await cluster.setLeader(topic: topic, partition: partition, broker: broker)
        }
        for partition: Int32 in 0..<4 {
            try await RdKafkaTool.produce(
                bootstrap: cluster.bootstrap, topic: topic, records: (0..<3).map { (key: "p\(partition)", value: "v\(partition)-\($0)") },
                partition: partition, lingerMilliseconds: 5_000)
        }
        // One batch per partition (the long linger ends at the tool's flush): the mock answers a Fetch with
        // one batch per partition, so records split over two batches would need two fetches.
        try await Self.withClient(cluster.bootstrap) { client in
            let positions = (0..<4).map { KafkaFetchPosition(topic: topic, partition: Int32($0), offset: 1) }
            let results = await client.fetch(positions)
            #expect(results.count == 4)
            for position in positions {
                let records = try #require(try results[position]?.get())
                #expect(records.map(\.offset) == [1, 2])
                #expect(records.map(\.valueString) == ["v\(position.partition)-1", "v\(position.partition)-2"])
            }

            // Move partition 2's leadership to broker 3: the client's metadata is stale, broker 2 answers
            // NOT_LEADER_OR_FOLLOWER, and the fetch must still succeed after a refresh.
            try await cluster.setLeader(topic: topic, partition: 2, broker: 3)
            let moved = try await client.fetch(topic: topic, partition: 2, offset: 0)
            #expect(moved.map(\.valueString) == ["v2-0", "v2-1", "v2-2"])
            #expect(client.clusterMetadata.topic(topic)?.partition(2)?.leaderID == 3)
        }
    }
}

import Foundation
@testable import Klife
import Logging
import Testing

/// Which connections concurrent fetch calls to one broker use (see `FetchExecutor.connection(toBroker:)`):
/// both lanes on uncompressed data, the general connection only on compressed data.
@Suite("Fetch lanes", .serialized)
struct FetchLaneTests {
    /// Holds each request at the broker (minBytes never reached) for `maxWait`, so that two concurrent calls
    /// are surely in flight together.
    static let longPoll = KafkaFetcherConfiguration(name: "long-poll", maxWait: .milliseconds(1500), minBytes: 1 << 30)

    /// Fetches `topic` once from offset 0 (which tells the client whether the broker's data is compressed),
    /// then makes two concurrent long-polling calls at the end of the log, lazy and eager; returns how many
    /// fetches the general connection and the extra lane carried during those two calls.
    static func concurrentCalls(topic: String, count: Int64, bootstrap: String) async throws -> (general: Int, lane: Int) {
        var configuration = try FetchTests.configuration(bootstrap)
        configuration.fetchers = [longPoll]
        return try await KafkaClient.withRunningClient(configuration: configuration, logger: Logger(label: "klife-test")) { client in
            let start = KafkaFetchPosition(topic: topic, partition: 0, offset: 0)
            let first = try #require(try await client.fetchPartitions([start], options: KafkaFetchOptions(decompression: .lazy))[start]?.get())
            #expect(first.nextOffset == count)
            let leader = try #require(client.clusterMetadata.leader(of: KafkaTopicPartition(topic: topic, partition: 0)))
            let general = try await client.cluster.connection(toBroker: leader.nodeID)
            let lane = try await client.cluster.pool.fetchLaneConnection(
                to: leader.address, brokerID: leader.nodeID, lane: 1, eventLoop: general.eventLoop)
            let before = (general.fetchesSent.load(ordering: .relaxed), lane.fetchesSent.load(ordering: .relaxed))
            let end = KafkaFetchPosition(topic: topic, partition: 0, offset: count)
            async let lazy = client.fetchPartitions([end], options: KafkaFetchOptions(fetcher: longPoll.name, decompression: .lazy))
            async let eager = client.fetch([end], options: KafkaFetchOptions(fetcher: longPoll.name))
            let (a, b) = await (lazy, eager)
            #expect(try a[end]?.get().batches.isEmpty == true)
            #expect(try b[end]?.get().isEmpty == true)
            #expect(general.fetchesInFlight.load(ordering: .relaxed) == 0 && lane.fetchesInFlight.load(ordering: .relaxed) == 0)
            return (general.fetchesSent.load(ordering: .relaxed) - before.0, lane.fetchesSent.load(ordering: .relaxed) - before.1)
        }
    }

    @Test("two concurrent calls to one broker use both lanes on uncompressed data, one on compressed data", arguments: ["none", "lz4"])
    func concurrentCallsUseLanesOnlyWhenUncompressed(codec: String) async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("fetch-lanes-\(codec)")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 1)
        try await RdKafkaTool.produce(
            bootstrap: bootstrap, topic: topic, records: (0..<10).map { (key: nil, value: "value-\($0)") }, partition: 0,
            compression: RdKafkaTool.Compression(rawValue: codec)!)
        let (general, lane) = try await Self.concurrentCalls(topic: topic, count: 10, bootstrap: bootstrap)
        if codec == "none" {
            #expect(general == 1 && lane == 1)
        } else {
            #expect(general == 2 && lane == 0)
        }
    }
}

import Foundation
@testable import Klife
import Logging
import Synchronization
import Testing

/// A fetch lane that cannot be dialled (see `FetchExecutor.connection(toBroker:)`): the request goes on the
/// broker's general connection instead of failing. The broker sits behind a ``SoakCuttingProxy`` (cutting
/// nothing) that starts closing new connections once the client has its general connection, so the lane's
/// dial really fails on the network.
@Suite("Fetch lane fallback", .serialized)
struct FetchLaneFallbackTests {
    /// Holds each request at the broker (minBytes never reached) for `maxWait`: the calls overlap, so all
    /// but the first find the general connection busy and reach for the lane.
    /// The first call's long poll is the window in which the others must find the general connection busy and
    /// fall back to it: 1.5 s was too short once in a loaded clean-clone CI run (they joined only after it ended).
    static let longPoll = KafkaFetcherConfiguration(name: "long-poll", maxWait: .seconds(4), minBytes: 1 << 30)

    @Test("concurrent fetches succeed on the general connection when the broker refuses the lane's connection")
    func refusedLaneFallsBackToGeneralConnection() async throws {
        let tansuPort = Mutex<Int?>(nil)
        let proxy = try await SoakCuttingProxy.start(
            policy: .init(produceCutProbability: 0), seed: 1, targetPort: { tansuPort.withLock { $0 } })
        let name = TestBrokers.uniqueName("tansu-lane-refused")
        let tansu = TansuControl(name: name)
        do {
            let started = try await ScriptProcess.run(
                "/bin/bash", [try TestBrokers.scripts + "/tansu.sh", "start", "--name", name, "--advertise", proxy.address], timeout: 60)
            let listen = try TestBrokers.hostAndPort(started.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines))
            tansuPort.withLock { $0 = listen.port }
            try await run(proxy: proxy)
        } catch {
            await proxy.stop()
            try? await tansu.stop()
            throw error
        }
        await proxy.stop()
        try await tansu.stop()
    }

    private func run(proxy: SoakCuttingProxy) async throws {
        let topic = TestBrokers.uniqueName("fetch-lane-refused")
        let count: Int64 = 10
        try await RdKafkaTool.createTopic(bootstrap: proxy.address, topic: topic, partitions: 1)
        try await RdKafkaTool.produce(
            bootstrap: proxy.address, topic: topic, records: (0..<count).map { (key: nil, value: "value-\($0)") }, partition: 0)

        var configuration = try FetchTests.configuration(proxy.address)
        configuration.fetchers = [Self.longPoll]
        configuration.connection.connectTimeout = .seconds(5)
        var logger = Logger(label: "klife-test")
        if ProcessInfo.processInfo.environment["KLIFE_TEST_DEBUG"] != nil { logger.logLevel = .debug }
        try await KafkaClient.withRunningClient(configuration: configuration, logger: logger) { client in
            // Uncompressed data seen: from now on a fetch that finds the general connection busy takes the lane.
            let start = KafkaFetchPosition(topic: topic, partition: 0, offset: 0)
            let first = try #require(try await client.fetchPartitions([start], options: KafkaFetchOptions(decompression: .lazy))[start]?.get())
            #expect(first.nextOffset == count)
            let leader = try #require(client.clusterMetadata.leader(of: KafkaTopicPartition(topic: topic, partition: 0)))
            let general = try await client.cluster.connection(toBroker: leader.nodeID)
            let uncompressedSeen = general.lastFetchWasUncompressed.load(ordering: .relaxed)
            #expect(uncompressedSeen)

            proxy.refuseNewConnections()
            let sentBefore = general.fetchesSent.load(ordering: .relaxed)
            let end = KafkaFetchPosition(topic: topic, partition: 0, offset: count)
            // Three overlapping calls: the first takes the general connection, the others find it busy and
            // dial the lane, which the proxy refuses.
            async let lazy = client.fetchPartitions([end], options: KafkaFetchOptions(fetcher: Self.longPoll.name, decompression: .lazy))
            async let eager = client.fetch([end], options: KafkaFetchOptions(fetcher: Self.longPoll.name))
            async let eagerBatches = client.fetchPartitions([end], options: KafkaFetchOptions(fetcher: Self.longPoll.name))
            // While the first call's long poll holds the general connection, the others join it there (they
            // take a connection before sending). Without the fallback none can: its count never exceeds 1.
            var mostInFlight = 0
            let deadline = ContinuousClock.now + Self.longPoll.maxWait
            while mostInFlight < 3, ContinuousClock.now < deadline {
                mostInFlight = max(mostInFlight, general.fetchesInFlight.load(ordering: .relaxed))
                try await Task.sleep(for: .milliseconds(2))
            }
            let (a, b, c) = await (lazy, eager, eagerBatches)
            #expect(mostInFlight >= 2, "fetches in flight together on the general connection: \(mostInFlight)")
            #expect(try a[end]?.get().batches.isEmpty == true)
            #expect(try b[end]?.get().isEmpty == true)
            #expect(try c[end]?.get().records.isEmpty == true)

            // All three went on the general connection, and the lane was really dialled and refused.
            #expect(general.fetchesSent.load(ordering: .relaxed) - sentBefore == 3)
            #expect(general.fetchesInFlight.load(ordering: .relaxed) == 0)
            #expect(proxy.counts.refused >= 1, "\(proxy.counts)")
            await #expect(throws: KafkaError.self) {
                try await client.cluster.pool.fetchLaneConnection(
                    to: leader.address, brokerID: leader.nodeID, lane: 1, eventLoop: general.eventLoop)
            }
        }
    }
}

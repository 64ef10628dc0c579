import Foundation
import KafkaProtocol
import Klife
import Logging
import NIOCore
import NIOPosix
import Testing

/// The connection layer against real brokers started by the test command (`make test`): Tansu, the
/// librdkafka mock cluster, and an stunnel TLS proxy in front of Tansu (server-TLS and mutual-TLS ports).
/// A missing broker fails the test.
@Suite struct ConnectionIntegrationTests {
    let group = MultiThreadedEventLoopGroup.singleton
    let logger = Logger(label: "klife.tests.connection-integration")

    func address(_ bootstrap: String) throws -> KafkaConnectionConfiguration.BrokerAddress {
        try KafkaConnectionConfiguration.BrokerAddress.parseList(bootstrap)[0]
    }

    func connect(
        _ address: KafkaConnectionConfiguration.BrokerAddress, tls: KafkaConnectionConfiguration.TLS? = nil
    ) async throws -> KafkaConnection {
        let configuration = KafkaConnectionConfiguration(bootstrapServers: [address], tls: tls, connectTimeout: .seconds(10))
        try configuration.validate()
        return try await KafkaConnection.connect(to: address, configuration: configuration, eventLoopGroup: group, logger: logger)
    }

    @Test func tansuNegotiatesVersionsAndAnswersMetadata() async throws {
        let connection = try await connect(try address(TestBrokers.tansuBootstrap))
        // Tansu advertises every key from v0; the policy keeps us off its broken versions.
        #expect(connection.negotiatedVersion(for: MetadataRequest.apiKey) == 12)
        #expect(connection.negotiatedVersion(for: ApiVersionsRequest.apiKey) == 4)
        #expect(connection.negotiatedVersion(for: InitProducerIdRequest.apiKey).map { $0 >= 3 } == true)
        #expect(connection.negotiatedVersion(for: ListOffsetsRequest.apiKey).map { $0 >= 1 } == true)
        #expect(connection.negotiatedVersion(for: OffsetCommitRequest.apiKey) != 1)
        #expect(connection.negotiatedVersion(for: OffsetForLeaderEpochRequest.apiKey) == nil)  // not advertised
        let metadata = try await connection.send(MetadataRequest(topics: nil))
        #expect(metadata.brokers.map(\.nodeId) == [111])
        // Pipelined requests at several versions on one connection.
        let responses = try await withThrowingTaskGroup(of: Int32.self) { group in
            for version: Int16 in [1, 4, 9, 12, 12, 12] {
                group.addTask { try await connection.send(MetadataRequest(topics: []), version: version).controllerId }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(responses.count == 6)
        await connection.close()
    }

    @Test func mockClusterAnswersMetadata() async throws {
        let connection = try await connect(try address(TestBrokers.mockBootstrap))
        let metadata = try await connection.send(MetadataRequest(topics: nil))
        #expect(!metadata.brokers.isEmpty)
        #expect(connection.negotiatedVersion(for: ProduceRequest.apiKey) != nil)
        await connection.close()
    }

    @Test func requestTimeoutIsHonoured() async throws {
        let connection = try await connect(try address(TestBrokers.tansuBootstrap))
        let topic = TestBrokers.uniqueName("klife-conn-timeout")
        let created = try await connection.send(CreateTopicsRequest(
            topics: [.init(name: topic, numPartitions: 1, replicationFactor: 1)], timeoutMs: 10_000
        ))
        #expect(created.topics.first?.errorCode == 0)
        // A fetch at the end of an empty partition is parked by the broker for maxWaitMs (30 s).
        var fetch = FetchRequest(maxWaitMs: 30_000, minBytes: 1, maxBytes: 1 << 20)
        fetch.topics = [.init(topic: topic, partitions: [.init(partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20)])]
        let started = ContinuousClock.now
        let error = await #expect(throws: KafkaError.self) {
            try await connection.send(fetch, version: 12, timeout: .milliseconds(500))
        }
        let elapsed = ContinuousClock.now - started
        #expect(error?.code == .requestTimedOut)
        #expect(error?.isRetriable == true)
        #expect(elapsed >= .milliseconds(500) && elapsed < .seconds(20), "took \(elapsed)")
        #expect(await connection.waitUntilClosed().code == .connectionClosed)

        let cleanup = try await connect(try address(TestBrokers.tansuBootstrap))
        _ = try? await cleanup.send(DeleteTopicsRequest(topicNames: [topic], timeoutMs: 10_000), version: 5)
        await cleanup.close()
    }

    @Test func tls() async throws {
        let connection = try await connect(
            try address(TestBrokers.tlsBootstrap), tls: .init(caCertificateFile: try TestBrokers.tlsCAFile)
        )
        let metadata = try await connection.send(MetadataRequest(topics: nil))
        #expect(!metadata.brokers.isEmpty)
        await connection.close()
    }

    @Test func wrongCAGivesAClearTLSError() async throws {
        let address = try address(TestBrokers.tlsBootstrap)
        let wrongCA = try TestBrokers.tlsWrongCAFile
        let error = await #expect(throws: KafkaError.self) {
            try await connect(address, tls: .init(caCertificateFile: wrongCA))
        }
        #expect(error?.code == .tlsHandshakeFailed)
        #expect(error?.message.contains("TLS") == true)
        #expect(error?.isRetriable == false)
    }

    @Test func mutualTLS() async throws {
        let address = try address(TestBrokers.mtlsBootstrap)
        let tls = KafkaConnectionConfiguration.TLS(
            caCertificateFile: try TestBrokers.tlsCAFile,
            clientCertificateFile: try TestBrokers.tlsClientCertFile,
            clientPrivateKeyFile: try TestBrokers.tlsClientKeyFile
        )
        let connection = try await connect(address, tls: tls)
        #expect(try await connection.send(MetadataRequest(topics: nil)).brokers.isEmpty == false)
        await connection.close()

        // Without a client certificate the proxy refuses the handshake.
        let error = await #expect(throws: KafkaError.self) {
            try await connect(address, tls: .init(caCertificateFile: tls.caCertificateFile))
        }
        #expect(error?.code == .tlsHandshakeFailed)
        #expect(error?.message.contains("client certificate") == true)

        // A client certificate from another CA is rejected too.
        let wrong = KafkaConnectionConfiguration.TLS(
            caCertificateFile: tls.caCertificateFile,
            clientCertificateFile: try TestBrokers.tlsWrongClientCertFile,
            clientPrivateKeyFile: try TestBrokers.tlsWrongClientKeyFile
        )
        let wrongError = await #expect(throws: KafkaError.self) { try await connect(address, tls: wrong) }
        #expect(wrongError?.code == .tlsHandshakeFailed || wrongError?.code == .connectionClosed)
    }

    @Test func slowBrokerTimesOut() async throws {
        let cluster = try await MockCluster.create(brokers: 1)
        defer { Task { try? await cluster.destroy() } }
        let connection = try await connect(try address(cluster.bootstrap))
        try await cluster.setRTT(broker: 1, milliseconds: 20_000)
        let started = ContinuousClock.now
        let error = await #expect(throws: KafkaError.self) {
            try await connection.send(MetadataRequest(topics: []), timeout: .milliseconds(300))
        }
        #expect(error?.code == .requestTimedOut)
        // Well below the 20 s RTT: the timeout fired, the response was not awaited (generous for loaded CI machines).
        #expect(ContinuousClock.now - started < .seconds(15))
    }

    @Test func fetchLaneIsAnExtraConnectionOnTheRequestedEventLoop() async throws {
        let address = try address(try TestBrokers.tansuBootstrap)
        let pool = try BrokerConnectionPool(configuration: .init(bootstrapServers: [address]), eventLoopGroup: group, logger: logger)
        let general = try await pool.connection(to: address)
        let lane = try await pool.fetchLaneConnection(to: address, lane: 1, eventLoop: general.eventLoop)
        #expect(lane !== general)
        #expect(lane.eventLoop === general.eventLoop)
        // Reused on the next call; another lane is another connection; the general slot is not a lane.
        #expect(try await pool.fetchLaneConnection(to: address, lane: 1) === lane)
        let second = try await pool.fetchLaneConnection(to: address, lane: 2, eventLoop: general.eventLoop)
        #expect(second !== lane && second !== general)
        #expect(try await pool.connection(to: address) === general)
        #expect(try await lane.send(MetadataRequest(topics: [])).brokers.count == 1)
        await pool.shutdown()
        #expect(!lane.isActive)
        #expect(!second.isActive)
    }

    @Test func poolReconnectsAfterTheBrokerRestarts() async throws {
        let (tansu, bootstrap) = try await TansuControl.startPrivate(prefix: "klife-conn")
        defer { Task { try? await tansu.stop() } }
        let address = try address(bootstrap)
        let pool = try BrokerConnectionPool(
            configuration: .init(
                bootstrapServers: [address], connectTimeout: .seconds(5),
                reconnectBackoff: .milliseconds(50), reconnectBackoffMax: .milliseconds(500)
            ),
            eventLoopGroup: group, logger: logger
        )
        let first = try await pool.connection(to: address, brokerID: 111)
        #expect(try await first.send(MetadataRequest(topics: [])).brokers.map(\.nodeId) == [111])

        try await tansu.kill()
        let lost = await first.waitUntilClosed()
        #expect(lost.code == .connectionClosed)
        #expect(lost.isRetriable)
        // While the broker is down, connecting fails with a retriable error.
        do {
            _ = try await pool.connection(to: address, brokerID: 111)
            Issue.record("connected to a killed broker")
        } catch let error as KafkaError {
            #expect(error.code == .connectionFailed)
            #expect(error.isRetriable)
        }

        _ = try await tansu.restart()
        // The pool dials again once its backoff has passed; give it a few attempts.
        let deadline = ContinuousClock.now + .seconds(20)
        var second: KafkaConnection?
        while second == nil, ContinuousClock.now < deadline {
            second = try? await pool.connection(to: address, brokerID: 111)
        }
        let reconnected = try #require(second)
        #expect(reconnected !== first)
        #expect(try await reconnected.send(MetadataRequest(topics: [])).brokers.map(\.nodeId) == [111])
        await pool.shutdown()
    }
}

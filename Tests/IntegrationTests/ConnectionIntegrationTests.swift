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

    /// The environment variable's value, or a failure naming it.
    func env(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            throw KafkaError(.invalidConfiguration, "\(name) is not set: run the integration tests through the test command (make test)")
        }
        return value
    }

    func address(_ variable: String) throws -> KafkaConnectionConfiguration.BrokerAddress {
        try KafkaConnectionConfiguration.BrokerAddress.parseList(try env(variable))[0]
    }

    func connect(
        _ address: KafkaConnectionConfiguration.BrokerAddress, tls: KafkaConnectionConfiguration.TLS? = nil
    ) async throws -> KafkaConnection {
        let configuration = KafkaConnectionConfiguration(bootstrapServers: [address], tls: tls, connectTimeout: .seconds(10))
        try configuration.validate()
        return try await KafkaConnection.connect(to: address, configuration: configuration, eventLoopGroup: group, logger: logger)
    }

    @Test func tansuNegotiatesVersionsAndAnswersMetadata() async throws {
        let connection = try await connect(try address("KLIFE_TANSU_BOOTSTRAP"))
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
        let connection = try await connect(try address("KLIFE_MOCK_BOOTSTRAP"))
        let metadata = try await connection.send(MetadataRequest(topics: nil))
        #expect(!metadata.brokers.isEmpty)
        #expect(connection.negotiatedVersion(for: ProduceRequest.apiKey) != nil)
        await connection.close()
    }

    @Test func requestTimeoutIsHonoured() async throws {
        let connection = try await connect(try address("KLIFE_TANSU_BOOTSTRAP"))
        let topic = "klife-conn-timeout-\(UInt32.random(in: 0...UInt32.max))"
        let created = try await connection.send(CreateTopicsRequest(
            topics: [.init(name: topic, numPartitions: 1, replicationFactor: 1)], timeoutMs: 10_000
        ))
        #expect(created.topics.first?.errorCode == 0)
        // A fetch at the end of an empty partition is parked by the broker for maxWaitMs (5 s).
        var fetch = FetchRequest(maxWaitMs: 5_000, minBytes: 1, maxBytes: 1 << 20)
        fetch.topics = [.init(topic: topic, partitions: [.init(partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20)])]
        let started = ContinuousClock.now
        let error = await #expect(throws: KafkaError.self) {
            try await connection.send(fetch, version: 12, timeout: .milliseconds(500))
        }
        let elapsed = ContinuousClock.now - started
        #expect(error?.code == .requestTimedOut)
        #expect(error?.isRetriable == true)
        #expect(elapsed >= .milliseconds(500) && elapsed < .seconds(4), "took \(elapsed)")
        #expect(await connection.waitUntilClosed().code == .connectionClosed)

        let cleanup = try await connect(try address("KLIFE_TANSU_BOOTSTRAP"))
        _ = try? await cleanup.send(DeleteTopicsRequest(topicNames: [topic], timeoutMs: 10_000), version: 5)
        await cleanup.close()
    }

    @Test func tls() async throws {
        let connection = try await connect(
            try address("KLIFE_TLS_BOOTSTRAP"), tls: .init(caCertificateFile: try env("KLIFE_TLS_CA_FILE"))
        )
        let metadata = try await connection.send(MetadataRequest(topics: nil))
        #expect(!metadata.brokers.isEmpty)
        await connection.close()
    }

    @Test func wrongCAGivesAClearTLSError() async throws {
        let address = try address("KLIFE_TLS_BOOTSTRAP")
        let wrongCA = try env("KLIFE_TLS_WRONG_CA_FILE")
        let error = await #expect(throws: KafkaError.self) {
            try await connect(address, tls: .init(caCertificateFile: wrongCA))
        }
        #expect(error?.code == .tlsHandshakeFailed)
        #expect(error?.message.contains("TLS") == true)
        #expect(error?.isRetriable == false)
    }

    @Test func mutualTLS() async throws {
        let address = try address("KLIFE_MTLS_BOOTSTRAP")
        let tls = KafkaConnectionConfiguration.TLS(
            caCertificateFile: try env("KLIFE_TLS_CA_FILE"),
            clientCertificateFile: try env("KLIFE_TLS_CLIENT_CERT_FILE"),
            clientPrivateKeyFile: try env("KLIFE_TLS_CLIENT_KEY_FILE")
        )
        let connection = try await connect(address, tls: tls)
        #expect(try await connection.send(MetadataRequest(topics: nil)).brokers.isEmpty == false)
        await connection.close()

        // Without a client certificate the proxy refuses the handshake.
        let error = await #expect(throws: KafkaError.self) {
            try await connect(address, tls: .init(caCertificateFile: tls.caCertificateFile))
        }
        #expect(error?.code == .tlsHandshakeFailed || error?.code == .connectionClosed)
    }
}

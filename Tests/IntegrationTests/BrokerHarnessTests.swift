import Foundation
import Testing

/// Proves the test-broker harness itself works, so a failing client test points at the client.
@Suite("Broker harness")
struct BrokerHarnessTests {
    @Test("every broker variable that make test sets is present and well-formed")
    func environmentIsComplete() throws {
        for address in [
            try TestBrokers.tansuBootstrap, try TestBrokers.tansuKillableBootstrap,
            try TestBrokers.tlsBootstrap, try TestBrokers.mtlsBootstrap, try TestBrokers.mockControl,
        ] {
            let (host, port) = try TestBrokers.hostAndPort(address)
            #expect(host == "127.0.0.1")
            #expect(port > 0 && port < 65536)
        }
        #expect(try TestBrokers.mockBootstrap.split(separator: ",").count == 3)
        for file in [
            try TestBrokers.tlsCAFile, try TestBrokers.tlsWrongCAFile, try TestBrokers.tlsClientCertFile,
            try TestBrokers.tlsClientKeyFile, try TestBrokers.tlsWrongClientCertFile,
            try TestBrokers.tlsWrongClientKeyFile, try TestBrokers.python,
        ] {
            #expect(FileManager.default.fileExists(atPath: file), "missing \(file)")
        }
        #expect(FileManager.default.fileExists(atPath: try TestBrokers.scripts + "/tansu.sh"))
        #expect(!(try TestBrokers.tansuKillableName).isEmpty)
    }

    @Test("a missing variable fails the test with a message saying to run make test")
    func missingVariableExplainsItself() {
        #expect {
            try TestBrokers.value("KLIFE_NO_SUCH_BROKER")
        } throws: { error in
            "\(error)".contains("KLIFE_NO_SUCH_BROKER") && "\(error)".contains("make test")
        }
    }

    @Test("a committed librdkafka transaction on Tansu is visible to a read_committed consumer")
    func rdkafkaToolTransactionOnTansu() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("harness-txn")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 1)
        try await RdKafkaTool.produce(
            bootstrap: bootstrap, topic: topic, records: [(key: "k", value: "committed")],
            transactionalID: TestBrokers.uniqueName("txn"))
        let records = try await RdKafkaTool.consume(
            bootstrap: bootstrap, topic: topic, isolation: .readCommitted, count: 1)
        #expect(records.map(\.valueString) == ["committed"])
    }

    @Test("a mock cluster can be created, driven and destroyed over the control port")
    func mockClusterRoundTrip() async throws {
        let cluster = try await MockCluster.create(brokers: 3)
        #expect(cluster.brokerAddresses.count == 3)
        // Metadata lists the three brokers with ids 1…3 at the bootstrap addresses.
        let brokers = try await ping(cluster.brokerAddresses[0])
        #expect(brokers == Set(cluster.brokerAddresses.enumerated().map { "\($0.offset + 1) \($0.element)" }))

        try await cluster.createTopic("orders", partitions: 3, replicationFactor: 3)
        try await cluster.setLeader(topic: "orders", partition: 0, broker: 2)
        try await cluster.setFollower(topic: "orders", partition: 0, broker: 3)
        try await cluster.setRTT(broker: 1, milliseconds: 5)
        try await cluster.pushErrors(apiKey: 0, codes: [6, 6])
        try await cluster.clearErrors(apiKey: 0)
        try await cluster.pushBrokerErrors(broker: 2, apiKey: 1, errors: [(code: 6, rttMilliseconds: 10)])
        try await cluster.setCoordinator(.group, key: "g1", broker: 3)
        try await cluster.setApiVersion(apiKey: 3, min: 0, max: 12)
        try await cluster.setInitialRebalanceDelay(milliseconds: 0)

        try await cluster.down(broker: 2)
        await #expect(throws: (any Error).self) { try await ping(cluster.brokerAddresses[1]) }
        try await cluster.up(broker: 2)
        try await eventually { try await ping(cluster.brokerAddresses[1]).count == 3 }

        // Bad commands are reported, not ignored.
        await #expect(throws: MockClusterControl.CommandFailed.self) {
            try await cluster.setLeader(topic: "orders", partition: 0, broker: 99)
        }
        try await cluster.destroy()
        await #expect(throws: MockClusterControl.CommandFailed.self) { try await cluster.down(broker: 1) }
    }

    @Test("clusters are independent of each other")
    func mockClustersAreIndependent() async throws {
        let a = try await MockCluster.create(brokers: 1)
        let b = try await MockCluster.create(brokers: 2)
        #expect(a.id != b.id)
        #expect(Set(a.brokerAddresses).isDisjoint(with: b.brokerAddresses))
        try await a.down(broker: -1)
        #expect(try await ping(b.brokerAddresses[0]).count == 2)
        try await a.destroy()
        try await b.destroy()
    }

    @Test("librdkafka produces to and consumes from Tansu through rdkafka_tool.py")
    func rdkafkaToolAgainstTansu() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("harness")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 2)
        let deliveries = try await RdKafkaTool.produce(
            bootstrap: bootstrap, topic: topic, records: [(key: "k1", value: "v1"), (key: nil, value: "v2")],
            partition: 1, headers: [("h", "x")])
        #expect(deliveries.map(\.offset) == [0, 1])
        #expect(deliveries.allSatisfy { $0.partition == 1 && $0.topic == topic })

        let records = try await RdKafkaTool.consume(bootstrap: bootstrap, topic: topic, count: 2)
        #expect(records.map(\.keyString) == ["k1", nil])
        #expect(records.map(\.valueString) == ["v1", "v2"])
        #expect(records.map(\.offset) == [0, 1])
        #expect(records.allSatisfy { $0.headers == [.init(key: "h", value: Array("x".utf8))] })
        #expect(records.allSatisfy { $0.timestampType == "create" && $0.timestamp > 0 })
    }

    @Test("librdkafka produces to and consumes from a mock cluster, with a group")
    func rdkafkaToolAgainstMockCluster() async throws {
        let cluster = try await MockCluster.create(brokers: 3)
        try await cluster.setInitialRebalanceDelay(milliseconds: 0)
        try await cluster.createTopic("events", partitions: 3, replicationFactor: 3)
        let produced = try await RdKafkaTool.produce(
            bootstrap: cluster.bootstrap, topic: "events", count: 30, size: 16, compression: .zstd)
        #expect(produced == 30)
        let records = try await RdKafkaTool.consume(
            bootstrap: cluster.bootstrap, topic: "events", group: TestBrokers.uniqueName("group"),
            groupProtocol: .consumer, count: 30, timeoutMilliseconds: 30_000)
        #expect(records.count == 30)
        #expect(records.allSatisfy { $0.value == Array(repeating: UInt8(ascii: "x"), count: 16) })
        try await cluster.destroy()
    }

    @Test("partition-for matches Kafka's murmur2 partitioner")
    func partitionForMatchesMurmur2() async throws {
        let keys = ["a", "b", "hello", "key-1", "klife", "0123456789abcdef", "ü"]
        let picked = try await RdKafkaTool.partitionFor(keys: keys, partitions: 7)
        #expect(picked.count == keys.count)
        for key in keys {
            #expect(picked[key] == Self.murmur2Partition(Array(key.utf8), partitions: 7), "key \(key)")
        }
    }

    @Test("a Tansu broker can be killed and restarted on the same port")
    func tansuKillAndRestart() async throws {
        let (tansu, address) = try await TansuControl.startPrivate()
        #expect(try await ping(address).count == 1)
        try await tansu.kill()
        #expect(try await tansu.isRunning() == false)
        await #expect(throws: (any Error).self) { try await ping(address) }
        let again = try await tansu.restart()
        #expect(again == address)
        #expect(try await ping(address).count == 1)
        try await tansu.stop()
        #expect(try await tansu.isRunning() == false)
    }

    @Test("the TLS listener needs our CA; the mTLS listener also needs our client certificate")
    func tlsEndpoints() async throws {
        let ca = try TestBrokers.tlsCAFile
        let tls = try TestBrokers.tlsBootstrap, mtls = try TestBrokers.mtlsBootstrap
        // Metadata through the proxy advertises the proxy, so clients stay on TLS.
        #expect(try await ping(tls, ["--ca", ca]) == ["111 \(tls)"])
        await #expect(throws: ScriptProcess.Failure.self) {
            try await ping(tls, ["--ca", try TestBrokers.tlsWrongCAFile])
        }
        let cert = ["--cert", try TestBrokers.tlsClientCertFile, "--key", try TestBrokers.tlsClientKeyFile]
        #expect(try await ping(mtls, ["--ca", ca] + cert) == ["111 \(mtls)"])
        #expect(try await ping(mtls, ["--ca", ca, "--server-name", "localhost"] + cert) == ["111 \(mtls)"])
        await #expect(throws: ScriptProcess.Failure.self) { try await ping(mtls, ["--ca", ca]) }
        let wrong = ["--cert", try TestBrokers.tlsWrongClientCertFile, "--key", try TestBrokers.tlsWrongClientKeyFile]
        await #expect(throws: ScriptProcess.Failure.self) { try await ping(mtls, ["--ca", ca] + wrong) }
    }

    // MARK: Helpers

    /// Metadata through scripts/kafka_ping.py: the set of "id host:port" brokers the reply lists.
    private func ping(_ address: String, _ options: [String] = []) async throws -> Set<String> {
        let result = try await ScriptProcess.run(
            try TestBrokers.python, [try TestBrokers.scripts + "/kafka_ping.py", address] + options, timeout: 20)
        return Set(result.stdoutText.split(separator: "\n").map(String.init))
    }

    /// Polls `condition` until it holds or 10 s pass.
    private func eventually(_ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if (try? await condition()) == true { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("condition not met within 10 s")
    }

    /// Kafka's default partitioner for keyed records: murmur2 (seed 0x9747b28c), sign bit cleared, modulo.
    static func murmur2Partition(_ data: [UInt8], partitions: Int) -> Int32 {
        let m: UInt32 = 0x5bd1_e995
        var h: UInt32 = 0x9747_b28c ^ UInt32(data.count)
        let blocks = data.count / 4
        for i in 0..<blocks {
            var k = UInt32(data[4 * i]) | UInt32(data[4 * i + 1]) << 8 | UInt32(data[4 * i + 2]) << 16
                | UInt32(data[4 * i + 3]) << 24
            k &*= m
            k ^= k >> 24
            k &*= m
            h &*= m
            h ^= k
        }
        let tail = blocks * 4
        switch data.count % 4 {
        case 3:
            h ^= UInt32(data[tail + 2]) << 16
            fallthrough
        case 2:
            h ^= UInt32(data[tail + 1]) << 8
            fallthrough
        case 1:
            h ^= UInt32(data[tail])
            h &*= m
        default: break
        }
        h ^= h >> 13
        h &*= m
        h ^= h >> 15
        return Int32((h & 0x7fff_ffff) % UInt32(partitions))
    }
}

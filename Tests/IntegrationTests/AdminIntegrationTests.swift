import Klife
import Testing

/// Topic administration and offsets against Tansu.
@Suite struct AdminIntegrationTests {
    @Test func createListDescribeDelete() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let name = TestBrokers.uniqueName("admin")
        try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: bootstrap), logger: ClientTestSupport.logger) { client in
            #expect(client.isReady)
            #expect(client.clusterMetadata.sortedBrokers.count == 1)

            try await client.createTopic(name, partitions: 3, configs: ["retention.ms": "3600000"])
            // createTopic returns once the metadata shows leaders; the cache follows.
            let refreshed = try await client.refreshMetadata()
            #expect(refreshed.partitionCount(of: name) == 3)

            let listed = try await client.listTopics()
            #expect(listed.first { $0.name == name }?.partitionCount == 3)

            let described = try await client.describeTopic(name)
            #expect(described.name == name)
            #expect(described.partitions.map(\.partition) == [0, 1, 2])
            #expect(described.partitions.allSatisfy { $0.hasLeader && !$0.replicas.isEmpty })
            #expect(described.topicID != nil)

            await #expect(throws: KafkaError.self) { try await client.createTopic(name) }
            do {
                try await client.createTopic(name)
            } catch let error as KafkaError {
                #expect(error.code == .topicAlreadyExists)
                #expect(error.kafkaCode == 36)
            }

            let earliest = try await client.listOffsets(topic: name, at: .earliest)
            let latest = try await client.listOffsets(topic: name, at: .latest)
            #expect(earliest.keys.sorted() == [0, 1, 2])
            #expect(earliest.values.allSatisfy { $0.offset == 0 })
            #expect(latest.values.allSatisfy { $0.offset == 0 })
            let one = try await client.listOffsets(topic: name, partitions: [1], at: .latest, isolation: .readCommitted)
            #expect(one.keys.sorted() == [1])

            try await client.deleteTopic(name)
            let afterDelete = try await client.listTopics()
            #expect(!afterDelete.contains { $0.name == name })
            do {
                _ = try await client.describeTopic(name)
                Issue.record("describeTopic found a deleted topic")
            } catch let error as KafkaError {
                #expect(error.code == .unknownTopicOrPartition)
            }
            do {
                try await client.deleteTopic(name)
                Issue.record("deleting a deleted topic succeeded")
            } catch let error as KafkaError {
                #expect(error.code == .unknownTopicOrPartition)
            }
        }
    }

    @Test func invalidArgumentsAreRejectedBeforeSending() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: bootstrap), logger: ClientTestSupport.logger) { client in
            for bad in [KafkaClient.NewTopic(name: "bad topic!"), .init(name: "ok-name", partitions: 0), .init(name: "ok-name", replicationFactor: 0)] {
                do {
                    try await client.createTopics([bad])
                    Issue.record("createTopics accepted \(bad)")
                } catch let error as KafkaError {
                    #expect(error.code == .invalidArgument)
                }
            }
            do {
                _ = try await client.listOffsets(topic: TestBrokers.uniqueName("missing"), at: .earliest)
                Issue.record("listOffsets on a missing topic succeeded")
            } catch let error as KafkaError {
                #expect(error.code == .unknownTopicOrPartition)
            }
        }
    }

    @Test func unknownTopicsDisabledKeepsMetadataToConfiguredTopics() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let configured = TestBrokers.uniqueName("configured")
        let other = TestBrokers.uniqueName("other")
        try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: bootstrap), logger: ClientTestSupport.logger) { client in
            try await client.createTopics([.init(name: configured, partitions: 2), .init(name: other)])
        }
        var configuration = try ClientTestSupport.configuration(bootstrap: bootstrap)
        configuration.enableUnknownTopics = false
        configuration.topics = [KafkaTopicConfiguration(name: configured)]
        try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            let metadata = try await client.refreshMetadata()
            #expect(metadata.topics.keys.sorted() == [configured])
            #expect(metadata.partitionCount(of: configured) == 2)
            let offsets = try await client.listOffsets(topic: configured, at: .earliest)
            #expect(offsets.count == 2)
            do {
                _ = try await client.listOffsets(topic: other, at: .earliest)
                Issue.record("an unconfigured topic was accepted with unknown topics disabled")
            } catch let error as KafkaError {
                #expect(error.code == .unknownTopicOrPartition)
                #expect(error.message.contains("enableUnknownTopics"))
            }
        }
        try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: bootstrap), logger: ClientTestSupport.logger) { client in
            try await client.deleteTopics([configured, other])
        }
    }

    /// With unknown topics disabled, reading a topic configures it for reading only: records still go only to
    /// configured topics, whether or not the metadata holds the topic because it was fetched.
    @Test func unknownTopicsDisabledProducesOnlyToConfiguredTopicsEvenAfterAFetch() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let configured = TestBrokers.uniqueName("configured")
        let readOnly = TestBrokers.uniqueName("read-only")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: configured, partitions: 1)
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: readOnly, partitions: 1)
        try await RdKafkaTool.produce(bootstrap: bootstrap, topic: readOnly, records: [(key: nil, value: "from-elsewhere")])
        var configuration = try ClientTestSupport.configuration(bootstrap: bootstrap)
        configuration.enableUnknownTopics = false
        configuration.topics = [KafkaTopicConfiguration(name: configured)]
        try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            // Fetching names the topic: its metadata is requested and the records come back.
            let before = try await client.fetch(topic: readOnly, partition: 0, offset: 0)
            #expect(before.map(\.valueString) == ["from-elsewhere"])
            #expect(client.clusterMetadata.partitionCount(of: readOnly) == 1)

            func expectRefused(_ result: Result<KafkaRecord, KafkaError>, sourceLocation: SourceLocation = #_sourceLocation) {
                guard case .failure(let error) = result else {
                    Issue.record("a record went to an unconfigured topic", sourceLocation: sourceLocation)
                    return
                }
                #expect(error.code == .unknownTopicOrPartition, sourceLocation: sourceLocation)
                #expect(error.message.contains("not configured") && error.message.contains("enableUnknownTopics"), "\(error.message)", sourceLocation: sourceLocation)
            }
            // Keyless (partitioner), keyed and explicit-partition records, alone and in a batch, twice (the
            // second call may take a remembered route).
            for _ in 0..<2 {
                do {
                    _ = try await client.produce(KafkaRecord(topic: readOnly, value: "refused"))
                    Issue.record("produce to an unconfigured topic succeeded")
                } catch let error as KafkaError {
                    expectRefused(.failure(error))
                }
                let results = await client.produceBatch([
                    KafkaRecord(topic: readOnly, key: "k", value: "refused"), KafkaRecord(topic: configured, value: "accepted"),
                    KafkaRecord(topic: readOnly, partition: 0, value: "refused"),
                ])
                expectRefused(results[0])
                #expect((try? results[1].get())?.topic == configured)
                expectRefused(results[2])
            }
            do {
                _ = try await client.producerTaskExecutor(topic: readOnly, partition: 0)
                Issue.record("producerTaskExecutor accepted an unconfigured topic")
            } catch let error as KafkaError {
                expectRefused(.failure(error))
            }
            let after = try await client.fetch(topic: readOnly, partition: 0, offset: 0)
            #expect(after.map(\.valueString) == ["from-elsewhere"])
            let accepted = try await client.fetch(topic: configured, partition: 0, offset: 0)
            #expect(accepted.map(\.valueString) == ["accepted", "accepted"])
        }
    }

    @Test func callsFailClearlyWhenTheClientIsNotRunning() async throws {
        let client = try KafkaClient(configuration: try ClientTestSupport.configuration(bootstrap: try TestBrokers.tansuBootstrap))
        do {
            _ = try await client.listTopics()
            Issue.record("listTopics worked without run()")
        } catch let error as KafkaError {
            #expect(error.code == .clientNotRunning)
        }
    }

    @Test func unreachableBootstrapTimesOutWithTheCause() async throws {
        // Port 1 on 127.0.0.1: nothing listens there, connections are refused at once.
        var configuration = try ClientTestSupport.configuration(bootstrap: "127.0.0.1:1")
        configuration.connection.connectTimeout = .seconds(1)
        let start = ContinuousClock.now
        do {
            try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger, readyTimeout: .seconds(2)) { _ in }
            Issue.record("a client without a broker became ready")
        } catch let error as KafkaError {
            #expect(error.code == .requestTimedOut)
            #expect(error.message.contains("127.0.0.1:1"))
        }
        #expect(ContinuousClock.now - start < .seconds(30))
    }

    @Test func runsInsideAServiceLifecycleAndStopsOnCancellation() async throws {
        let client = try KafkaClient(configuration: try ClientTestSupport.configuration(bootstrap: try TestBrokers.tansuBootstrap))
        let task = Task { try await client.run() }
        try await client.waitUntilReady(timeout: .seconds(15))
        task.cancel()
        try await task.value
        do {
            _ = try await client.refreshMetadata()
            Issue.record("a stopped client refreshed metadata")
        } catch let error as KafkaError {
            #expect(error.code == .clientNotRunning)
        }
    }
}

/// The metadata loop recovers when the broker dies and comes back.
@Suite struct ClientReconnectIntegrationTests {
    @Test func clientRecoversAfterTheBrokerIsKilledAndRestarted() async throws {
        let (tansu, bootstrap) = try await TansuControl.startPrivate(prefix: "tansu-api")
        do {
            try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: bootstrap), logger: ClientTestSupport.logger) { client in
                let first = TestBrokers.uniqueName("before")
                try await client.createTopic(first)
                try await tansu.kill()
                // While the broker is gone, refreshes fail with a retriable transport error.
                do {
                    _ = try await client.refreshMetadata()
                    Issue.record("metadata refreshed without a broker")
                } catch let error as KafkaError {
                    #expect(error.isRetriable, "\(error)")
                }
                _ = try await tansu.restart()
                // Memory storage: the restarted broker is empty; the client reconnects and sees that.
                let recovered = await ClientTestSupport.eventually(timeout: .seconds(20)) {
                    guard let metadata = try? await client.refreshMetadata() else { return false }
                    return metadata.topic(first) == nil && metadata.sortedBrokers.count == 1
                }
                #expect(recovered, "the client did not get metadata from the restarted broker")
                let second = TestBrokers.uniqueName("after")
                try await client.createTopic(second, partitions: 2)
                #expect(try await client.describeTopic(second).partitionCount == 2)
            }
        } catch {
            try? await tansu.stop()
            throw error
        }
        try await tansu.stop()
    }
}

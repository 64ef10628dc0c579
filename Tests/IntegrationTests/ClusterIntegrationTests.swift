@testable import Klife
import Testing

/// Cluster metadata against the librdkafka mock cluster (3 brokers): brokers, leader moves, broker down/up.
@Suite struct ClusterIntegrationTests {
    @Test func metadataListsThreeBrokersAndTheTopic() async throws {
        let cluster = try await MockCluster.create(brokers: 3)
        defer { Task { try? await cluster.destroy() } }
        let topic = TestBrokers.uniqueName("cluster")
        try await cluster.createTopic(topic, partitions: 6, replicationFactor: 3)
        try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: cluster.bootstrap), logger: ClientTestSupport.logger) { client in
            let metadata = try await client.refreshMetadata()
            #expect(metadata.sortedBrokers.map(\.nodeID) == [1, 2, 3])
            #expect(Set(metadata.sortedBrokers.map(\.address.description)) == Set(cluster.brokerAddresses))
            #expect(metadata.partitionCount(of: topic) == 6)
            let leaders = Set(metadata.topic(topic)!.partitions.map(\.leaderID))
            #expect(leaders.isSubset(of: [1, 2, 3]))
            let offsets = try await client.listOffsets(topic: topic, at: .latest)
            #expect(offsets.count == 6)
        }
    }

    /// One ListOffsets per leader, all in flight together: with each of three leaders holding its answer for
    /// 1.5 s, the call takes about 1.5 s, not 4.5 s (it asked one leader after another before).
    @Test func listOffsetsAsksTheLeadersAtOnce() async throws {
        let cluster = try await MockCluster.create(brokers: 3)
        defer { Task { try? await cluster.destroy() } }
        let topic = TestBrokers.uniqueName("offsets-at-once")
        try await cluster.createTopic(topic, partitions: 3, replicationFactor: 3)
        for partition: Int32 in 0..<3 { try await cluster.setLeader(topic: topic, partition: partition, broker: partition + 1) }
        try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: cluster.bootstrap), logger: ClientTestSupport.logger) { client in
            let placed = try await ClientTestSupport.eventually {
                let metadata = try await client.refreshMetadata()
                return (0..<3).allSatisfy { metadata.leader(of: KafkaTopicPartition(topic: topic, partition: $0))?.nodeID == $0 + 1 }
            }
            #expect(placed, "the leaders did not move to brokers 1, 2 and 3")
            // Connections to all three leaders first, so the timed call opens none.
            #expect(try await client.listOffsets(topic: topic, at: .earliest).count == 3)
            for broker: Int32 in 1...3 {
                try await cluster.pushBrokerErrors(broker: broker, apiKey: 2, errors: [(code: 0, rttMilliseconds: 1_500)])
            }
            let started = ContinuousClock.now
            let offsets = try await client.listOffsets(topic: topic, at: .latest)
            let elapsed = ContinuousClock.now - started
            #expect(offsets.keys.sorted() == [0, 1, 2])
            #expect(elapsed >= .milliseconds(1_400), "the delayed answers were not used (\(elapsed))")
            #expect(elapsed < .milliseconds(3_500), "the leaders were asked one after another (\(elapsed))")
        }
    }

    /// Partitions of several topics, each with its own spec, in one call; a partition that does not exist fails
    /// the call at once, naming it.
    @Test func listOffsetsTakesPartitionsOfSeveralTopics() async throws {
        let cluster = try await MockCluster.create(brokers: 3)
        defer { Task { try? await cluster.destroy() } }
        let first = TestBrokers.uniqueName("offsets-a")
        let second = TestBrokers.uniqueName("offsets-b")
        try await cluster.createTopic(first, partitions: 2, replicationFactor: 3)
        try await cluster.createTopic(second, partitions: 2, replicationFactor: 3)
        try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: cluster.bootstrap), logger: ClientTestSupport.logger) { client in
            for (topic, partition, count) in [(first, Int32(0), 3), (first, 1, 1), (second, 0, 2), (second, 1, 5)] {
                let produced = await client.produceBatch((0..<count).map { KafkaRecord(topic: topic, partition: partition, value: "v\($0)") })
                #expect(produced.allSatisfy { (try? $0.get()) != nil }, "\(produced)")
            }
            let offsets = try await client.listOffsets([
                KafkaTopicPartition(topic: first, partition: 0): .latest, KafkaTopicPartition(topic: first, partition: 1): .earliest,
                KafkaTopicPartition(topic: second, partition: 0): .latest, KafkaTopicPartition(topic: second, partition: 1): .latest,
            ])
            #expect(offsets.mapValues(\.offset) == [
                KafkaTopicPartition(topic: first, partition: 0): 3, KafkaTopicPartition(topic: first, partition: 1): 0,
                KafkaTopicPartition(topic: second, partition: 0): 2, KafkaTopicPartition(topic: second, partition: 1): 5,
            ])
            #expect(try await client.listOffsets([:]).isEmpty)
            let error = await #expect(throws: KafkaError.self) {
                try await client.listOffsets([KafkaTopicPartition(topic: first, partition: 0): .latest, KafkaTopicPartition(topic: second, partition: 7): .latest])
            }
            #expect(error?.code == .unknownTopicOrPartition && error?.message.contains("\(second) has no partition 7") == true, "\(String(describing: error))")
        }
    }

    @Test func leaderMoveIsFollowedAfterARefresh() async throws {
        let cluster = try await MockCluster.create(brokers: 3)
        defer { Task { try? await cluster.destroy() } }
        let topic = TestBrokers.uniqueName("leader")
        try await cluster.createTopic(topic, partitions: 2, replicationFactor: 3)
        try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: cluster.bootstrap), logger: ClientTestSupport.logger) { client in
            let tp = KafkaTopicPartition(topic: topic, partition: 0)
            let before = try #require(try await client.refreshMetadata().partition(tp))
            let target: Int32 = before.leaderID == 3 ? 1 : before.leaderID + 1
            try await cluster.setLeader(topic: topic, partition: 0, broker: target)
            let followed = try await ClientTestSupport.eventually {
                try await client.refreshMetadata().partition(tp)?.leaderID == target
            }
            #expect(followed, "leader of \(tp) did not move to broker \(target)")
            #expect(client.clusterMetadata.leader(of: tp)?.nodeID == target)
            // Requests now go to the new leader and succeed.
            let offsets = try await client.listOffsets(topic: topic, partitions: [0], at: .earliest)
            #expect(offsets[0]?.offset == 0)
        }
    }

    @Test func aBrokerGoingDownAndUpIsSurvived() async throws {
        let cluster = try await MockCluster.create(brokers: 3)
        defer { Task { try? await cluster.destroy() } }
        let topic = TestBrokers.uniqueName("downup")
        try await cluster.createTopic(topic, partitions: 3, replicationFactor: 3)
        try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: cluster.bootstrap), logger: ClientTestSupport.logger) { client in
            for partition: Int32 in 0..<3 { try await cluster.setLeader(topic: topic, partition: partition, broker: partition + 1) }
            let placed = try await ClientTestSupport.eventually {
                let metadata = try await client.refreshMetadata()
                return (0..<3).allSatisfy { metadata.partition(.init(topic: topic, partition: $0))?.leaderID == $0 + 1 }
            }
            #expect(placed)
            // Make sure broker 1 has a live connection, then take it down.
            _ = try await client.listOffsets(topic: topic, at: .latest)
            try await cluster.down(broker: 1)

            // Metadata still comes from the other brokers, and their partitions still answer.
            let metadata = try await client.refreshMetadata()
            #expect(metadata.sortedBrokers.count >= 2)
            let others = try await client.listOffsets(topic: topic, partitions: [1, 2], at: .latest)
            #expect(others.keys.sorted() == [1, 2])

            try await cluster.up(broker: 1)
            let recovered = await ClientTestSupport.eventually(timeout: .seconds(20)) {
                (try? await client.listOffsets(topic: topic, partitions: [0], at: .latest))?[0] != nil
            }
            #expect(recovered, "partition 0 on broker 1 did not answer again after the broker came back")
            let final = try await client.refreshMetadata()
            #expect(final.sortedBrokers.map(\.nodeID) == [1, 2, 3])
        }
    }

    @Test func staleLeaderErrorsTriggerARefreshAndARetry() async throws {
        let cluster = try await MockCluster.create(brokers: 3)
        defer { Task { try? await cluster.destroy() } }
        let topic = TestBrokers.uniqueName("stale")
        try await cluster.createTopic(topic, partitions: 1, replicationFactor: 3)
        try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: cluster.bootstrap), logger: ClientTestSupport.logger) { client in
            _ = try await client.refreshMetadata()
            // The next two ListOffsets answers say NOT_LEADER_OR_FOLLOWER, then LEADER_NOT_AVAILABLE.
            try await cluster.pushErrors(apiKey: 2, codes: [6, 5])
            let offsets = try await client.listOffsets(topic: topic, at: .latest)
            #expect(offsets[0]?.offset == 0)
            // A non-retriable partition error is reported with its code, not retried.
            try await cluster.pushErrors(apiKey: 2, codes: [29])
            do {
                _ = try await client.listOffsets(topic: topic, at: .latest)
                Issue.record("TOPIC_AUTHORIZATION_FAILED was not reported")
            } catch let error as KafkaError {
                #expect(error.kafkaCode == 29)
            }
        }
    }

    /// A Metadata refresh skips a broker whose connection is backing off after a failed connect and asks a
    /// reachable one, instead of first sleeping out that backoff (20 s here).
    @Test func metadataRefreshSkipsABrokerThatIsBackingOff() async throws {
        let cluster = try await MockCluster.create(brokers: 3)
        defer { Task { try? await cluster.destroy() } }
        var configuration = try ClientTestSupport.configuration(bootstrap: cluster.bootstrap)
        configuration.connection.reconnectBackoff = .seconds(20)
        configuration.connection.reconnectBackoffMax = .seconds(20)
        try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            // The broker asked first: the controller, else the lowest node id (no Metadata request to it has
            // failed yet). The mock names no controller.
            let metadata = try await client.refreshMetadata()
            let first = try #require(metadata.broker(metadata.controllerID) ?? metadata.sortedBrokers.first)
            try await cluster.down(broker: first.nodeID)
            // Its general connection fails (a produce or fetch would see this) and now backs off.
            let failed = await ClientTestSupport.eventuallyValue(timeout: .seconds(20)) { () -> Bool? in
                do {
                    _ = try await client.cluster.pool.connection(to: first.address, brokerID: first.nodeID, waitingOutBackoff: false)
                    return nil
                } catch is BrokerConnectionPool.BackingOff {
                    return true
                } catch {
                    return nil
                }
            }
            #expect(failed == true, "broker \(first.nodeID)'s connection never backed off")
            let started = ContinuousClock.now
            let refreshed = try await client.refreshMetadata()
            let elapsed = ContinuousClock.now - started
            #expect(elapsed < .seconds(10), "the refresh waited \(elapsed)")
            #expect(refreshed.sortedBrokers.count >= 2)  // the mock leaves a broker that is down out
            try await cluster.up(broker: first.nodeID)
        }
    }

    @Test func bootstrapSkipsAnUnreachableFirstServer() async throws {
        let cluster = try await MockCluster.create(brokers: 3)
        defer { Task { try? await cluster.destroy() } }
        // The first server refuses connections; the client moves on to the next one in order.
        let bootstrap = "127.0.0.1:1," + cluster.bootstrap
        try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: bootstrap), logger: ClientTestSupport.logger) { client in
            #expect(client.clusterMetadata.sortedBrokers.count == 3)
        }
    }
}

/// Coordinator lookup (FindCoordinator, batched) and invalidation against the mock cluster.
@Suite struct CoordinatorIntegrationTests {
    @Test func coordinatorsAreFoundCachedAndInvalidated() async throws {
        let cluster = try await MockCluster.create(brokers: 3)
        defer { Task { try? await cluster.destroy() } }
        let group = TestBrokers.uniqueName("group")
        let transactionalID = TestBrokers.uniqueName("txn")
        try await cluster.setCoordinator(.group, key: group, broker: 2)
        try await cluster.setCoordinator(.transaction, key: transactionalID, broker: 3)
        try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: cluster.bootstrap), logger: ClientTestSupport.logger) { client in
            let groupKey = CoordinatorCache.Key(type: .group, key: group)
            let txnKey = CoordinatorCache.Key(type: .transaction, key: transactionalID)
            let found = try await client.cluster.coordinators(for: [groupKey, txnKey])
            #expect(found[groupKey]?.nodeID == 2)
            #expect(found[txnKey]?.nodeID == 3)

            // The coordinator moves; the cache answers the old one until an error invalidates it.
            try await cluster.setCoordinator(.group, key: group, broker: 1)
            #expect(try await client.cluster.coordinator(for: groupKey).nodeID == 2)
            #expect(client.cluster.handleCoordinatorError(16, for: groupKey))
            #expect(try await client.cluster.coordinator(for: groupKey).nodeID == 1)
            let (connection, broker) = try await client.cluster.coordinatorConnection(for: groupKey)
            #expect(broker.nodeID == 1)
            #expect(connection.isActive)
        }
    }
}

import KafkaProtocol
import Testing

@testable import Klife

@Suite struct KafkaClusterMetadataTests {
    static let b1 = KafkaBroker(nodeID: 1, host: "127.0.0.1", port: 9091)
    static let b2 = KafkaBroker(nodeID: 2, host: "127.0.0.1", port: 9092)
    static let b3 = KafkaBroker(nodeID: 3, host: "127.0.0.1", port: 9093)
    static let idA = KafkaUUID(high: 1, low: 1)
    static let idB = KafkaUUID(high: 2, low: 2)

    func topic(_ name: String, id: KafkaUUID? = nil, leaders: [Int32], epoch: Int32 = 0, error: Int16 = 0) -> KafkaTopicMetadata {
        KafkaTopicMetadata(
            name: name, topicID: id,
            partitions: leaders.enumerated().map { KafkaPartitionMetadata(partition: Int32($0.offset), leaderID: $0.element, leaderEpoch: epoch, replicas: [$0.element]) },
            errorCode: error)
    }

    func response(brokers: [KafkaBroker] = [b1, b2, b3], controller: Int32 = 1, _ topics: [KafkaTopicMetadata]) -> KafkaClusterMetadata.Response {
        .init(brokers: brokers, controllerID: controller, clusterID: "c1", topics: topics)
    }

    @Test func firstResponseAddsEverything() {
        var metadata = KafkaClusterMetadata()
        let changes = metadata.apply(response([topic("a", id: Self.idA, leaders: [1, 2, 3])]), requestedTopics: nil)
        #expect(changes.addedBrokers == [Self.b1, Self.b2, Self.b3])
        #expect(changes.removedBrokers.isEmpty)
        #expect(changes.addedTopics == ["a"])
        #expect(changes.hasChanges)
        #expect(metadata.sortedBrokers.count == 3)
        #expect(metadata.controller == Self.b1)
        #expect(metadata.clusterID == "c1")
        #expect(metadata.partitionCount(of: "a") == 3)
        #expect(metadata.leader(of: .init(topic: "a", partition: 2)) == Self.b3)
        #expect(metadata.leader(of: .init(topic: "a", partition: 3)) == nil)
        #expect(metadata.leader(of: .init(topic: "zz", partition: 0)) == nil)
        #expect(metadata.topicNamesByID[Self.idA] == "a")
        #expect(metadata.partitionsByLeader(topics: ["a"])[2] == [.init(topic: "a", partition: 1)])
    }

    @Test func sameResponseTwiceChangesNothing() {
        var metadata = KafkaClusterMetadata()
        let r = response([topic("a", leaders: [1, 2])])
        metadata.apply(r, requestedTopics: nil)
        let changes = metadata.apply(r, requestedTopics: nil)
        #expect(!changes.hasChanges)
        #expect(changes == KafkaMetadataChanges())
    }

    @Test func leaderMoveIsReported() {
        var metadata = KafkaClusterMetadata()
        metadata.apply(response([topic("a", leaders: [1, 2], epoch: 3)]), requestedTopics: nil)
        var moved = topic("a", leaders: [1, 3], epoch: 3)
        moved.partitions[1].leaderEpoch = 4
        let changes = metadata.apply(response([moved]), requestedTopics: nil)
        #expect(changes.changedLeaders == [.init(topic: "a", partition: 1)])
        #expect(metadata.leader(of: .init(topic: "a", partition: 1)) == Self.b3)
        #expect(metadata.partition(.init(topic: "a", partition: 1))?.leaderEpoch == 4)
    }

    @Test func staleLeaderEpochIsIgnored() {
        var metadata = KafkaClusterMetadata()
        metadata.apply(response([topic("a", leaders: [2], epoch: 7)]), requestedTopics: nil)
        let changes = metadata.apply(response([topic("a", leaders: [1], epoch: 6)]), requestedTopics: nil)
        #expect(changes.changedLeaders.isEmpty)
        #expect(changes.incompleteTopics == ["a"])
        #expect(metadata.leader(of: .init(topic: "a", partition: 0)) == Self.b2)
    }

    @Test func brokersAddedRemovedAndMoved() {
        var metadata = KafkaClusterMetadata()
        metadata.apply(response(brokers: [Self.b1, Self.b2], []), requestedTopics: nil)
        let movedB2 = KafkaBroker(nodeID: 2, host: "127.0.0.1", port: 19092)
        let changes = metadata.apply(response(brokers: [movedB2, Self.b3], []), requestedTopics: nil)
        #expect(changes.removedBrokers == [Self.b1, Self.b2])
        #expect(changes.addedBrokers == [movedB2, Self.b3])
        #expect(metadata.broker(2) == movedB2)
        #expect(metadata.broker(1) == nil)
    }

    @Test func deletedTopicsDisappearOnlyWhenAllTopicsWereRequested() {
        var metadata = KafkaClusterMetadata()
        metadata.apply(response([topic("a", id: Self.idA, leaders: [1]), topic("b", leaders: [2])]), requestedTopics: nil)
        // A response to a request for topic "b" only says nothing about "a".
        var changes = metadata.apply(response([topic("b", leaders: [2])]), requestedTopics: ["b"])
        #expect(changes.removedTopics.isEmpty)
        #expect(metadata.topic("a") != nil)
        // A full listing without "a" means it was deleted.
        changes = metadata.apply(response([topic("b", leaders: [2])]), requestedTopics: nil)
        #expect(changes.removedTopics == ["a"])
        #expect(metadata.topic("a") == nil)
        #expect(metadata.topicNamesByID[Self.idA] == nil)
    }

    @Test func unknownTopicErrorRemovesOtherErrorsKeep() {
        var metadata = KafkaClusterMetadata()
        metadata.apply(response([topic("a", leaders: [1]), topic("b", leaders: [2])]), requestedTopics: nil)
        let changes = metadata.apply(
            response([topic("a", leaders: [], error: 3), topic("b", leaders: [], error: 5)]), requestedTopics: ["a", "b"])
        #expect(changes.removedTopics == ["a"])
        #expect(changes.incompleteTopics == ["b"])
        #expect(metadata.topic("a") == nil)
        #expect(metadata.leader(of: .init(topic: "b", partition: 0)) == Self.b2)
    }

    @Test func partitionWithoutLeaderMarksTopicIncomplete() {
        var metadata = KafkaClusterMetadata()
        let changes = metadata.apply(response([topic("a", leaders: [1, -1])]), requestedTopics: nil)
        #expect(changes.incompleteTopics == ["a"])
        #expect(metadata.leader(of: .init(topic: "a", partition: 1)) == nil)
        #expect(metadata.partitionsByLeader(topics: ["a"]) == [1: [.init(topic: "a", partition: 0)]])
    }

    @Test func partitionCountGrowthAndRecreation() {
        var metadata = KafkaClusterMetadata()
        metadata.apply(response([topic("a", id: Self.idA, leaders: [1])]), requestedTopics: nil)
        var changes = metadata.apply(response([topic("a", id: Self.idA, leaders: [1, 2])]), requestedTopics: nil)
        #expect(changes.changedTopics == ["a"])
        #expect(changes.changedLeaders == [.init(topic: "a", partition: 1)])
        changes = metadata.apply(response([topic("a", id: Self.idB, leaders: [1, 2])]), requestedTopics: nil)
        #expect(changes.changedTopics == ["a"])
        #expect(metadata.topicNamesByID[Self.idA] == nil)
        #expect(metadata.topicNamesByID[Self.idB] == "a")
    }

    @Test func invalidateLeaders() {
        var metadata = KafkaClusterMetadata()
        metadata.apply(response([topic("a", leaders: [1, 2])]), requestedTopics: nil)
        metadata.invalidateLeaders(of: [.init(topic: "a", partition: 1), .init(topic: "nope", partition: 0)])
        #expect(metadata.leader(of: .init(topic: "a", partition: 1)) == nil)
        #expect(metadata.leader(of: .init(topic: "a", partition: 0)) == Self.b1)
    }

    @Test func topicsToRequest() {
        #expect(KafkaClusterMetadata.topicsToRequest(enableUnknownTopics: true, configuredTopics: ["a"]) == nil)
        #expect(KafkaClusterMetadata.topicsToRequest(enableUnknownTopics: false, configuredTopics: ["b", "a"], extra: ["a", "c"]) == ["a", "b", "c"])
        #expect(KafkaClusterMetadata.topicsToRequest(enableUnknownTopics: false, configuredTopics: []) == [])
    }

    @Test func staleMetadataCodes() {
        for code: Int16 in [3, 5, 6, 74, 75, 100, 103] { #expect(KafkaClusterMetadata.requiresMetadataRefresh(errorCode: code)) }
        for code: Int16 in [0, 1, 10, 47] { #expect(!KafkaClusterMetadata.requiresMetadataRefresh(errorCode: code)) }
    }

    @Test func zeroTopicIDIsNoID() {
        #expect(KafkaTopicMetadata(name: "a", topicID: .zero, partitions: []).topicID == nil)
    }
}

@Suite struct MetadataRefreshStateMachineTests {
    @Test func coalescesRequestsWhileInFlight() {
        var machine = MetadataRefreshStateMachine()
        #expect(machine.refreshRequested() == .sendRequest)
        #expect(machine.isRequesting)
        #expect(machine.refreshRequested() == .none)
        #expect(machine.refreshRequested() == .none)
        // One more request covers all the ones that arrived meanwhile.
        #expect(machine.requestSucceeded() == .sendRequest)
        #expect(machine.requestSucceeded() == .none)
        #expect(!machine.isRequesting)
        #expect(machine.hasSucceeded)
    }

    @Test func failuresBackOffExponentiallyAndCap() {
        var machine = MetadataRefreshStateMachine(initialBackoff: .milliseconds(100), maxBackoff: .milliseconds(500))
        #expect(machine.refreshRequested() == .sendRequest)
        #expect(machine.requestFailed() == .retryAfter(.milliseconds(100)))
        #expect(machine.refreshRequested() == .none)
        #expect(machine.backoffElapsed() == .sendRequest)
        #expect(machine.requestFailed() == .retryAfter(.milliseconds(200)))
        #expect(machine.backoffElapsed() == .sendRequest)
        #expect(machine.requestFailed() == .retryAfter(.milliseconds(400)))
        #expect(machine.backoffElapsed() == .sendRequest)
        #expect(machine.requestFailed() == .retryAfter(.milliseconds(500)))
        #expect(machine.consecutiveFailures == 4)
        #expect(machine.backoffElapsed() == .sendRequest)
        #expect(machine.requestSucceeded() == .none)
        #expect(machine.consecutiveFailures == 0)
        #expect(machine.backoffElapsed() == .none)
    }
}

@Suite struct CoordinatorCacheTests {
    typealias Key = CoordinatorCache.Key

    @Test func storeInvalidateAndBrokerRemoval() {
        var cache = CoordinatorCache()
        let g = Key(type: .group, key: "g")
        let t = Key(type: .transaction, key: "t")
        cache.store(1, for: g)
        cache.store(2, for: t)
        #expect(cache.coordinator(for: g) == 1)
        let ignored = cache.handle(errorCode: 0, for: g)
        #expect(!ignored)
        let dropped = cache.handle(errorCode: 16, for: g)
        #expect(dropped)
        #expect(cache.coordinator(for: g) == nil)
        cache.store(2, for: g)
        cache.invalidate(broker: 2)
        #expect(cache.count == 0)
    }

    @Test func batchesPerKeyTypeWhenSupported() {
        var cache = CoordinatorCache()
        let keys = [Key(type: .group, key: "a"), Key(type: .transaction, key: "x"), Key(type: .group, key: "b"), Key(type: .group, key: "a")]
        cache.store(3, for: Key(type: .group, key: "b"))
        #expect(cache.lookupsNeeded(for: keys, version: 4) == [[Key(type: .group, key: "a")], [Key(type: .transaction, key: "x")]])
        #expect(cache.lookupsNeeded(for: keys, version: 3) == [[Key(type: .group, key: "a")], [Key(type: .transaction, key: "x")]])
        cache.invalidate(Key(type: .group, key: "b"))
        #expect(cache.lookupsNeeded(for: keys, version: 6) == [[Key(type: .group, key: "a"), Key(type: .group, key: "b")], [Key(type: .transaction, key: "x")]])
        #expect(cache.lookupsNeeded(for: keys, version: 1).count == 3)
    }
}

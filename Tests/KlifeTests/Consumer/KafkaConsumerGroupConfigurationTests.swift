import NIOCore
import KafkaProtocol
import Testing

@testable import Klife

@Suite("KafkaConsumerGroupConfiguration")
struct KafkaConsumerGroupConfigurationTests {
    @Test func topicOptionsFallBackToTheDefaults() {
        var configuration = KafkaConsumerGroupConfiguration(groupID: "g", topics: ["a", "b"], isolationLevel: .readUncommitted, fetchMaxBytes: 10)
        configuration.topicOptions["b"] = KafkaConsumerTopicOptions(offsetResetPolicy: .earliest, mode: .manual)
        #expect(configuration.options(for: "a").isolationLevel == .readUncommitted)
        #expect(configuration.options(for: "a").fetchMaxBytes == 10)
        #expect(configuration.options(for: "b").offsetResetPolicy == .earliest)
        #expect(configuration.options(for: "b").mode == .manual)
        #expect(configuration.groupProtocol == .automatic)
        #expect(configuration.validationProblems().isEmpty)
    }

    @Test func setOptionsMergesOverTheDefaults() {
        var configuration = KafkaConsumerGroupConfiguration(
            groupID: "g", topics: ["orders", "audit"], isolationLevel: .readUncommitted, offsetResetPolicy: .earliest, fetchMaxBytes: 10)
        configuration.setOptions(for: "audit") { $0.mode = .manual }
        configuration.setOptions(for: "audit") { $0.maxUnackedCommits = 3 }
        let audit = configuration.options(for: "audit")
        #expect(audit.mode == .manual && audit.maxUnackedCommits == 3)
        #expect(audit.offsetResetPolicy == .earliest && audit.isolationLevel == .readUncommitted && audit.fetchMaxBytes == 10)
        #expect(configuration.options(for: "orders") == configuration.defaultTopicOptions)
    }

    @Test func aTopicPatternStandsInForTopicsAndMustCompile() {
        #expect(KafkaConsumerGroupConfiguration(groupID: "g", topicPattern: "orders\\..*").validationProblems().isEmpty)
        #expect(KafkaConsumerGroupConfiguration(groupID: "g", topics: ["a"], topicPattern: "b.*").validationProblems().isEmpty)
        #expect(KafkaConsumerGroupConfiguration(groupID: "g").validationProblems() == ["topics must not be empty (or give a topicPattern)"])
        #expect(KafkaConsumerGroupConfiguration(groupID: "g", topicPattern: "").validationProblems()
            == ["topicPattern must not be empty (nil subscribes by name only)"])
        let problems = KafkaConsumerGroupConfiguration(groupID: "g", topicPattern: "orders(").validationProblems()
        #expect(problems.count == 1 && problems[0].hasPrefix("topicPattern: \"orders(\" is not a valid regular expression ("), "\(problems)")
    }

    @Test func cooperativeOnlyWhenEveryAssignorIs() {
        func cooperative(_ assignors: [KafkaConsumerGroupConfiguration.Assignor]) -> Bool {
            KafkaConsumerGroupConfiguration(groupID: "g", topics: ["a"], assignors: assignors).rebalancesCooperatively
        }
        #expect(cooperative([.cooperativeSticky]))
        // The group may pick the eager one: revoke everything before rejoining (Kafka's upgrade path).
        #expect(!cooperative([.cooperativeSticky, .range]))
        #expect(!cooperative([.range, .cooperativeSticky]))
        #expect(!cooperative([.range, .roundRobin]))
        #expect(!cooperative([]))
    }

    @Test func aRevocationAnswersWithinTheCoordinatorsDeadline() {
        func budget(_ timeout: Duration, _ heartbeat: Duration) -> Duration {
            ConsumerGroupPartitions.revocationBudget(rebalanceTimeout: timeout, heartbeatInterval: heartbeat)
        }
        #expect(budget(.seconds(30), .seconds(3)) == .seconds(26))
        #expect(budget(.seconds(4), .milliseconds(300)) == .milliseconds(2700))
        // Never below half the timeout, however long the heartbeat interval.
        #expect(budget(.seconds(4), .seconds(5)) == .seconds(2))
    }

    @Test func commitsCarryTheLeaderEpochFromVersion6() throws {
        let configuration = KafkaConsumerGroupConfiguration(groupID: "g", topics: ["t"], instanceID: "i-1")
        func request(_ epoch: Int32?, _ version: Int16) -> OffsetCommitRequest {
            ConsumerGroupPartitions.offsetCommitRequest(
                KafkaTopicPartition("t", 3), offset: 42, leaderEpoch: epoch, memberID: "m", generationOrEpoch: 7,
                configuration: configuration, version: version)
        }
        let v8 = request(5, 8)
        #expect(v8.groupId == "g" && v8.memberId == "m" && v8.generationIdOrMemberEpoch == 7 && v8.groupInstanceId == "i-1")
        let partition = try #require(v8.topics.first?.partitions.first)
        #expect(v8.topics.first?.name == "t" && partition.partitionIndex == 3 && partition.committedOffset == 42)
        #expect(partition.committedLeaderEpoch == 5)
        #expect(request(nil, 8).topics.first?.partitions.first?.committedLeaderEpoch == -1)
        #expect(request(5, 5).topics.first?.partitions.first?.committedLeaderEpoch == -1)  // not in v5
        #expect(request(5, 6).groupInstanceId == nil)  // not before v7
        for version: Int16 in [2, 5, 6, 9] {
            var buffer = ByteBuffer()
            try request(5, version).encode(into: &buffer, version: version)
            #expect(buffer.readableBytes > 0)
        }
    }

    @Test func readCommittedMembersAskForStableOffsets() {
        var configuration = KafkaConsumerGroupConfiguration(groupID: "g", topics: ["a", "b"])
        configuration.topicOptions["b"] = KafkaConsumerTopicOptions(isolationLevel: .readUncommitted)
        let a = [KafkaTopicPartition("a", 0), KafkaTopicPartition("a", 1)]
        let b = [KafkaTopicPartition("b", 0)]
        func request(_ partitions: [KafkaTopicPartition], _ version: Int16) -> OffsetFetchRequest {
            ConsumerGroupPartitions.committedOffsetsRequest(partitions, configuration: configuration, version: version)
        }
        #expect(request(a, 7).requireStable)
        #expect(request(a + b, 7).requireStable)
        #expect(!request(b, 7).requireStable)
        // Before v7 the field does not exist.
        #expect(!request(a, 6).requireStable)
        #expect(request(a, 7).groupId == "g")
        #expect(request(a, 7).topics?.map(\.name) == ["a"])
        #expect(request(a, 7).topics?.first?.partitionIndexes == [0, 1])
    }

    @Test func queueSizeDefaultsFollowTheBatchSize() {
        #expect(KafkaConsumerTopicOptions().effectiveMaxQueueSize == 5)
        #expect(KafkaConsumerTopicOptions(handlerMaxBatchSize: .records(10)).effectiveMaxQueueSize == 20)
        #expect(KafkaConsumerTopicOptions(maxQueueSize: 2, handlerMaxBatchSize: .records(10)).effectiveMaxQueueSize == 2)
    }

    @Test func invalidOptionsAreNamed() {
        var configuration = KafkaConsumerGroupConfiguration(groupID: "", topics: [], assignors: [])
        configuration.topicOptions["t"] = KafkaConsumerTopicOptions(fetchMaxBytes: 0, maxUnackedCommits: -1, handlerMaxBatchSize: .records(0))
        let problems = configuration.validationProblems()
        #expect(problems.contains("groupID must not be empty"))
        #expect(problems.contains("topics must not be empty (or give a topicPattern)"))
        #expect(problems.contains("assignors must not be empty"))
        #expect(problems.contains("topicOptions[t].fetchMaxBytes must be > 0"))
        #expect(problems.contains("topicOptions[t].maxUnackedCommits must be >= 0"))
        #expect(problems.contains("topicOptions[t].handlerMaxBatchSize must be > 0"))
    }

    @Test func timeoutsMustFitTheWireAndHeartbeatsComeWithinTheSession() {
        var configuration = KafkaConsumerGroupConfiguration(
            groupID: "g", topics: ["t"], sessionTimeout: .seconds(10), heartbeatInterval: .seconds(10))
        #expect(configuration.validationProblems() == ["heartbeatInterval (10.0 seconds) must be shorter than sessionTimeout (10.0 seconds)"])
        configuration.heartbeatInterval = .seconds(3)
        configuration.sessionTimeout = .seconds(3_000_000)
        configuration.rebalanceTimeout = .seconds(3_000_000)
        #expect(configuration.validationProblems() == [
            "sessionTimeout must be at most 2147483647 ms", "rebalanceTimeout must be at most 2147483647 ms",
        ])
        // KIP-848 members take both from the broker: only the wire limit applies.
        configuration = KafkaConsumerGroupConfiguration(
            groupID: "g", topics: ["t"], groupProtocol: .consumer, sessionTimeout: .seconds(10), heartbeatInterval: .seconds(10))
        #expect(configuration.validationProblems().isEmpty)
    }

    @Test func batchResultShapes() {
        #expect(KafkaConsumerBatchResult.commit.cooldown == nil)
        #expect(KafkaConsumerBatchResult.retry(cooldown: .seconds(1)).cooldown == .seconds(1))
        #expect(KafkaConsumerBatchResult.commit != .retry)
        #expect(KafkaConsumerBatchResult.perRecord([1: .commit]) == .perRecord([1: .commit]))
    }
}

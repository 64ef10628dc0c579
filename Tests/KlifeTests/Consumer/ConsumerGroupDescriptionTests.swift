import KafkaProtocol
import NIOCore
import Testing

@testable import Klife

/// How DescribeGroups and ConsumerGroupDescribe answers become a ``KafkaConsumerGroupDescription`` (Tansu, the
/// broker the integration test runs against, leaves client ids, hosts and assignments empty).
@Suite struct ConsumerGroupDescriptionTests {
    @Test func aClassicConsumerGroupsAssignmentsAreDecoded() throws {
        let assignment = try ConsumerProtocolPayloads.encodeAssignment(
            ConsumerGroupAssignment([KafkaTopicPartition("b", 0), KafkaTopicPartition("a", 1), KafkaTopicPartition("a", 0)]))
        let group = DescribeGroupsResponse.DescribedGroup(
            groupId: "g", groupState: "Stable", protocolType: "consumer", protocolData: "range",
            members: [
                .init(memberId: "m1", groupInstanceId: "i1", clientId: "c1", clientHost: "/127.0.0.1", memberMetadata: ByteBuffer(), memberAssignment: assignment),
                // A member whose assignment does not parse is shown with none, not a failed description.
                .init(memberId: "m2", clientId: "c2", clientHost: "/127.0.0.2", memberMetadata: ByteBuffer(), memberAssignment: ByteBuffer(bytes: [0, 0, 0])),
            ])
        let description = KafkaClient.description(of: group, coordinator: 3)
        #expect(description == KafkaConsumerGroupDescription(
            groupID: "g", state: "Stable", groupProtocol: .classic, protocolType: "consumer", assignor: "range",
            members: [
                .init(memberID: "m1", instanceID: "i1", clientID: "c1", clientHost: "/127.0.0.1",
                      assignment: [KafkaTopicPartition("a", 0), KafkaTopicPartition("a", 1), KafkaTopicPartition("b", 0)]),
                .init(memberID: "m2", clientID: "c2", clientHost: "/127.0.0.2"),
            ],
            coordinator: 3))
    }

    /// Another kind of group (Kafka Connect's) has assignments in its own format: none are read.
    @Test func otherProtocolTypesHaveNoPartitions() throws {
        let assignment = try ConsumerProtocolPayloads.encodeAssignment(ConsumerGroupAssignment([KafkaTopicPartition("a", 0)]))
        let group = DescribeGroupsResponse.DescribedGroup(
            groupId: "connect-cluster", groupState: "Stable", protocolType: "connect", protocolData: "sessioned",
            members: [.init(memberId: "w1", clientId: "c", clientHost: "/h", memberMetadata: ByteBuffer(), memberAssignment: assignment)])
        #expect(KafkaClient.description(of: group, coordinator: 1).members.first?.assignment == [])
    }

    @Test func aKIP848GroupKeepsItsEpochAndTopicNames() {
        let group = ConsumerGroupDescribeResponse.DescribedGroup(
            groupId: "g", groupState: "Reconciling", groupEpoch: 4, assignmentEpoch: 3, assignorName: "uniform",
            members: [.init(
                memberId: "m", memberEpoch: 3, clientId: "c", clientHost: "/h", subscribedTopicNames: ["t"],
                assignment: .init(topicPartitions: [.init(topicId: KafkaUUID.zero, topicName: "t", partitions: [2, 0])]))])
        let description = KafkaClient.description(of: group, coordinator: 5)
        #expect(description.groupProtocol == .consumer)
        #expect(description.protocolType == "consumer")
        #expect(description.assignor == "uniform")
        #expect(description.groupEpoch == 4)
        #expect(description.members.map(\.assignment) == [[KafkaTopicPartition("t", 0), KafkaTopicPartition("t", 2)]])
    }
}

import KafkaProtocol
import NIOCore

/// The consumer protocol's payloads inside JoinGroup metadata and SyncGroup assignments: an int16 version
/// followed by a ConsumerProtocolSubscription / ConsumerProtocolAssignment body (not flexible). A newer
/// version than we know is read as the newest we know, since fields are only ever appended.
enum ConsumerProtocolPayloads {
    static let subscriptionVersion: Int16 = 2
    static let assignmentVersion: Int16 = 0

    static func encodeSubscription(topics: [String], owned: [KafkaTopicPartition], generation: Int32) throws -> ByteBuffer {
        let subscription = ConsumerProtocolSubscription(
            topics: topics,
            ownedPartitions: ConsumerGroupAssignment(owned).byTopic.map { .init(topic: $0.topic, partitions: $0.partitions) },
            generationId: generation)
        var buffer = ByteBuffer()
        buffer.writeKafkaInt16(subscriptionVersion)
        try subscription.encode(into: &buffer, version: subscriptionVersion)
        return buffer
    }

    static func decodeMember(memberID: String, instanceID: String?, metadata: ByteBuffer) throws -> ConsumerGroupMember {
        var buffer = metadata
        let version = try buffer.readKafkaInt16(field: "ConsumerProtocolSubscription.version")
        guard version >= 0 else {
            throw KafkaProtocolError.invalidValue(field: "ConsumerProtocolSubscription.version", reason: "negative version \(version)")
        }
        let subscription = try ConsumerProtocolSubscription(
            from: &buffer, version: min(version, ConsumerProtocolSubscription.validVersions.upperBound))
        return ConsumerGroupMember(
            memberID: memberID, instanceID: instanceID, topics: subscription.topics,
            ownedPartitions: subscription.ownedPartitions.flatMap { tp in tp.partitions.map { KafkaTopicPartition(tp.topic, $0) } },
            generation: subscription.generationId)
    }

    static func encodeAssignment(_ assignment: ConsumerGroupAssignment) throws -> ByteBuffer {
        let body = ConsumerProtocolAssignment(
            assignedPartitions: assignment.byTopic.map { .init(topic: $0.topic, partitions: $0.partitions) })
        var buffer = ByteBuffer()
        buffer.writeKafkaInt16(assignmentVersion)
        try body.encode(into: &buffer, version: assignmentVersion)
        return buffer
    }

    /// An empty assignment (zero bytes) means nothing assigned.
    static func decodeAssignment(_ bytes: ByteBuffer) throws -> [KafkaTopicPartition] {
        guard bytes.readableBytes > 0 else { return [] }
        var buffer = bytes
        let version = try buffer.readKafkaInt16(field: "ConsumerProtocolAssignment.version")
        guard version >= 0 else {
            throw KafkaProtocolError.invalidValue(field: "ConsumerProtocolAssignment.version", reason: "negative version \(version)")
        }
        let assignment = try ConsumerProtocolAssignment(
            from: &buffer, version: min(version, ConsumerProtocolAssignment.validVersions.upperBound))
        return assignment.assignedPartitions.flatMap { tp in tp.partitions.map { KafkaTopicPartition(tp.topic, $0) } }.sorted()
    }
}

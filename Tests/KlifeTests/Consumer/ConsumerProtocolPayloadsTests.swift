import KafkaProtocol
import NIOCore
import Testing
@testable import Klife

/// Golden bytes of the embedded consumer protocol, written out from the schema (int16 version, then the
/// non-flexible body: int32 array counts, int16 string lengths, int32 byte lengths with -1 for null).
@Suite struct ConsumerProtocolPayloadsTests {
    @Test func subscriptionV2GoldenBytes() throws {
        let bytes = try ConsumerProtocolPayloads.encodeSubscription(topics: ["ab"], owned: [KafkaTopicPartition("ab", 1)], generation: 7)
        #expect(Array(bytes.readableBytesView) == [
            0x00, 0x02,  // version 2
            0x00, 0x00, 0x00, 0x01, 0x00, 0x02, 0x61, 0x62,  // topics ["ab"]
            0xFF, 0xFF, 0xFF, 0xFF,  // user data null
            0x00, 0x00, 0x00, 0x01, 0x00, 0x02, 0x61, 0x62, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,  // owned [ab: [1]]
            0x00, 0x00, 0x00, 0x07,  // generation 7
        ])
    }

    @Test func subscriptionV0FromAnotherClientDecodes() throws {
        // librdkafka-style v0: topics ["t"], user data empty (not null).
        let bytes = ByteBuffer(bytes: [0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x74, 0x00, 0x00, 0x00, 0x00])
        let member = try ConsumerProtocolPayloads.decodeMember(memberID: "m", instanceID: nil, metadata: bytes)
        #expect(member.topics == ["t"] && member.ownedPartitions.isEmpty && member.generation == -1)
    }

    @Test func newerSubscriptionVersionIsReadAsTheNewestKnown() throws {
        // Version 9 (unknown) with a v3 body and trailing bytes a future version appended.
        var buffer = ByteBuffer(bytes: [0x00, 0x09])
        try ConsumerProtocolSubscription(topics: ["x"], generationId: 3, rackId: "r").encode(into: &buffer, version: 3)
        buffer.writeBytes([0xAA, 0xBB])
        let member = try ConsumerProtocolPayloads.decodeMember(memberID: "m", instanceID: nil, metadata: buffer)
        #expect(member.topics == ["x"] && member.generation == 3)
    }

    @Test func assignmentGoldenBytesAndEmptyAssignment() throws {
        let bytes = try ConsumerProtocolPayloads.encodeAssignment(ConsumerGroupAssignment([KafkaTopicPartition("t", 2), KafkaTopicPartition("t", 0)]))
        #expect(Array(bytes.readableBytesView) == [
            0x00, 0x00,  // version 0
            0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x74, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,  // [t: [0, 2]]
            0xFF, 0xFF, 0xFF, 0xFF,  // user data null
        ])
        #expect(try ConsumerProtocolPayloads.decodeAssignment(bytes) == [KafkaTopicPartition("t", 0), KafkaTopicPartition("t", 2)])
        #expect(try ConsumerProtocolPayloads.decodeAssignment(ByteBuffer()) == [])
    }

    @Test func negativeVersionIsRejected() {
        #expect(throws: KafkaProtocolError.self) {
            try ConsumerProtocolPayloads.decodeAssignment(ByteBuffer(bytes: [0xFF, 0xFF, 0x00]))
        }
    }
}

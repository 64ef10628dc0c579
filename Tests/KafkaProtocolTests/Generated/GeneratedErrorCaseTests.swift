import KafkaProtocol
import NIOCore
import Testing

@Suite("Generated messages: errors")
struct GeneratedErrorCaseTests {
    @Test func nonDefaultNonIgnorableFieldInOldVersionThrows() {
        var buffer = ByteBuffer()
        // AllowAutoTopicCreation exists from v4 and is not ignorable.
        #expect(throws: KafkaProtocolError.fieldNotSupportedInVersion(message: "MetadataRequest", field: "allowAutoTopicCreation", version: 3)) {
            try MetadataRequest(topics: [], allowAutoTopicCreation: false).encode(into: &buffer, version: 3)
        }
        // SessionId exists from v7 and is not ignorable; ErrorCode (v7+) is ignorable and silently dropped.
        #expect(throws: KafkaProtocolError.fieldNotSupportedInVersion(message: "FetchResponse", field: "sessionId", version: 4)) {
            try FetchResponse(sessionId: 5).encode(into: &buffer, version: 4)
        }
        // Nested structs: a ProduceRequest with a transactional id cannot be sent as v2.
        #expect(throws: KafkaProtocolError.fieldNotSupportedInVersion(message: "ProduceRequest", field: "transactionalId", version: 2)) {
            try ProduceRequest(transactionalId: "tx").encode(into: &buffer, version: 2)
        }
        // In a nested struct: CommitTimestamp exists only in v1.
        let commit = OffsetCommitRequest(topics: [.init(name: "t", partitions: [.init(commitTimestamp: 5)])])
        #expect(throws: KafkaProtocolError.fieldNotSupportedInVersion(message: "OffsetCommitRequest.OffsetCommitRequestPartition", field: "commitTimestamp", version: 2)) {
            try commit.encode(into: &buffer, version: 2)
        }
        #expect(throws: Never.self) { try commit.encode(into: &buffer, version: 1) }
        // A non-ignorable tagged field (ReplicaState, tag 1, v15+) in a version without it.
        #expect(throws: KafkaProtocolError.fieldNotSupportedInVersion(message: "FetchRequest", field: "replicaState", version: 14)) {
            try FetchRequest(replicaState: .init(replicaId: 1, replicaEpoch: 2)).encode(into: &buffer, version: 14)
        }
    }

    @Test func ignorableFieldIsDropped() throws {
        var buffer = ByteBuffer()
        try FetchResponse(errorCode: 3).encode(into: &buffer, version: 4)
        #expect(Array(buffer.readableBytesView) == [0, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test func syncGroupAssignmentSentAsNullReadsAsEmpty() throws {
        // v3: throttle_time_ms, error_code, assignment (int32 length -1 = null), as librdkafka's mock cluster sends.
        var v3 = ByteBuffer(bytes: [0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF])
        let decoded = try SyncGroupResponse(from: &v3, version: 3)
        #expect(decoded.errorCode == 0 && decoded.assignment.readableBytes == 0 && v3.readableBytes == 0)
        // v5 (flexible): protocol type and name null, compact bytes length 0 = null, no tagged fields.
        var v5 = ByteBuffer(bytes: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        #expect(try SyncGroupResponse(from: &v5, version: 5).assignment.readableBytes == 0)
        #expect(v5.readableBytes == 0)
    }

    @Test func nullInNonNullableVersionThrows() {
        var buffer = ByteBuffer()
        #expect(throws: KafkaProtocolError.unexpectedNull(field: "MetadataRequest.topics", version: 0)) {
            try MetadataRequest(topics: nil).encode(into: &buffer, version: 0)
        }
        var nullArray = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: KafkaProtocolError.unexpectedNull(field: "MetadataRequest.topics", version: 0)) {
            try MetadataRequest(from: &nullArray, version: 0)
        }
        // A topic name is nullable only from v10.
        #expect(throws: KafkaProtocolError.unexpectedNull(field: "MetadataRequest.MetadataRequestTopic.name", version: 9)) {
            try MetadataRequest(topics: [.init(name: nil)]).encode(into: &buffer, version: 9)
        }
        // A null STRING where the definition has a non-nullable one.
        var nullTopicName = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00])
        #expect(throws: KafkaProtocolError.unexpectedNull(field: "ProduceRequest.TopicProduceData.name", version: 3)) {
            try ProduceRequest(from: &nullTopicName, version: 3)
        }
    }

    @Test func failedEncodeLeavesTheBufferAsItWas() {
        var buffer = ByteBuffer(bytes: [9, 9])
        // The topic count is written before the null name (nullable only from v10) is found.
        #expect(throws: KafkaProtocolError.self) {
            try MetadataRequest(topics: [.init(name: "ok"), .init(name: nil)]).encode(into: &buffer, version: 9)
        }
        #expect(Array(buffer.readableBytesView) == [9, 9])
    }

    @Test func unsupportedVersionThrows() {
        var buffer = ByteBuffer()
        #expect(throws: KafkaProtocolError.unsupportedVersion(message: "ProduceRequest", version: 12)) {
            try ProduceRequest().encode(into: &buffer, version: 12)
        }
        #expect(throws: KafkaProtocolError.unsupportedVersion(message: "MetadataRequest", version: -1)) {
            try MetadataRequest(from: &buffer, version: -1)
        }
    }

    @Test func hugeCountsAreRejectedBeforeAllocating() {
        // An array count of 0x7FFFFFFF with 4 bytes behind it.
        var buffer = ByteBuffer(bytes: [0x00, 0x00, 0x00, 0x00, 0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0])
        #expect(throws: KafkaProtocolError.self) { try FetchResponse(from: &buffer, version: 4) }
        // Compact: varint count 2^28.
        var compact = ByteBuffer(bytes: [0x00, 0x00, 0x80, 0x80, 0x80, 0x80, 0x01])
        #expect(throws: KafkaProtocolError.self) { try ApiVersionsResponse(from: &compact, version: 3) }
    }

    @Test func oversizedStringIsAnErrorNotATrap() {
        var buffer = ByteBuffer()
        let long = String(repeating: "x", count: Int(Int16.max) + 1)
        #expect(throws: KafkaProtocolError.self) {
            try MetadataRequest(topics: [.init(name: long)]).encode(into: &buffer, version: 1)
        }
    }
}

@Suite("Generated enums")
struct GeneratedEnumTests {
    @Test func errorCodes() {
        #expect(KafkaErrorCode.none.rawValue == 0)
        #expect(KafkaErrorCode.notLeaderOrFollower.rawValue == 6)
        #expect(KafkaErrorCode.notLeaderOrFollower.name == "NOT_LEADER_OR_FOLLOWER")
        #expect(KafkaErrorCode.notLeaderOrFollower.isRetriable)
        #expect(!KafkaErrorCode.topicAuthorizationFailed.isRetriable)
        #expect(KafkaErrorCode.unknownServerError.rawValue == -1)
        #expect(KafkaErrorCode(rawValue: 6) == .notLeaderOrFollower)
        let unknown = KafkaErrorCode(rawValue: 9999)
        #expect(unknown.name == "UNKNOWN_ERROR_CODE_9999")
        #expect(!unknown.isRetriable)
        #expect(!unknown.message.isEmpty)
    }

    @Test func apiKeys() {
        #expect(KafkaAPIKey.produce.rawValue == 0)
        #expect(KafkaAPIKey.fetch.rawValue == 1)
        #expect(KafkaAPIKey.apiVersions.rawValue == 18)
        #expect(KafkaAPIKey.apiVersions.name == "ApiVersions")
        #expect(KafkaAPIKey(rawValue: 68) == .consumerGroupHeartbeat)
        #expect(KafkaAPIKey(rawValue: 999) == nil)
        #expect(ProduceRequest.apiKey == KafkaAPIKey.produce.rawValue)
    }
}

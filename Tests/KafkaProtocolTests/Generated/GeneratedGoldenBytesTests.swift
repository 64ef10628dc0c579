import KafkaProtocol
import NIOCore
import Testing

/// Golden bytes for representative generated messages, written out by hand field by field from the
/// message definitions (`../shared/kafka-protocol/messages/*.json`) and the primitive encodings of the
/// protocol guide (int16/int32/int64 big-endian; STRING = int16 length + UTF-8; BYTES/ARRAY = int32
/// length; COMPACT_* = unsigned varint length + 1 with 0 for null; tagged fields = varint count, then per
/// field varint tag, varint size, value), never taken from our own encoder.
@Suite("Generated messages: golden bytes")
struct GeneratedGoldenBytesTests {
    // MARK: ApiVersions

    @Test func apiVersionsRequestV0IsEmpty() throws {
        try expectEncodes(ApiVersionsRequest(), version: 0, to: [])
        // Ignorable fields the version lacks are dropped silently.
        try expectEncodes(ApiVersionsRequest(clientSoftwareName: "klife", clientSoftwareVersion: "0.1.0"), version: 0, to: [])
    }

    @Test func apiVersionsRequestV3() throws {
        let bytes: [UInt8] = [
            0x06, 0x6B, 0x6C, 0x69, 0x66, 0x65,  // client_software_name: COMPACT_STRING "klife"
            0x06, 0x30, 0x2E, 0x31, 0x2E, 0x30,  // client_software_version: COMPACT_STRING "0.1.0"
            0x00,  // no tagged fields
        ]
        let message = ApiVersionsRequest(clientSoftwareName: "klife", clientSoftwareVersion: "0.1.0")
        try expectEncodes(message, version: 3, to: bytes)
        try expectDecodes(bytes, version: 3, to: message)
    }

    @Test func apiVersionsResponseV0() throws {
        let bytes: [UInt8] = [
            0x00, 0x00,  // error_code
            0x00, 0x00, 0x00, 0x02,  // api_keys: ARRAY of 2
            0x00, 0x00, 0x00, 0x03, 0x00, 0x09,  // Produce 3–9
            0x00, 0x12, 0x00, 0x00, 0x00, 0x04,  // ApiVersions 0–4
        ]
        let message = ApiVersionsResponse(apiKeys: [
            .init(apiKey: 0, minVersion: 3, maxVersion: 9), .init(apiKey: 18, minVersion: 0, maxVersion: 4),
        ])
        try expectEncodes(message, version: 0, to: bytes)
        try expectDecodes(bytes, version: 0, to: message)
    }

    /// Tansu always sends the four top-level tagged fields, even at their default values (TANSU.md §3).
    static let tansuApiVersionsResponseV3: [UInt8] = [
        0x00, 0x00,  // error_code
        0x02,  // api_keys: COMPACT_ARRAY of 1
        0x00, 0x12, 0x00, 0x00, 0x00, 0x04, 0x00,  // ApiVersions 0–4, no tagged fields
        0x00, 0x00, 0x00, 0x00,  // throttle_time_ms
        0x04,  // 4 tagged fields
        0x00, 0x01, 0x01,  // tag 0 SupportedFeatures, size 1: empty COMPACT_ARRAY
        0x01, 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,  // tag 1 FinalizedFeaturesEpoch, size 8: -1
        0x02, 0x01, 0x01,  // tag 2 FinalizedFeatures, size 1: empty COMPACT_ARRAY
        0x03, 0x01, 0x00,  // tag 3 ZkMigrationReady, size 1: false
    ]

    @Test func apiVersionsResponseV3WithTansuTaggedFields() throws {
        let expected = ApiVersionsResponse(apiKeys: [.init(apiKey: 18, minVersion: 0, maxVersion: 4)])
        try expectDecodes(Self.tansuApiVersionsResponseV3, version: 3, to: expected)
        // Apache Kafka (and we) omit tagged fields at their defaults.
        try expectEncodes(expected, version: 3, to: Array(Self.tansuApiVersionsResponseV3[0..<14]) + [0x00])
        // Every proper prefix is an error, not a misparse.
        for length in 0..<Self.tansuApiVersionsResponseV3.count {
            var prefix = ByteBuffer(bytes: Self.tansuApiVersionsResponseV3[0..<length])
            #expect(throws: KafkaProtocolError.self) { try ApiVersionsResponse(from: &prefix, version: 3) }
        }
    }

    @Test func apiVersionsResponseV3KnownTagsDecodedUnknownTagsSkipped() throws {
        let bytes: [UInt8] = [
            0x00, 0x00,  // error_code
            0x01,  // api_keys: empty COMPACT_ARRAY
            0x00, 0x00, 0x00, 0x00,  // throttle_time_ms
            0x03,  // 3 tagged fields
            0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,  // tag 1 FinalizedFeaturesEpoch = 5
            0x03, 0x01, 0x01,  // tag 3 ZkMigrationReady = true
            0x09, 0x03, 0xAA, 0xBB, 0xCC,  // tag 9 (unknown), size 3: skipped
        ]
        let expected = ApiVersionsResponse(finalizedFeaturesEpoch: 5, zkMigrationReady: true)
        try expectDecodes(bytes, version: 3, to: expected)
        var withoutUnknown = Array(bytes[0..<21])
        withoutUnknown[7] = 0x02
        try expectEncodes(expected, version: 3, to: withoutUnknown)
    }

    @Test func taggedFieldSizeBeyondTheBufferThrows() {
        var buffer = ByteBuffer(bytes: [
            0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
            0x01,  // 1 tagged field
            0x01, 0x08, 0x00, 0x01,  // tag 1 claims 8 bytes, 2 present
        ])
        #expect(throws: KafkaProtocolError.self) { try ApiVersionsResponse(from: &buffer, version: 3) }
    }

    // MARK: Metadata

    @Test func metadataRequestV1() throws {
        let bytes: [UInt8] = [
            0x00, 0x00, 0x00, 0x01,  // topics: ARRAY of 1
            0x00, 0x06, 0x6F, 0x72, 0x64, 0x65, 0x72, 0x73,  // name: STRING "orders"
        ]
        let message = MetadataRequest(topics: [.init(name: "orders")])
        try expectEncodes(message, version: 1, to: bytes)
        try expectDecodes(bytes, version: 1, to: message)
        // v1+: a null topic array asks for all topics.
        try expectEncodes(MetadataRequest(topics: nil), version: 1, to: [0xFF, 0xFF, 0xFF, 0xFF])
        try expectDecodes([0xFF, 0xFF, 0xFF, 0xFF], version: 1, to: MetadataRequest(topics: nil))
    }

    @Test func metadataRequestV12() throws {
        let bytes: [UInt8] = [
            0x03,  // topics: COMPACT_ARRAY of 2
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // topic_id: zero UUID
            0x07, 0x6F, 0x72, 0x64, 0x65, 0x72, 0x73,  // name: COMPACT_NULLABLE_STRING "orders"
            0x00,  // topic tagged fields
            0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10,  // topic_id
            0x00,  // name: null
            0x00,  // topic tagged fields
            0x01,  // allow_auto_topic_creation: true
            0x00,  // include_topic_authorized_operations: false
            0x00,  // tagged fields
        ]
        let message = MetadataRequest(topics: [
            .init(topicId: .zero, name: "orders"),
            .init(topicId: KafkaUUID(high: 0x0102_0304_0506_0708, low: 0x090A_0B0C_0D0E_0F10), name: nil),
        ])
        try expectEncodes(message, version: 12, to: bytes)
        try expectDecodes(bytes, version: 12, to: message)
    }

    @Test func metadataResponseV12() throws {
        let bytes: [UInt8] = [
            0x00, 0x00, 0x00, 0x00,  // throttle_time_ms
            0x02,  // brokers: COMPACT_ARRAY of 1
            0x00, 0x00, 0x00, 0x6F,  // node_id: 111
            0x0A, 0x31, 0x32, 0x37, 0x2E, 0x30, 0x2E, 0x30, 0x2E, 0x31,  // host: "127.0.0.1"
            0x00, 0x00, 0x23, 0x84,  // port: 9092
            0x00,  // rack: null
            0x00,  // broker tagged fields
            0x03, 0x63, 0x31,  // cluster_id: "c1"
            0x00, 0x00, 0x00, 0x6F,  // controller_id: 111
            0x02,  // topics: COMPACT_ARRAY of 1
            0x00, 0x00,  // error_code
            0x07, 0x6F, 0x72, 0x64, 0x65, 0x72, 0x73,  // name: "orders"
            0, 0, 0, 0, 0, 0, 0, 0x0A, 0, 0, 0, 0, 0, 0, 0, 0x0B,  // topic_id
            0x00,  // is_internal: false
            0x02,  // partitions: COMPACT_ARRAY of 1
            0x00, 0x00,  // error_code
            0x00, 0x00, 0x00, 0x00,  // partition_index: 0
            0x00, 0x00, 0x00, 0x6F,  // leader_id: 111
            0x00, 0x00, 0x00, 0x03,  // leader_epoch: 3
            0x02, 0x00, 0x00, 0x00, 0x6F,  // replica_nodes: [111]
            0x02, 0x00, 0x00, 0x00, 0x6F,  // isr_nodes: [111]
            0x01,  // offline_replicas: []
            0x00,  // partition tagged fields
            0x80, 0x00, 0x00, 0x00,  // topic_authorized_operations: INT32_MIN (not requested)
            0x00,  // topic tagged fields
            0x00,  // tagged fields
        ]
        let message = MetadataResponse(
            brokers: [.init(nodeId: 111, host: "127.0.0.1", port: 9092, rack: nil)],
            clusterId: "c1", controllerId: 111,
            topics: [
                .init(
                    errorCode: 0, name: "orders", topicId: KafkaUUID(high: 10, low: 11), isInternal: false,
                    partitions: [.init(partitionIndex: 0, leaderId: 111, leaderEpoch: 3, replicaNodes: [111], isrNodes: [111])]),
            ])
        #expect(message.topics[0].topicAuthorizedOperations == Int32.min)
        try expectEncodes(message, version: 12, to: bytes)
        try expectDecodes(bytes, version: 12, to: message)
    }

    // MARK: Produce

    @Test func produceRequestV3() throws {
        let bytes: [UInt8] = [
            0xFF, 0xFF,  // transactional_id: null NULLABLE_STRING
            0xFF, 0xFF,  // acks: -1
            0x00, 0x00, 0x75, 0x30,  // timeout_ms: 30000
            0x00, 0x00, 0x00, 0x01,  // topic_data: ARRAY of 1
            0x00, 0x01, 0x74,  // name: "t"
            0x00, 0x00, 0x00, 0x01,  // partition_data: ARRAY of 1
            0x00, 0x00, 0x00, 0x00,  // index: 0
            0x00, 0x00, 0x00, 0x03, 0xAA, 0xBB, 0xCC,  // records: 3 bytes
        ]
        let message = ProduceRequest(acks: -1, timeoutMs: 30000, topicData: [
            .init(name: "t", partitionData: [.init(index: 0, records: ByteBuffer(bytes: [0xAA, 0xBB, 0xCC]))]),
        ])
        try expectEncodes(message, version: 3, to: bytes)
        try expectDecodes(bytes, version: 3, to: message)
    }

    @Test func produceRequestV9() throws {
        let bytes: [UInt8] = [
            0x03, 0x74, 0x78,  // transactional_id: COMPACT_NULLABLE_STRING "tx"
            0x00, 0x01,  // acks: 1
            0x00, 0x00, 0x03, 0xE8,  // timeout_ms: 1000
            0x02,  // topic_data: COMPACT_ARRAY of 1
            0x02, 0x74,  // name: COMPACT_STRING "t"
            0x02,  // partition_data: COMPACT_ARRAY of 1
            0x00, 0x00, 0x00, 0x02,  // index: 2
            0x04, 0xAA, 0xBB, 0xCC,  // records: COMPACT_RECORDS of 3 bytes
            0x00,  // partition tagged fields
            0x00,  // topic tagged fields
            0x00,  // tagged fields
        ]
        let message = ProduceRequest(transactionalId: "tx", acks: 1, timeoutMs: 1000, topicData: [
            .init(name: "t", partitionData: [.init(index: 2, records: ByteBuffer(bytes: [0xAA, 0xBB, 0xCC]))]),
        ])
        try expectEncodes(message, version: 9, to: bytes)
        try expectDecodes(bytes, version: 9, to: message)
    }

    // MARK: Fetch

    @Test func fetchResponseV4() throws {
        let bytes: [UInt8] = [
            0x00, 0x00, 0x00, 0x00,  // throttle_time_ms
            0x00, 0x00, 0x00, 0x01,  // responses: ARRAY of 1
            0x00, 0x06, 0x6F, 0x72, 0x64, 0x65, 0x72, 0x73,  // topic: "orders"
            0x00, 0x00, 0x00, 0x01,  // partitions: ARRAY of 1
            0x00, 0x00, 0x00, 0x02,  // partition_index: 2
            0x00, 0x00,  // error_code
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x64,  // high_watermark: 100
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5A,  // last_stable_offset: 90
            0x00, 0x00, 0x00, 0x01,  // aborted_transactions: ARRAY of 1
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07,  // producer_id: 7
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x50,  // first_offset: 80
            0x00, 0x00, 0x00, 0x04, 0xDE, 0xAD, 0xBE, 0xEF,  // records: 4 bytes
        ]
        let message = FetchResponse(responses: [
            .init(topic: "orders", partitions: [
                .init(
                    partitionIndex: 2, errorCode: 0, highWatermark: 100, lastStableOffset: 90,
                    abortedTransactions: [.init(producerId: 7, firstOffset: 80)],
                    records: ByteBuffer(bytes: [0xDE, 0xAD, 0xBE, 0xEF])),
            ]),
        ])
        try expectEncodes(message, version: 4, to: bytes)
        let decoded = try expectDecodes(bytes, version: 4, to: message)
        // Records are a slice of the received buffer (zero-copy), with exactly the record bytes.
        #expect(decoded.responses[0].partitions[0].records?.readableBytesView.elementsEqual([0xDE, 0xAD, 0xBE, 0xEF]) == true)
    }

    static let fetchResponseV12: [UInt8] = [
        0x00, 0x00, 0x00, 0x00,  // throttle_time_ms
        0x00, 0x00,  // error_code
        0x00, 0x00, 0x00, 0x2A,  // session_id: 42
        0x02,  // responses: COMPACT_ARRAY of 1
        0x07, 0x6F, 0x72, 0x64, 0x65, 0x72, 0x73,  // topic: COMPACT_STRING "orders"
        0x02,  // partitions: COMPACT_ARRAY of 1
        0x00, 0x00, 0x00, 0x00,  // partition_index: 0
        0x00, 0x00,  // error_code
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x64,  // high_watermark: 100
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x64,  // last_stable_offset: 100
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // log_start_offset: 0
        0x00,  // aborted_transactions: null COMPACT_ARRAY
        0xFF, 0xFF, 0xFF, 0xFF,  // preferred_read_replica: -1
        0x05, 0xDE, 0xAD, 0xBE, 0xEF,  // records: COMPACT_RECORDS of 4 bytes
        0x01,  // partition: 1 tagged field
        0x01, 0x09,  // tag 1 CurrentLeader, size 9
        0x00, 0x00, 0x00, 0x03,  // leader_id: 3
        0x00, 0x00, 0x00, 0x07,  // leader_epoch: 7
        0x00,  // CurrentLeader tagged fields
        0x00,  // topic tagged fields
        0x00,  // tagged fields
    ]

    @Test func fetchResponseV12() throws {
        let message = FetchResponse(sessionId: 42, responses: [
            .init(topic: "orders", partitions: [
                .init(
                    partitionIndex: 0, highWatermark: 100, lastStableOffset: 100, logStartOffset: 0,
                    currentLeader: .init(leaderId: 3, leaderEpoch: 7), abortedTransactions: nil,
                    preferredReadReplica: -1, records: ByteBuffer(bytes: [0xDE, 0xAD, 0xBE, 0xEF])),
            ]),
        ])
        try expectEncodes(message, version: 12, to: Self.fetchResponseV12)
        try expectDecodes(Self.fetchResponseV12, version: 12, to: message)
    }

    @Test func fetchResponseV12SkipsUnknownPartitionTag() throws {
        var bytes = Self.fetchResponseV12
        // Partition tagged fields: 2 fields, the known tag 1 and an unknown tag 5 with 2 bytes.
        let tagCountIndex = bytes.count - 14
        #expect(bytes[tagCountIndex] == 0x01)
        bytes[tagCountIndex] = 0x02
        bytes.insert(contentsOf: [0x05, 0x02, 0x12, 0x34], at: bytes.count - 2)
        var buffer = ByteBuffer(bytes: bytes)
        let decoded = try FetchResponse(from: &buffer, version: 12)
        #expect(buffer.readableBytes == 0)
        #expect(decoded.responses[0].partitions[0].currentLeader == .init(leaderId: 3, leaderEpoch: 7))
    }

    // MARK: Nullable struct (KIP-848 heartbeat)

    @Test func consumerGroupHeartbeatResponseV0NullableStruct() throws {
        let head: [UInt8] = [
            0x00, 0x00, 0x00, 0x00,  // throttle_time_ms
            0x00, 0x00,  // error_code
            0x00,  // error_message: null COMPACT_NULLABLE_STRING
            0x02, 0x6D,  // member_id: "m"
            0x00, 0x00, 0x00, 0x05,  // member_epoch: 5
            0x00, 0x00, 0x13, 0x88,  // heartbeat_interval_ms: 5000
        ]
        let withoutAssignment = head + [0xFF, 0x00]  // assignment: null marker -1; tagged fields
        let message = ConsumerGroupHeartbeatResponse(memberId: "m", memberEpoch: 5, heartbeatIntervalMs: 5000)
        try expectEncodes(message, version: 0, to: withoutAssignment)
        try expectDecodes(withoutAssignment, version: 0, to: message)

        let withAssignment = head + [
            0x01,  // assignment: present marker 1
            0x02,  // topic_partitions: COMPACT_ARRAY of 1
            0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2,  // topic_id
            0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,  // partitions: COMPACT_ARRAY [0, 1]
            0x00,  // TopicPartitions tagged fields
            0x00,  // Assignment tagged fields
            0x00,  // tagged fields
        ]
        var assigned = message
        assigned.assignment = .init(topicPartitions: [.init(topicId: KafkaUUID(high: 1, low: 2), partitions: [0, 1])])
        try expectEncodes(assigned, version: 0, to: withAssignment)
        try expectDecodes(withAssignment, version: 0, to: assigned)
    }

    // MARK: Helpers

    func expectEncodes<M: KafkaMessage>(_ message: M, version: Int16, to bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws {
        var buffer = ByteBuffer()
        try message.encode(into: &buffer, version: version)
        #expect(Array(buffer.readableBytesView) == bytes, sourceLocation: sourceLocation)
    }

    @discardableResult
    func expectDecodes<M: KafkaMessage>(_ bytes: [UInt8], version: Int16, to message: M, sourceLocation: SourceLocation = #_sourceLocation) throws -> M {
        var buffer = ByteBuffer(bytes: bytes)
        let decoded = try M(from: &buffer, version: version)
        #expect(decoded == message, sourceLocation: sourceLocation)
        #expect(buffer.readableBytes == 0, sourceLocation: sourceLocation)
        return decoded
    }
}

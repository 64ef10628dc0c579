import KafkaProtocol

/// The request types whose versions every connection negotiates up front (so that
/// ``KafkaConnection/negotiatedVersion(for:)-(Int16)`` answers by API key). Any other generated request
/// still works with ``KafkaConnection/send(_:version:timeout:)``; its version is computed on use.
enum KafkaSupportedAPIs {
    static let requestTypes: [any KafkaRequestMessage.Type] = [
        ProduceRequest.self, FetchRequest.self, ListOffsetsRequest.self, MetadataRequest.self,
        OffsetCommitRequest.self, OffsetFetchRequest.self, FindCoordinatorRequest.self, JoinGroupRequest.self,
        HeartbeatRequest.self, LeaveGroupRequest.self, SyncGroupRequest.self, DescribeGroupsRequest.self,
        ListGroupsRequest.self, SaslHandshakeRequest.self, ApiVersionsRequest.self, CreateTopicsRequest.self,
        DeleteTopicsRequest.self, DeleteRecordsRequest.self, InitProducerIdRequest.self,
        OffsetForLeaderEpochRequest.self, AddPartitionsToTxnRequest.self, AddOffsetsToTxnRequest.self,
        EndTxnRequest.self, TxnOffsetCommitRequest.self, DescribeAclsRequest.self, CreateAclsRequest.self,
        DeleteAclsRequest.self, DescribeConfigsRequest.self, AlterConfigsRequest.self,
        SaslAuthenticateRequest.self, CreatePartitionsRequest.self, DeleteGroupsRequest.self,
        IncrementalAlterConfigsRequest.self, OffsetDeleteRequest.self, DescribeClusterRequest.self,
        DescribeProducersRequest.self, DescribeTransactionsRequest.self, ListTransactionsRequest.self,
        ConsumerGroupHeartbeatRequest.self, ConsumerGroupDescribeRequest.self,
        DescribeTopicPartitionsRequest.self,
    ]

    /// Our version range per API key.
    static let versions: [Int16: ClosedRange<Int16>] = Dictionary(
        requestTypes.map { ($0.apiKey, $0.validVersions) }, uniquingKeysWith: { first, _ in first }
    )
}

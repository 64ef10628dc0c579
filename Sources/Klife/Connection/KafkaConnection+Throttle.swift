import KafkaProtocol
import NIOCore

extension KafkaConnection {
    /// The first version of an API whose answers come before the broker throttles the connection (KIP-219):
    /// from it on, the client must hold its next requests itself. Older versions are answered only after the
    /// throttle (nothing to do). APIs added after KIP-219 (ConsumerGroupHeartbeat) throttle this way from v0.
    static func firstVersionAnsweredBeforeThrottling(apiKey: Int16) -> Int16 {
        switch apiKey {
        case ProduceRequest.apiKey: 6
        case FetchRequest.apiKey: 8
        case ListOffsetsRequest.apiKey, CreateTopicsRequest.apiKey, JoinGroupRequest.apiKey: 3
        case MetadataRequest.apiKey: 6
        case OffsetCommitRequest.apiKey, OffsetFetchRequest.apiKey: 4
        case FindCoordinatorRequest.apiKey, HeartbeatRequest.apiKey, LeaveGroupRequest.apiKey, SyncGroupRequest.apiKey,
             DescribeGroupsRequest.apiKey, ListGroupsRequest.apiKey, ApiVersionsRequest.apiKey, DeleteTopicsRequest.apiKey,
             OffsetForLeaderEpochRequest.apiKey, DescribeConfigsRequest.apiKey:
            2
        case DeleteRecordsRequest.apiKey, InitProducerIdRequest.apiKey, AddPartitionsToTxnRequest.apiKey,
             AddOffsetsToTxnRequest.apiKey, EndTxnRequest.apiKey, TxnOffsetCommitRequest.apiKey, DeleteGroupsRequest.apiKey,
             DescribeAclsRequest.apiKey, CreateAclsRequest.apiKey, DeleteAclsRequest.apiKey, AlterConfigsRequest.apiKey,
             AlterReplicaLogDirsRequest.apiKey, DescribeLogDirsRequest.apiKey, CreatePartitionsRequest.apiKey,
             CreateDelegationTokenRequest.apiKey, RenewDelegationTokenRequest.apiKey, ExpireDelegationTokenRequest.apiKey,
             DescribeDelegationTokenRequest.apiKey:
            1
        // Every other response with a throttle time belongs to an API added after KIP-219.
        default: 0
        }
    }

    /// Holds this connection's next requests for the throttle time `response` carries, when the broker
    /// answered before throttling (see ``KafkaChannelHandler/Throttle``).
    ///
    /// A statically dispatched read of the field (a witness call; responses without it answer 0), so the hot
    /// paths' Produce and Fetch answers pay no dynamic cast.
    func noteThrottle<Response: KafkaResponseMessage>(of response: Response, apiKey: Int16, version: Int16) {
        let throttleTimeMs = response.throttleTimeMs
        guard throttleTimeMs > 0 else { return }
        let milliseconds = Int64(throttleTimeMs)
        metrics.recordThrottle(apiKey: apiKey, broker: metricsBrokerLabel, milliseconds: milliseconds)
        guard version >= Self.firstVersionAnsweredBeforeThrottling(apiKey: apiKey) else {
            logger.debug("the broker delayed its answer for a quota", metadata: [KafkaLogKey.api: "\(apiKey)", "kafka.throttle_ms": "\(milliseconds)"])
            return
        }
        logger.debug("the broker throttles this connection for a quota; holding requests", metadata: [KafkaLogKey.api: "\(apiKey)", "kafka.throttle_ms": "\(milliseconds)"])
        let until = NIODeadline.now() + .milliseconds(milliseconds)
        channel.pipeline.triggerUserOutboundEvent(KafkaChannelHandler.Throttle(until: until), promise: nil)
    }
}

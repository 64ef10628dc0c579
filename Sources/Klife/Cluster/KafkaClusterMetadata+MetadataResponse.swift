import KafkaProtocol

extension KafkaClusterMetadata.Response {
    /// The content of a decoded Metadata response.
    init(_ response: MetadataResponse) {
        self.init(
            brokers: response.brokers.map { KafkaBroker(nodeID: $0.nodeId, host: $0.host, port: Int($0.port), rack: $0.rack) },
            controllerID: response.controllerId,
            clusterID: response.clusterId,
            topics: response.topics.compactMap { topic in
                // We always ask by name, so a topic without one is not ours.
                guard let name = topic.name else { return nil }
                return KafkaTopicMetadata(
                    name: name, topicID: topic.topicId, isInternal: topic.isInternal,
                    partitions: topic.partitions.map {
                        KafkaPartitionMetadata(
                            partition: $0.partitionIndex, leaderID: $0.leaderId, leaderEpoch: $0.leaderEpoch,
                            replicas: $0.replicaNodes, inSyncReplicas: $0.isrNodes, offlineReplicas: $0.offlineReplicas,
                            errorCode: $0.errorCode)
                    },
                    errorCode: topic.errorCode)
            })
    }
}

extension MetadataRequest {
    /// A Metadata request for `topics` (nil = all topics) that never creates topics. Version 0 has no way to
    /// say "all topics" other than an empty list, so it gets one.
    static func forTopics(_ topics: [String]?, version: Int16?) -> MetadataRequest {
        let list = topics.map { $0.map { MetadataRequest.MetadataRequestTopic(name: $0) } }
        return MetadataRequest(topics: version == 0 ? (list ?? []) : list, allowAutoTopicCreation: false)
    }
}

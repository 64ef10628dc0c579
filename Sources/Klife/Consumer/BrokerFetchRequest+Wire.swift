import KafkaProtocol

extension BrokerFetchRequest {
    /// The smallest `MaxWaitMs` sent. Tansu answers a Fetch with `MaxWaitMs` 0 with no topics at all (it
    /// stops waiting before it reads), so 0 becomes this; Kafka returns at once anyway when data is there.
    static let minimumMaxWaitMs: Int32 = 10

    /// Whether every topic has an id, so Fetch v13+ (topic ids instead of names) can be used.
    var hasTopicIDs: Bool { topics.allSatisfy { $0.topicID != .zero } }

    /// The highest Fetch version this request can use given the connection's negotiated version.
    func usableVersion(negotiated: Int16) -> Int16 {
        hasTopicIDs ? negotiated : min(negotiated, 12)
    }

    /// The wire request at `version` (names before v13, ids from v13; no fetch session). Leader epochs
    /// (KIP-320) go out from the versions that carry them: the current epoch from v9, the last fetched one
    /// from v12; -1 (a broker that tracks no epochs reports -1 in its metadata) asks for no check.
    /// `rackID`: the client's rack (v11+, KIP-392), empty for none.
    func wireRequest(version: Int16, rackID: String = "") -> FetchRequest {
        let byID = version >= 13
        return FetchRequest(
            replicaId: -1, maxWaitMs: max(maxWaitMs, Self.minimumMaxWaitMs), minBytes: minBytes, maxBytes: maxBytes,
            isolationLevel: isolationLevel.wireValue, sessionId: 0, sessionEpoch: -1,
            topics: topics.map { topic in
                FetchRequest.FetchTopic(
                    topic: byID ? "" : topic.name, topicId: byID ? topic.topicID : .zero,
                    partitions: topic.partitions.map {
                        FetchRequest.FetchPartition(
                            partition: $0.partition, currentLeaderEpoch: version >= 9 ? $0.currentLeaderEpoch : -1,
                            fetchOffset: $0.fetchOffset, lastFetchedEpoch: version >= 12 ? $0.lastFetchedEpoch : -1, logStartOffset: -1, partitionMaxBytes: $0.partitionMaxBytes)
                    })
            },
            rackId: rackID)
    }

    /// The position each response partition answers, with that partition's data. Partitions the request did
    /// not ask for are ignored.
    func matchResponse(_ response: FetchResponse, version: Int16) -> [(KafkaFetchPosition, FetchResponse.PartitionData)] {
        var matched: [(KafkaFetchPosition, FetchResponse.PartitionData)] = []
        for topic in response.responses {
            for partition in topic.partitions {
                let position =
                    version >= 13
                    ? self.position(topicID: topic.topicId, partition: partition.partitionIndex)
                    : self.position(topic: topic.topic, partition: partition.partitionIndex)
                if let position { matched.append((position, partition)) }
            }
        }
        return matched
    }
}

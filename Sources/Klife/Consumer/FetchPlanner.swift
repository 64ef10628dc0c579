/// Groups fetch positions into Fetch requests: one per leader broker, split only when the partitions' max
/// bytes would exceed the fetcher's `maxBytesPerRequest` or when the same partition is asked for twice (the
/// protocol allows a partition once per request).
struct FetchPlanner {
    /// The request-wide settings (from the fetcher configuration and the call's options).
    struct Settings: Equatable {
        var maxBytesPerRequest: Int32
        var maxWaitMs: Int32
        var minBytes: Int32
        var isolationLevel: KafkaIsolationLevel
    }

    struct Item: Equatable {
        var position: KafkaFetchPosition
        /// The partition max bytes for this position.
        var maxBytes: Int32
    }

    struct Plan: Equatable {
        var requests: [BrokerFetchRequest]
        /// Positions that cannot be sent now, with the route that stopped them.
        var unroutable: [(position: KafkaFetchPosition, route: FetchRoute)]

        static func == (a: Plan, b: Plan) -> Bool {
            a.requests == b.requests && a.unroutable.elementsEqual(b.unroutable) { $0.position == $1.position && $0.route == $1.route }
        }
    }

    var settings: Settings
    /// The id the next planned request gets.
    var nextRequestID = 0

    init(settings: Settings) {
        self.settings = settings
    }

    /// Plans `items` in their order; `route` answers from the current metadata.
    mutating func plan(_ items: [Item], route: (_ topic: String, _ partition: Int32) -> FetchRoute) -> Plan {
        var requests: [BrokerFetchRequest] = []
        var unroutable: [(position: KafkaFetchPosition, route: FetchRoute)] = []
        let limit = Int(settings.maxBytesPerRequest)
        for item in items {
            let r = route(item.position.topic, item.position.partition)
            guard case let .leader(brokerID, topicID, leaderEpoch) = r else {
                unroutable.append((item.position, r))
                continue
            }
            let partition = BrokerFetchRequest.Partition(
                partition: item.position.partition, fetchOffset: item.position.offset,
                partitionMaxBytes: item.maxBytes, currentLeaderEpoch: leaderEpoch,
                epochOfPosition: item.position.lastFetchedEpoch)
            let index = requests.firstIndex { request in
                request.brokerID == brokerID
                    && !request.contains(topic: item.position.topic, partition: item.position.partition)
                    && (request.partitionCount == 0 || request.partitionBytes + Int(item.maxBytes) <= limit)
            }
            if let index {
                if let t = requests[index].topics.firstIndex(where: { $0.name == item.position.topic }) {
                    requests[index].topics[t].partitions.append(partition)
                } else {
                    requests[index].topics.append(.init(name: item.position.topic, topicID: topicID, partitions: [partition]))
                }
            } else {
                requests.append(BrokerFetchRequest(
                    id: nextRequestID, brokerID: brokerID, isolationLevel: settings.isolationLevel,
                    maxWaitMs: settings.maxWaitMs, minBytes: settings.minBytes, maxBytes: settings.maxBytesPerRequest,
                    topics: [.init(name: item.position.topic, topicID: topicID, partitions: [partition])]))
                nextRequestID += 1
            }
        }
        return Plan(requests: requests, unroutable: unroutable)
    }
}

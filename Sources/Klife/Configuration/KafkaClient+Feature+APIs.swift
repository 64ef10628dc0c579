import KafkaProtocol

extension KafkaClient.Feature {
    /// The APIs each feature needs (any one of the alternatives in an inner list will do).
    static let requiredAPIs: [KafkaClient.Feature: [[any KafkaRequestMessage.Type]]] = [
        .producer: [[ProduceRequest.self]],
        .idempotentProducer: [[ProduceRequest.self], [InitProducerIdRequest.self]],
        .transactionalProducer: [
            [ProduceRequest.self], [InitProducerIdRequest.self], [FindCoordinatorRequest.self], [AddPartitionsToTxnRequest.self],
            [EndTxnRequest.self],
        ],
        .fetch: [[FetchRequest.self], [ListOffsetsRequest.self]],
        .consumerGroup: [[FindCoordinatorRequest.self], [ConsumerGroupHeartbeatRequest.self, JoinGroupRequest.self], [OffsetCommitRequest.self], [OffsetFetchRequest.self]],
        .admin: [[CreateTopicsRequest.self], [DeleteTopicsRequest.self]],
    ]

    private static func apiName(_ type: any KafkaRequestMessage.Type) -> String {
        let name = String(describing: type)
        return name.hasSuffix("Request") ? String(name.dropLast("Request".count)) : name
    }

    /// The features a broker cannot serve, with the reason, given the version negotiated per request type
    /// (nil = no usable version).
    static func unsupported(by version: (any KafkaRequestMessage.Type) -> Int16?) -> [KafkaClient.Feature: String] {
        var result: [KafkaClient.Feature: String] = [:]
        for (feature, requirements) in requiredAPIs {
            let missing = requirements.filter { alternatives in alternatives.allSatisfy { version($0) == nil } }
            guard !missing.isEmpty else { continue }
            let names = missing.map { alternatives in alternatives.map { apiName($0) }.joined(separator: " or ") }
            result[feature] = "the broker offers no usable version of \(names.joined(separator: ", "))"
        }
        return result
    }
}

import KafkaProtocol

extension KafkaClient {
    /// DescribeConfigs' and IncrementalAlterConfigs' resource type of a topic.
    private static let topicResourceType: Int8 = 2

    /// A topic's configuration (DescribeConfigs): every entry, or only `keys`, with where each value comes from.
    ///
    /// - Parameter keys: the entries to report; nil reports all of them.
    /// - Returns: the entries, sorted by name.
    /// - Throws: ``KafkaError``: ``KafkaError/Code/invalidArgument`` (an illegal topic name, an empty key list),
    ///   ``KafkaError/Code/unknownTopicOrPartition`` when the topic does not exist, ``KafkaError/Code/brokerError``
    ///   with the Kafka code (TOPIC_AUTHORIZATION_FAILED, …), ``KafkaError/Code/featureDisabled`` when the
    ///   broker lacks DescribeConfigs, connection errors, ``KafkaError/Code/clientNotRunning``.
    public func describeTopicConfigs(_ topic: String, keys: [String]? = nil) async throws -> [KafkaConfigEntry] {
        try requireRunning()
        try KafkaTopicConfiguration.validateTopicName(topic)
        if let keys, keys.isEmpty { throw KafkaError(.invalidArgument, "describeTopicConfigs: the key list is empty (nil asks for every entry)") }
        // Every entry is asked for and `keys` picked here: Tansu closes the connection on a key list.
        let request = DescribeConfigsRequest(
            resources: [.init(resourceType: Self.topicResourceType, resourceName: topic, configurationKeys: nil)])
        let (response, _) = try await sendToController(request, timeout: configuration.connection.requestTimeout)
        guard let result = response.results.first(where: { $0.resourceName == topic && $0.resourceType == Self.topicResourceType }) else {
            throw KafkaError(.protocolViolation, "DescribeConfigs answered without topic \(topic)")
        }
        if let error = Self.topicError(result.errorCode, result.errorMessage, topic: topic, operation: "describe the configuration of") {
            throw error
        }
        let wanted = keys.map(Set.init)
        return result.configs.filter { wanted?.contains($0.name) ?? true }.map { entry in
            // v0 has no source, only whether the value is a default; a topic's value that is not is its own.
            let source: KafkaConfigEntry.Source =
                entry.configSource == -1 ? (entry.isDefault ? .default : .topic) : .init(wireValue: entry.configSource)
            return KafkaConfigEntry(
                name: entry.name, value: entry.isSensitive ? nil : entry.value, source: source, isReadOnly: entry.readOnly,
                isSensitive: entry.isSensitive)
        }.sorted { $0.name < $1.name }
    }

    /// Changes a topic's configuration (IncrementalAlterConfigs, KIP-339): the entries named change, the others
    /// keep their values. All changes are applied together or none is.
    ///
    /// - Parameter validateOnly: ask the broker whether the changes are valid without applying them.
    /// - Throws: ``KafkaError``: ``KafkaError/Code/invalidArgument`` (no changes, an entry named twice, an empty
    ///   name, an illegal topic name; INVALID_CONFIG, INVALID_REQUEST and POLICY_VIOLATION from the broker, with
    ///   its message), ``KafkaError/Code/unknownTopicOrPartition`` when the topic does not exist,
    ///   ``KafkaError/Code/brokerError`` with the Kafka code, ``KafkaError/Code/featureDisabled`` when the
    ///   broker lacks IncrementalAlterConfigs (Kafka 2.3+), connection errors, ``KafkaError/Code/clientNotRunning``.
    public func alterTopicConfigs(_ topic: String, _ changes: [KafkaConfigChange], validateOnly: Bool = false) async throws {
        try requireRunning()
        try KafkaTopicConfiguration.validateTopicName(topic)
        guard !changes.isEmpty else { throw KafkaError(.invalidArgument, "alterTopicConfigs needs at least one change") }
        var names = Set<String>()
        for change in changes {
            guard !change.name.isEmpty else { throw KafkaError(.invalidArgument, "alterTopicConfigs: a configuration name is empty") }
            guard names.insert(change.name).inserted else {
                throw KafkaError(.invalidArgument, "alterTopicConfigs: \(change.name) is changed twice")
            }
        }
        let request = IncrementalAlterConfigsRequest(
            resources: [.init(
                resourceType: Self.topicResourceType, resourceName: topic,
                configs: changes.map { .init(name: $0.name, configOperation: $0.wire.operation, value: $0.wire.value) })],
            validateOnly: validateOnly)
        let (response, _) = try await sendToController(request, timeout: configuration.connection.requestTimeout)
        guard let result = response.responses.first(where: { $0.resourceName == topic && $0.resourceType == Self.topicResourceType }) else {
            throw KafkaError(.protocolViolation, "IncrementalAlterConfigs answered without topic \(topic)")
        }
        if let error = Self.configError(result.errorCode, result.errorMessage, topic: topic) { throw error }
    }

    /// INVALID_CONFIG (40), INVALID_REQUEST (42) and POLICY_VIOLATION (44) name bad input; the rest as for topics.
    private static func configError(_ code: Int16, _ message: String?, topic: String) -> KafkaError? {
        switch code {
        case 40, 42, 44:
            KafkaError(.invalidArgument, "cannot change the configuration of topic \(topic)\(message.map { ": \($0)" } ?? "")", kafkaCode: code)
        default:
            topicError(code, message, topic: topic, operation: "change the configuration of")
        }
    }
}

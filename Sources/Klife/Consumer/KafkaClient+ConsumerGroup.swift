extension KafkaClient {
    /// Starts a consumer group member in the client's task group and returns at once (Klife's
    /// `use Klife.Consumer.ConsumerGroup`).
    ///
    /// The member speaks KIP-848 (ConsumerGroupHeartbeat) when the group coordinator advertises it, else the
    /// classic protocol (see ``KafkaConsumerGroupConfiguration/groupProtocol``). For each assigned partition it
    /// hands batches of records, in offset order, to `handler` (topics in
    /// ``KafkaConsumerTopicOptions/Mode/manual`` mode go to ``KafkaConsumerGroup/batches`` instead). The
    /// handler's ``KafkaConsumerBatchResult`` commits or retries the batch, or single records; a thrown error
    /// retries the batch. Partitions start at the committed offset, or per the topic's
    /// ``KafkaConsumerTopicOptions/offsetResetPolicy``. Delivery is at least once; a partition given to another
    /// member is committed before it is released, so a graceful rebalance delivers nothing twice. Stop the
    /// member with ``KafkaConsumerGroup/stop()``, or by shutting the client down gracefully: both commit and
    /// leave the group.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/clientNotRunning``,
    ///   ``KafkaError/Code/featureDisabled`` (the `consumerGroup` feature is disabled by
    ///   ``KafkaClient/Configuration/disabledFeatures``, or the broker lacks the group APIs), or
    ///   ``KafkaError/Code/invalidArgument`` when a member of the same group already runs in this client (one
    ///   that has stopped does not count) or the configuration is invalid (no group id, no topics, an illegal
    ///   topic name, no assignor, bad topic options).
    public func startConsumerGroup(
        _ configuration: KafkaConsumerGroupConfiguration, handler: some KafkaConsumerGroupHandler
    ) throws -> KafkaConsumerGroup {
        try startConsumerGroup(configuration, handler: handler as (any KafkaConsumerGroupHandler)?)
    }

    /// ``startConsumerGroup(_:handler:)-(_,KafkaConsumerGroupHandler)`` with a closure as the handler (no
    /// partition callbacks).
    ///
    /// - Throws: as ``startConsumerGroup(_:handler:)-(_,KafkaConsumerGroupHandler)``.
    public func startConsumerGroup(
        _ configuration: KafkaConsumerGroupConfiguration,
        handler: @escaping @Sendable (KafkaConsumerBatch) async throws -> KafkaConsumerBatchResult
    ) throws -> KafkaConsumerGroup {
        try startConsumerGroup(configuration, handler: ClosureConsumerGroupHandler(body: handler) as (any KafkaConsumerGroupHandler)?)
    }

    /// Starts a consumer group member whose batches, of every topic, are read from
    /// ``KafkaConsumerGroup/batches`` and answered by the caller:
    ///
    /// ```swift
    /// let group = try client.startConsumerGroup(configuration)
    /// for try await batch in group.batches {
    ///     process(batch.records)
    ///     try batch.commit()
    /// }
    /// ```
    ///
    /// - Throws: as ``startConsumerGroup(_:handler:)-(_,KafkaConsumerGroupHandler)``.
    public func startConsumerGroup(_ configuration: KafkaConsumerGroupConfiguration) throws -> KafkaConsumerGroup {
        try startConsumerGroup(configuration, handler: nil)
    }

    private func startConsumerGroup(
        _ configuration: KafkaConsumerGroupConfiguration, handler: (any KafkaConsumerGroupHandler)?
    ) throws -> KafkaConsumerGroup {
        try requireRunning()
        try requireFeature(.consumerGroup)
        var problems = configuration.validationProblems()
        if let fetcher = configuration.fetcher, self.configuration.fetcher(named: fetcher) == nil {
            // Every fetch would fail; the member would hold its partitions without reading them.
            problems.append("fetcher \"\(fetcher)\" names no configured fetcher")
        }
        guard problems.isEmpty else {
            throw KafkaError(.invalidArgument, "consumer group \(configuration.groupID): \(problems.joined(separator: "; "))")
        }
        var created = false
        let runner = try component(ConsumerGroupRunner.componentKey(groupID: configuration.groupID), as: ConsumerGroupRunner.self, startsWhileConsumersStop: false) {
            created = true
            return ConsumerGroupRunner(client: self, configuration: configuration, handler: handler)
        }
        guard created else {
            throw KafkaError(.invalidArgument, "a member of consumer group \(configuration.groupID) already runs in this client")
        }
        return KafkaConsumerGroup(runner: runner)
    }
}

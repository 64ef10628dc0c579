extension KafkaClient {
    /// A consumer of the given partitions, from the given positions, without a consumer group (see
    /// ``KafkaPartitionConsumer``).
    ///
    /// - Parameters:
    ///   - positions: where to start in each partition (one position per partition).
    ///   - options: as for ``fetchPartitions(_:options:)``; max bytes left out is 1 MB per partition, and records
    ///     are always decompressed as they are fetched (``KafkaFetchDecompression/eager``).
    ///   - offsetReset: where a position that left the log moves (earliest or latest); nil fails the
    ///     iteration with ``KafkaError/Code/offsetOutOfRange`` instead.
    ///   - maxIdleWait: the longest pause between fetches while nothing new arrives (the pause grows over ten
    ///     empty fetches, and is at least 10 ms).
    /// - Throws: ``KafkaError``: ``KafkaError/Code/invalidArgument`` (no positions, a partition named twice, a
    ///   negative partition or offset, an illegal topic name, a negative `maxIdleWait`, an unknown fetcher or
    ///   `maxBytes` <= 0 in `options`), ``KafkaError/Code/clientNotRunning``,
    ///   ``KafkaError/Code/featureDisabled`` when the fetch feature is disabled or unsupported.
    public func partitionConsumer(
        _ positions: [KafkaFetchPosition], options: KafkaFetchOptions = KafkaFetchOptions(),
        offsetReset: KafkaConsumerGroupConfiguration.OffsetResetPolicy? = nil, maxIdleWait: Duration = .milliseconds(500)
    ) throws -> KafkaPartitionConsumer {
        try requireRunning()
        try requireFeature(.fetch)
        _ = try fetcherConfiguration(options)
        guard !positions.isEmpty else { throw KafkaError(.invalidArgument, "partitionConsumer needs at least one position") }
        guard maxIdleWait >= .zero else { throw KafkaError(.invalidArgument, "partitionConsumer: maxIdleWait must be >= 0") }
        var seen = Set<KafkaTopicPartition>()
        for position in positions {
            try KafkaTopicConfiguration.validateTopicName(position.topic)
            if position.partition < 0 || position.offset < 0 {
                throw KafkaError(.invalidArgument, "partitionConsumer: position \(position) has a negative partition or offset")
            }
            guard seen.insert(KafkaTopicPartition(position.topic, position.partition)).inserted else {
                throw KafkaError(.invalidArgument, "partitionConsumer: \(position.topic)/\(position.partition) is named twice")
            }
        }
        // Batches carry decoded records: a lazily decompressed answer would leave them in `batches`.
        var options = options.withMaxBytes(default: 1_000_000)
        options.decompression = .eager
        return KafkaPartitionConsumer(
            client: self, positions: positions, options: options, offsetReset: offsetReset, maxIdleWait: maxIdleWait)
    }
}

import KafkaProtocol

extension KafkaClient {
    /// Reads the records of one partition from `offset` on, up to about `options.maxBytes` (Klife's `fetch/4`).
    ///
    /// Records before `offset` are dropped (the broker returns whole batches), control records never appear,
    /// and under ``KafkaIsolationLevel/readCommitted`` (the default) records of aborted transactions are
    /// removed. An offset at the end of the partition gives an empty array. Each record carries its topic,
    /// partition, offset, key, value, headers, timestamp and batch attributes (compression, timestamp type,
    /// transactional). A partition whose leader moved is fetched again after a metadata refresh.
    ///
    /// - Throws: ``KafkaError`` with code
    ///   ``KafkaError/Code/offsetOutOfRange`` (the offset is outside the log),
    ///   ``KafkaError/Code/unknownTopicOrPartition`` (no such topic or partition),
    ///   ``KafkaError/Code/leaderNotAvailable`` (no usable leader after the retries; retriable),
    ///   ``KafkaError/Code/authorizationFailed``, ``KafkaError/Code/corruptRecords`` (bad checksum or
    ///   compressed data), ``KafkaError/Code/brokerError`` (other Kafka error codes),
    ///   ``KafkaError/Code/invalidArgument`` (illegal topic name, unknown fetcher, negative offset or max
    ///   bytes; nothing is sent), ``KafkaError/Code/featureDisabled`` (the `fetch` feature is disabled by
    ///   ``KafkaClient/Configuration/disabledFeatures`` or the broker lacks Fetch or ListOffsets),
    ///   ``KafkaError/Code/clientNotRunning``, or a connection error
    ///   (``KafkaError/Code/connectionFailed``, ``KafkaError/Code/requestTimedOut``, …).
    public func fetch(
        topic: String, partition: Int32, offset: Int64, options: KafkaFetchOptions = KafkaFetchOptions()
    ) async throws -> [KafkaRecord] {
        let position = KafkaFetchPosition(topic: topic, partition: partition, offset: offset)
        let results = try await fetchPartitionsThrowing([position], options: options.decompressingEagerly)
        guard let result = results[position] else {
            throw KafkaError(.leaderNotAvailable, "fetch of \(position) produced no result", isRetriable: true)
        }
        return try result.get().records
    }

    /// Reads several partitions at once (Klife's `fetch/2`): partitions led by the same broker share one Fetch
    /// request. The result holds one entry per distinct input position, each with the records or the error
    /// described in ``fetch(topic:partition:offset:options:)``.
    ///
    /// Call-wide failures (client not running, unknown fetcher, invalid options) are reported as the failure
    /// of every position. A position with a ``KafkaFetchPosition/lastFetchedEpoch`` whose log the leader no
    /// longer holds fails with ``KafkaError/Code/logTruncated`` (``fetchPartitions(_:options:)`` tells where
    /// to go on instead).
    public func fetch(
        _ positions: [KafkaFetchPosition], options: KafkaFetchOptions = KafkaFetchOptions()
    ) async -> [KafkaFetchPosition: Result<[KafkaRecord], KafkaError>] {
        var results: [KafkaFetchPosition: Result<[KafkaRecord], KafkaError>] = [:]
        for (position, result) in await fetchPartitions(positions, options: options.decompressingEagerly) {
            results[position] = result.flatMap { fetched in
                guard let divergence = fetched.divergence else { return .success(fetched.records) }
                return .failure(KafkaError.logTruncated(position, fetched: fetched, divergence: divergence))
            }
        }
        return results
    }

    /// ``fetch(_:options:)`` with `(topic, partition, offset)` tuples.
    public func fetch(
        _ positions: [(topic: String, partition: Int32, offset: Int64)], options: KafkaFetchOptions = KafkaFetchOptions()
    ) async -> [KafkaFetchPosition: Result<[KafkaRecord], KafkaError>] {
        await fetch(positions.map { KafkaFetchPosition(topic: $0.topic, partition: $0.partition, offset: $0.offset) }, options: options)
    }

    /// ``fetch(_:options:)`` that also tells, per partition, the offset to fetch next: what a caller that
    /// reads a partition in a loop needs, since aborted transactions, control records and compaction can
    /// leave gaps after the last record returned.
    ///
    /// With ``KafkaFetchOptions/decompression`` set to ``KafkaFetchDecompression/lazy``, each partition's
    /// records come as ``KafkaFetchedPartition/batches`` decompressed when read (a corrupt compressed batch
    /// then throws from ``KafkaFetchedBatch/records()``; checksum errors still fail the partition here).
    public func fetchPartitions(
        _ positions: [KafkaFetchPosition], options: KafkaFetchOptions = KafkaFetchOptions()
    ) async -> [KafkaFetchPosition: Result<KafkaFetchedPartition, KafkaError>] {
        await fetchPartitions(positions, options: options, for: .fetch)
    }

    /// ``fetchPartitions(_:options:)`` on behalf of `feature`: a consumer group fetches as `.consumerGroup`,
    /// so that disabling the fetch API leaves groups working.
    func fetchPartitions(
        _ positions: [KafkaFetchPosition], options: KafkaFetchOptions, for feature: Feature
    ) async -> [KafkaFetchPosition: Result<KafkaFetchedPartition, KafkaError>] {
        do {
            return try await fetchPartitionsThrowing(positions, options: options, for: feature)
        } catch {
            let failure = error as? KafkaError ?? KafkaError(.invalidArgument, "\(error)")
            return Dictionary(positions.map { ($0, .failure(failure)) }, uniquingKeysWith: { a, _ in a })
        }
    }

    func fetchPartitionsThrowing(
        _ positions: [KafkaFetchPosition], options: KafkaFetchOptions, for feature: Feature = .fetch
    ) async throws -> [KafkaFetchPosition: Result<KafkaFetchedPartition, KafkaError>] {
        try requireRunning()
        try requireFeature(feature)
        let fetcher = try fetcherConfiguration(options)
        if let bad = positions.first(where: { $0.offset < 0 || $0.partition < 0 }) {
            throw KafkaError(.invalidArgument, "fetch position \(bad) has a negative partition or offset")
        }
        guard !positions.isEmpty else { return [:] }
        let executor = FetchExecutor(
            cluster: cluster, logger: logger, fetcher: fetcher, isolationLevel: options.isolationLevel,
            decompression: options.decompression,
            clientID: fetcher.effectiveClientID(connectionClientID: configuration.connection.clientID),
            rackID: configuration.connection.clientRack ?? "")
        // An illegal topic name fails its own positions, before anything is sent; the others go on.
        let maxBytes = options.maxBytes ?? KafkaFetchOptions.defaultFetchMaxBytes
        let run = { (positions: [KafkaFetchPosition]) in await executor.run(positions, maxBytes: maxBytes) }
        guard positions.contains(where: { !KafkaTopicConfiguration.isValidTopicName($0.topic) }) else {
            return await run(positions)
        }
        let legal = positions.filter { KafkaTopicConfiguration.isValidTopicName($0.topic) }
        var results = legal.isEmpty ? [:] : await run(legal)
        for position in positions where !KafkaTopicConfiguration.isValidTopicName(position.topic) {
            results[position] = .failure(KafkaTopicConfiguration.illegalTopicNameError(position.topic))
        }
        return results
    }

    func fetcherConfiguration(_ options: KafkaFetchOptions) throws -> KafkaFetcherConfiguration {
        if let maxBytes = options.maxBytes, maxBytes <= 0 {
            throw KafkaError(.invalidArgument, "fetch option maxBytes must be > 0 (got \(maxBytes))")
        }
        let name = options.fetcher ?? configuration.defaultFetcher
        guard let fetcher = configuration.fetcher(named: name) else {
            throw KafkaError(.invalidArgument, "no fetcher named \(name) is configured (fetch option fetcher)")
        }
        return fetcher
    }
}

extension KafkaError {
    /// The error of a fetch whose position's epoch the leader's log parts from.
    static func logTruncated(_ position: KafkaFetchPosition, fetched: KafkaFetchedPartition, divergence: KafkaLogDivergence) -> KafkaError {
        KafkaError(
            .logTruncated,
            "fetch of \(position): the leader's log parts from what was read: it holds epoch \(divergence.epoch) up to offset \(divergence.endOffset) only; fetch from offset \(fetched.nextOffset) with lastFetchedEpoch \(divergence.epoch)")
    }
}

extension KafkaFetchOptions {
    /// These options with eager decompression, for the calls that return `[KafkaRecord]`.
    var decompressingEagerly: KafkaFetchOptions {
        var options = self
        options.decompression = .eager
        return options
    }
}

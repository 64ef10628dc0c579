extension KafkaClient {
    /// Starts a fetch of one partition and returns at once (Klife's `fetch_async`); `callback` receives the
    /// result, as described in ``fetch(topic:partition:offset:options:)``, from a task of the client's task
    /// group. The default max bytes of the options is 500_000 (``KafkaFetchOptions/async``).
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/clientNotRunning`` when the client is not running;
    ///   every other failure reaches `callback`.
    public func fetchAsync(
        topic: String, partition: Int32, offset: Int64, options: KafkaFetchOptions = .async,
        callback: @escaping @Sendable (Result<[KafkaRecord], KafkaError>) -> Void
    ) throws {
        let position = KafkaFetchPosition(topic: topic, partition: partition, offset: offset)
        try fetchAsync([position], options: options) { _, result in callback(result) }
    }

    /// Starts a fetch of several partitions and returns at once; `callback` is called once per distinct
    /// position, as each broker answers.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/clientNotRunning`` when the client is not running.
    public func fetchAsync(
        _ positions: [KafkaFetchPosition], options: KafkaFetchOptions = .async,
        callback: @escaping @Sendable (KafkaFetchPosition, Result<[KafkaRecord], KafkaError>) -> Void
    ) throws {
        try requireRunning()
        let runner = try component("klife.fetch-async", as: AsyncFetchRunner.self) { AsyncFetchRunner() }
        let accepted = runner.submit { [self] in
            let results = await self.fetch(positions, options: options)
            for (position, result) in results { callback(position, result) }
        }
        if !accepted { throw KafkaError(.clientNotRunning, "the client is shutting down or has stopped") }
    }

    /// Starts a fetch of several partitions and returns at once; the results arrive on the returned
    /// sequence, which finishes after the last one.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/clientNotRunning`` when the client is not running.
    public func fetchAsync(
        _ positions: [KafkaFetchPosition], options: KafkaFetchOptions = .async
    ) throws -> AsyncStream<(position: KafkaFetchPosition, result: Result<[KafkaRecord], KafkaError>)> {
        let (stream, continuation) = AsyncStream<(position: KafkaFetchPosition, result: Result<[KafkaRecord], KafkaError>)>.makeStream()
        try requireRunning()
        let runner = try component("klife.fetch-async", as: AsyncFetchRunner.self) { AsyncFetchRunner() }
        let accepted = runner.submit { [self] in
            let results = await self.fetch(positions, options: options)
            for (position, result) in results { continuation.yield((position, result)) }
            continuation.finish()
        }
        if !accepted {
            continuation.finish()
            throw KafkaError(.clientNotRunning, "the client is shutting down or has stopped")
        }
        return stream
    }
}

extension KafkaClient {
    /// Starts a consumer group member (classic group protocol) in the client's task group and returns at once.
    /// The member joins the group, and for each assigned partition hands batches of records, in order, to
    /// `handler`: ``KafkaConsumerBatchResult/commit`` commits the offset after the batch's last record,
    /// ``KafkaConsumerBatchResult/retry`` (or a thrown error) delivers the same batch again. Partitions start at
    /// the committed offset, or per ``KafkaConsumerGroupConfiguration/offsetResetPolicy``. Delivery is at least
    /// once. Stop the member with ``KafkaConsumerGroup/stop()``, or by shutting the client down gracefully: both
    /// leave the group.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/clientNotRunning``, or
    ///   ``KafkaError/Code/invalidArgument`` when a member of the same group already runs in this client or the
    ///   configuration is invalid (no topics, no assignor).
    public func startConsumerGroup(
        _ configuration: KafkaConsumerGroupConfiguration,
        handler: @escaping @Sendable (KafkaConsumerBatch) async throws -> KafkaConsumerBatchResult
    ) throws -> KafkaConsumerGroup {
        try requireRunning()
        guard !configuration.topics.isEmpty else { throw KafkaError(.invalidArgument, "consumer group \(configuration.groupID): topics must not be empty") }
        guard !configuration.assignors.isEmpty else { throw KafkaError(.invalidArgument, "consumer group \(configuration.groupID): assignors must not be empty") }
        guard !configuration.groupID.isEmpty else { throw KafkaError(.invalidArgument, "consumer group id must not be empty") }
        var created = false
        let runner = try component("klife.group.\(configuration.groupID)", as: ClassicConsumerGroupRunner.self) {
            created = true
            return ClassicConsumerGroupRunner(client: self, configuration: configuration, handler: handler)
        }
        guard created else {
            throw KafkaError(.invalidArgument, "a member of consumer group \(configuration.groupID) already runs in this client")
        }
        return KafkaConsumerGroup(runner: runner)
    }
}

/// A running consumer group member (see ``KafkaClient/startConsumerGroup(_:handler:)``).
public struct KafkaConsumerGroup: Sendable {
    let runner: ClassicConsumerGroupRunner

    /// The group id.
    public var groupID: String { runner.configuration.groupID }

    /// The partitions this member consumes now.
    public var assignedPartitions: [KafkaTopicPartition] { runner.assignedPartitions }

    /// Stops consuming (the handler's current batch finishes), gives the partitions back and leaves the group.
    public func stop() async {
        await runner.stop()
    }
}

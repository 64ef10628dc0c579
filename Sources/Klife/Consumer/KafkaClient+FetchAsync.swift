extension KafkaClient {
    /// Starts a fetch of one partition and returns at once (Klife's `fetch_async`); `callback` receives the
    /// result, as described in ``fetch(topic:partition:offset:options:)``, from a task of the client's task
    /// group. Max bytes left out of the options (``KafkaFetchOptions/maxBytes`` nil) is 500_000 here.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/clientNotRunning`` when the client is not running,
    ///   ``KafkaError/Code/featureDisabled`` when the `fetch` feature is disabled or unsupported; every other
    ///   failure reaches `callback`.
    public func fetchAsync(
        topic: String, partition: Int32, offset: Int64, options: KafkaFetchOptions = KafkaFetchOptions(),
        callback: @escaping @Sendable (Result<[KafkaRecord], KafkaError>) -> Void
    ) throws {
        let position = KafkaFetchPosition(topic: topic, partition: partition, offset: offset)
        try fetchAsync([position], options: options) { _, result in callback(result) }
    }

    /// Starts a fetch of several partitions and returns at once; `callback` is called once per distinct
    /// position, after every broker involved has answered (as ``fetch(_:options:)`` returns).
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/clientNotRunning`` when the client is not running,
    ///   ``KafkaError/Code/featureDisabled`` when the `fetch` feature is disabled or unsupported.
    public func fetchAsync(
        _ positions: [KafkaFetchPosition], options: KafkaFetchOptions = KafkaFetchOptions(),
        callback: @escaping @Sendable (KafkaFetchPosition, Result<[KafkaRecord], KafkaError>) -> Void
    ) throws {
        try requireRunning()
        try requireFeature(.fetch)
        let runner = try component("klife.fetch-async", as: AsyncFetchRunner.self) { AsyncFetchRunner() }
        let accepted = runner.submit { [self] in
            let results = await self.fetch(positions, options: options.withMaxBytes(default: KafkaFetchOptions.defaultFetchAsyncMaxBytes))
            for (position, result) in results { callback(position, result) }
        }
        if !accepted { throw KafkaError(.clientNotRunning, "the client is shutting down or has stopped") }
    }

    /// Starts a fetch of several partitions and returns at once; the results arrive on the returned
    /// sequence, which finishes after the last one.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/clientNotRunning`` when the client is not running,
    ///   ``KafkaError/Code/featureDisabled`` when the `fetch` feature is disabled or unsupported.
    public func fetchAsync(
        _ positions: [KafkaFetchPosition], options: KafkaFetchOptions = KafkaFetchOptions()
    ) throws -> AsyncStream<(position: KafkaFetchPosition, result: Result<[KafkaRecord], KafkaError>)> {
        let (stream, continuation) = AsyncStream<(position: KafkaFetchPosition, result: Result<[KafkaRecord], KafkaError>)>.makeStream()
        try requireRunning()
        try requireFeature(.fetch)
        let runner = try component("klife.fetch-async", as: AsyncFetchRunner.self) { AsyncFetchRunner() }
        let accepted = runner.submit { [self] in
            let results = await self.fetch(positions, options: options.withMaxBytes(default: KafkaFetchOptions.defaultFetchAsyncMaxBytes))
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

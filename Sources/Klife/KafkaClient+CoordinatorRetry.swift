extension KafkaClient {
    /// Runs `attempt` until it succeeds, fails with an error that is not retriable, or the connection's
    /// `requestTimeout` would pass before the next try: group administration calls ride out a coordinator that
    /// moves or is still loading its groups, as the consumer group itself does.
    func retryingRetriableErrors<T: Sendable>(
        _ what: @autoclosure () -> String, _ attempt: () async throws -> T
    ) async throws -> T {
        let deadline = ContinuousClock.now + configuration.connection.requestTimeout
        var delay = Duration.milliseconds(50)
        while true {
            do {
                return try await attempt()
            } catch let error as KafkaError where error.isRetriable && ContinuousClock.now + delay < deadline {
                logger.debug("\(what()) failed, retrying: \(error.message)")
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(1))
            }
        }
    }
}

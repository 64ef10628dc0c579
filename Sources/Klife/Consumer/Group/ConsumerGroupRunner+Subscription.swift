import KafkaProtocol

/// The member's subscription with a topic pattern: the cluster's topics are listed (a Metadata request for
/// every topic, not applied to the client's cache) and matched when a check is due (``TopicSubscription``).
extension ConsumerGroupRunner {
    /// The subscribed topics now.
    var subscribedTopics: [String] { subscription.withLock { $0.topics } }

    /// Pause before a failed listing of the cluster's topics is tried again.
    static let topicListingRetry: Duration = .seconds(1)

    /// Matches the cluster's topics against the pattern when a check is due (always before the first join).
    /// Returns the new subscription when it changed; nil when nothing was due, nothing changed, or the
    /// topics could not be listed (logged; the subscription stays as it is and the check is tried again soon).
    func refreshPatternSubscription() async -> [String]? {
        guard subscription.withLock({ $0.isCheckDue() }) else { return nil }
        do {
            let (response, _) = try await cluster.requestMetadata(topics: nil)
            let listed = response.topics.filter { $0.errorCode == 0 }.map { (name: $0.name, isInternal: $0.isInternal) }
            guard let changed = subscription.withLock({ $0.update(clusterTopics: listed) }) else { return nil }
            // The client keeps the matched topics' leaders in its metadata from now on.
            cluster.noteTopicsInUse(changed)
            logger.info("consumer group \(groupID): topic pattern \(configuration.topicPattern ?? "") now subscribes \(changed)")
            return changed
        } catch {
            logger.warning("consumer group \(groupID): could not list the cluster's topics to match the topic pattern: \(error)")
            subscription.withLock { $0.checkFailed(retryAfter: Self.topicListingRetry) }
            return nil
        }
    }
}

import KafkaProtocol

/// The member's subscription with a topic pattern: the cluster's topics are listed (a Metadata request for
/// every topic, not applied to the client's cache) and matched when a check is due (``TopicSubscription``).
extension ConsumerGroupRunner {
    /// The subscribed topics now.
    var subscribedTopics: [String] { subscription.withLock { $0.topics } }

    /// Pause before a failed listing of the cluster's topics is tried again.
    static let topicListingRetry: Duration = .seconds(1)

    /// How long a listing may hold up the membership loop (heartbeats wait meanwhile): well inside the session.
    var topicListingTimeLimit: Duration { min(configuration.sessionTimeout / 3, .seconds(5)) }

    /// Matches the cluster's topics against the pattern when a check is due. `joining`: before a join, which
    /// lists them again unless they were listed within the last second; the first join waits until a listing
    /// succeeds (retried every second until the member stops). Returns the new subscription when it changed;
    /// nil when nothing was due, nothing changed, or the topics could not be listed in time (logged; the
    /// subscription stays as it is and the check is tried again soon).
    func refreshPatternSubscription(joining: Bool = false) async -> [String]? {
        guard subscription.withLock({ $0.isCheckDue(joining: joining) }) else { return nil }
        while true {
            let failure: String
            do {
                if let response = try await TimeLimitedOperation.run(within: topicListingTimeLimit, { [cluster] in
                    try await cluster.requestMetadata(topics: nil).0
                }) {
                    return matchPattern(in: response)
                }
                failure = "no broker answered within \(topicListingTimeLimit)"
            } catch {
                if Task.isCancelled { return nil }
                failure = "\(error)"
            }
            let resolved = subscription.withLock { subscription in
                subscription.checkFailed(retryAfter: Self.topicListingRetry)
                return subscription.isResolved
            }
            logger.warning("consumer group \(groupID): could not list the cluster's topics to match the topic pattern: \(failure)")
            guard joining, !resolved else { return nil }
            if await stopRequested.sleep(for: Self.topicListingRetry) || Task.isCancelled { return nil }
        }
    }

    private func matchPattern(in response: KafkaClusterMetadata.Response) -> [String]? {
        let listed = response.topics.filter { $0.errorCode == 0 }.map { (name: $0.name, isInternal: $0.isInternal) }
        // Any error but UNKNOWN_TOPIC_OR_PARTITION says the topic exists.
        let transient = Set(response.topics.filter { $0.errorCode != 0 && $0.errorCode != 3 }.map(\.name))
        guard let changed = subscription.withLock({ $0.update(clusterTopics: listed, transient: transient) }) else { return nil }
        // The client keeps the matched topics' leaders in its metadata from now on.
        cluster.noteTopicsInUse(changed)
        logger.info("consumer group \(groupID): topic pattern \(configuration.topicPattern ?? "") now subscribes \(changed)")
        return changed
    }
}

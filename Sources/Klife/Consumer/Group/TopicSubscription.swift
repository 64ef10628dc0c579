/// What a consumer group member subscribes to, as a value type: its named topics plus, with a
/// ``KafkaConsumerGroupConfiguration/topicPattern``, the cluster's topics whose whole name matches the pattern
/// (Java's `subscribe(Pattern)`). Matching happens on the client for both group protocols, so the pattern has
/// one syntax (Swift's `Regex`) whatever the broker; the member sends the matched names.
///
/// The runner feeds it the cluster's topic list when the member first joins and then every check interval;
/// a change of the matched names makes the member rejoin (classic) or send its new subscription (KIP-848).
struct TopicSubscription {
    /// The topics named in the configuration, always subscribed.
    let namedTopics: [String]
    /// The pattern, nil when the member subscribes by name only.
    let pattern: TopicNamePattern?
    let checkInterval: Duration
    /// The subscribed topics now, sorted, without duplicates.
    private(set) var topics: [String]
    /// When the cluster's topics are to be matched again; nil without a pattern.
    private(set) var nextCheck: ContinuousClock.Instant?

    init(namedTopics: [String], pattern: TopicNamePattern?, checkInterval: Duration, now: ContinuousClock.Instant = .now) {
        self.namedTopics = namedTopics
        self.pattern = pattern
        self.checkInterval = checkInterval
        self.topics = Array(Set(namedTopics)).sorted()
        // The first match is due at once: before the member joins.
        self.nextCheck = pattern == nil ? nil : now
    }

    /// Whether the cluster's topics should be matched now.
    func isCheckDue(at now: ContinuousClock.Instant = .now) -> Bool {
        guard let nextCheck else { return false }
        return now >= nextCheck
    }

    /// Matches the cluster's topics (name and whether Kafka marks it internal) and schedules the next check.
    /// Internal topics (`__consumer_offsets`, `__transaction_state`) never match, as in Kafka's consumers.
    /// Returns the new subscription when it changed, else nil.
    mutating func update(
        clusterTopics: some Sequence<(name: String, isInternal: Bool)>, at now: ContinuousClock.Instant = .now
    ) -> [String]? {
        guard let pattern else { return nil }
        nextCheck = now + checkInterval
        var matched = Set(namedTopics)
        for topic in clusterTopics where !topic.isInternal && pattern.matches(topic.name) { matched.insert(topic.name) }
        let now = matched.sorted()
        guard now != topics else { return nil }
        topics = now
        return now
    }

    /// The cluster's topics could not be listed: try again after `retry` (sooner than a full interval, since
    /// the subscription may be missing every matched topic), keeping the subscription as it is.
    mutating func checkFailed(at now: ContinuousClock.Instant = .now, retryAfter retry: Duration) {
        guard pattern != nil else { return }
        nextCheck = now + min(retry, checkInterval)
    }
}

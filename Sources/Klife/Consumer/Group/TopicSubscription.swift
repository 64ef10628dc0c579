/// What a consumer group member subscribes to, as a value type: its named topics plus, with a
/// ``KafkaConsumerGroupConfiguration/topicPattern``, the cluster's topics whose whole name matches the pattern
/// (Java's `subscribe(Pattern)`). Matching happens on the client for both group protocols, so the pattern has
/// one syntax (Swift's `Regex`) whatever the broker; the member sends the matched names.
///
/// The runner feeds it the cluster's topic list before the member first joins, before each later join (so a
/// member pulled into a rebalance by another one's new topic brings it too, and one new topic costs one
/// rebalance, as in Kafka's consumer) and every check interval in between; a change of the matched names
/// makes the member rejoin (classic) or send its new subscription (KIP-848).
struct TopicSubscription {
    /// A join lists the cluster's topics again when the last listing is older than this.
    static let joinRelistAge: Duration = .seconds(1)

    /// The topics named in the configuration, always subscribed.
    let namedTopics: [String]
    /// The pattern, nil when the member subscribes by name only.
    let pattern: TopicNamePattern?
    let checkInterval: Duration
    /// The subscribed topics now, sorted, without duplicates.
    private(set) var topics: [String]
    /// When the cluster's topics were last listed; nil before the first listing (or without a pattern).
    private(set) var lastListed: ContinuousClock.Instant?
    /// When the cluster's topics are to be matched again; nil without a pattern.
    private var nextCheck: ContinuousClock.Instant?

    init(namedTopics: [String], pattern: TopicNamePattern?, checkInterval: Duration, now: ContinuousClock.Instant = .now) {
        self.namedTopics = namedTopics
        self.pattern = pattern
        self.checkInterval = checkInterval
        self.topics = Array(Set(namedTopics)).sorted()
        // The first match is due at once: before the member joins.
        self.nextCheck = pattern == nil ? nil : now
    }

    /// Whether the member may join with ``topics``: it has no pattern, or the cluster's topics were listed.
    var isResolved: Bool { pattern == nil || lastListed != nil }

    /// Whether the cluster's topics should be matched now; `joining`: before a JoinGroup (or a KIP-848 join).
    func isCheckDue(at now: ContinuousClock.Instant = .now, joining: Bool = false) -> Bool {
        guard let nextCheck else { return false }
        if joining, let lastListed, now - lastListed >= Self.joinRelistAge { return true }
        return now >= nextCheck
    }

    /// Matches the cluster's topics (name and whether Kafka marks it internal) and schedules the next check.
    /// Internal topics (`__consumer_offsets`, `__transaction_state`) never match, as in Kafka's consumers.
    /// `transient`: topics the listing reported with a passing error (say LEADER_NOT_AVAILABLE): subscribed ones
    /// stay subscribed, so a passing error does not cost two rebalances. Returns the new subscription when it
    /// changed, else nil.
    mutating func update(
        clusterTopics: some Sequence<(name: String, isInternal: Bool)>, transient: Set<String> = [],
        at now: ContinuousClock.Instant = .now
    ) -> [String]? {
        guard let pattern else { return nil }
        lastListed = now
        nextCheck = now + checkInterval
        var matched = Set(namedTopics)
        for topic in clusterTopics where !topic.isInternal && pattern.matches(topic.name) { matched.insert(topic.name) }
        for topic in topics where transient.contains(topic) { matched.insert(topic) }
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

/// A consumer group member's configuration (Klife's `use Klife.Consumer.ConsumerGroup` options, §1.8–1.9 of
/// the Klife report), for either group protocol.
///
/// Per-topic options (``KafkaConsumerTopicOptions``) come from ``topicOptions`` for the topic, else
/// ``defaultTopicOptions``. Commits go from each partition's consumer straight to the group coordinator with
/// at most one commit of a partition in flight, so Klife's `committers_count` has no counterpart here.
public struct KafkaConsumerGroupConfiguration: Sendable {
    /// Where a partition without a committed offset starts (Klife's `offset_reset_policy`).
    public enum OffsetResetPolicy: Sendable, Hashable {
        case earliest
        case latest
    }

    /// A client-side partition assignor (classic protocol only; KIP-848 groups are assigned by the broker).
    public enum Assignor: String, Sendable, Hashable {
        case range
        case roundRobin = "roundrobin"
        case cooperativeSticky = "cooperative-sticky"
    }

    /// The group membership protocol (Kafka's `group.protocol`).
    public enum GroupProtocol: Sendable, Hashable {
        /// KIP-848 (ConsumerGroupHeartbeat) when the group coordinator advertises it, else classic; also
        /// classic when the coordinator refuses the first KIP-848 heartbeat because the group is an existing
        /// classic one it does not upgrade (GROUP_ID_NOT_FOUND from Kafka, INCONSISTENT_GROUP_PROTOCOL) or the
        /// protocol is not enabled (UNSUPPORTED_VERSION).
        case automatic
        /// JoinGroup / SyncGroup / Heartbeat with a client-side assignor.
        case classic
        /// KIP-848: ConsumerGroupHeartbeat, the broker assigns partitions.
        case consumer
    }

    /// The group id (Klife's `group_name`).
    public var groupID: String
    /// The subscribed topics, by name.
    public var topics: [String]
    /// A regular expression (Swift `Regex` syntax) for more topics to subscribe: every topic of the cluster
    /// whose *whole* name matches it, besides ``topics``, as Java's `subscribe(Pattern)` (so `orders` matches only
    /// `orders`, and `orders.*` every name starting with it; librdkafka and franz-go search the name instead).
    /// Internal topics such as `__consumer_offsets` never match. The member lists the cluster's topics before it
    /// joins (the first join waits for a listing) and again every ``KafkaClient/Configuration/metadataRefreshInterval``:
    /// when the matched topics change (one created or deleted), it rejoins with its new subscription (a KIP-848
    /// member sends it in its next heartbeat), so a new topic is consumed within about one interval and a
    /// rebalance. Its partitions start at the committed offset or the ``offsetResetPolicy``: with `latest`,
    /// records written before the member picked the topic up are skipped. Matched topics take
    /// ``defaultTopicOptions`` unless ``topicOptions`` has an entry for them. Matching is done by the client for
    /// both group protocols. nil (the default): ``topics`` only.
    public var topicPattern: String?
    /// Static membership id (KIP-345), nil for a dynamic member.
    public var instanceID: String?
    /// Which membership protocol to speak (default ``GroupProtocol/automatic``).
    public var groupProtocol: GroupProtocol
    /// The session timeout sent in JoinGroup (classic only; default 10 s; Tansu holds a first join for about
    /// half of it). KIP-848 groups use the broker's `group.consumer.session.timeout.ms`.
    public var sessionTimeout: Duration
    /// How long the coordinator waits for members during a rebalance (Klife's `rebalance_timeout_ms`, 30 s).
    /// Also how long a partition being stopped waits for its handler (or the caller's manual batch); one being
    /// revoked waits a heartbeat interval and a second less, so the member answers within the coordinator's
    /// deadline. Past it the partition is released without a commit (counted as lost) and its batch comes
    /// again, so a stuck handler cannot hold up a rebalance (as Kafka's `max.poll.interval.ms`). The handler is
    /// not interrupted, only cancelled when the member stops: honour cancellation in long handlers.
    public var rebalanceTimeout: Duration
    /// Heartbeat period of the classic protocol (default 3 s; keep it well below ``sessionTimeout``). KIP-848
    /// members heartbeat at the interval the broker tells them.
    public var heartbeatInterval: Duration
    /// The assignors offered (classic only), preferred first. The member rebalances cooperatively (KIP-429:
    /// keeps its partitions while it rejoins) only when every assignor offered is cooperative
    /// (`cooperative-sticky`); with any eager one in the list (`range`, `roundrobin`) it revokes everything
    /// before it rejoins, since the group may pick that one. `[.cooperativeSticky, .range]` is the first step
    /// of moving a group to cooperative-sticky (as in Kafka's own consumer); `[.cooperativeSticky]` the last.
    public var assignors: [Assignor]
    /// The fetcher used (nil: the client's default fetcher).
    public var fetcher: String?
    /// Options of topics without an entry in ``topicOptions``.
    public var defaultTopicOptions: KafkaConsumerTopicOptions
    /// Per-topic options, by topic name. An entry replaces ``defaultTopicOptions`` as a whole: to change only
    /// some options of a topic (Klife's key-by-key merge), use ``setOptions(for:_:)``. The configuration file
    /// reader merges, as Klife does.
    public var topicOptions: [String: KafkaConsumerTopicOptions]

    /// Isolation level of the fetches of topics without their own options (default read_committed).
    public var isolationLevel: KafkaIsolationLevel {
        get { defaultTopicOptions.isolationLevel }
        set { defaultTopicOptions.isolationLevel = newValue }
    }
    /// Start of partitions without a committed offset, for topics without their own options (default latest, as Klife).
    public var offsetResetPolicy: OffsetResetPolicy {
        get { defaultTopicOptions.offsetResetPolicy }
        set { defaultTopicOptions.offsetResetPolicy = newValue }
    }
    /// Max bytes per partition per fetch, for topics without their own options (1_000_000).
    public var fetchMaxBytes: Int {
        get { defaultTopicOptions.fetchMaxBytes }
        set { defaultTopicOptions.fetchMaxBytes = newValue }
    }

    public init(
        groupID: String, topics: [String] = [], topicPattern: String? = nil, instanceID: String? = nil, groupProtocol: GroupProtocol = .automatic,
        sessionTimeout: Duration = .seconds(10), rebalanceTimeout: Duration = .seconds(30), heartbeatInterval: Duration = .seconds(3),
        assignors: [Assignor] = [.range], isolationLevel: KafkaIsolationLevel = .readCommitted,
        offsetResetPolicy: OffsetResetPolicy = .latest, fetchMaxBytes: Int = 1_000_000, fetcher: String? = nil,
        topicOptions: [String: KafkaConsumerTopicOptions] = [:]
    ) {
        self.groupID = groupID
        self.topics = topics
        self.topicPattern = topicPattern
        self.instanceID = instanceID
        self.groupProtocol = groupProtocol
        self.sessionTimeout = sessionTimeout
        self.rebalanceTimeout = rebalanceTimeout
        self.heartbeatInterval = heartbeatInterval
        self.assignors = assignors
        self.fetcher = fetcher
        self.defaultTopicOptions = KafkaConsumerTopicOptions(
            isolationLevel: isolationLevel, offsetResetPolicy: offsetResetPolicy, fetchMaxBytes: fetchMaxBytes)
        self.topicOptions = topicOptions
    }

    /// Whether the classic protocol's member rebalances cooperatively: every assignor offered is cooperative.
    var rebalancesCooperatively: Bool {
        !assignors.isEmpty && assignors.allSatisfy { $0.implementation.isCooperative }
    }

    /// The options that apply to `topic`.
    public func options(for topic: String) -> KafkaConsumerTopicOptions {
        topicOptions[topic] ?? defaultTopicOptions
    }

    /// Sets `topic`'s options to what applies to it now (its entry, else ``defaultTopicOptions``) changed by
    /// `change`: Klife's key-by-key merge of a topic's options over the group's defaults.
    ///
    /// ```swift
    /// var configuration = KafkaConsumerGroupConfiguration(groupID: "g", topics: ["orders", "audit"], offsetResetPolicy: .earliest)
    /// configuration.setOptions(for: "audit") { $0.mode = .manual }  // still .earliest
    /// ```
    public mutating func setOptions(for topic: String, _ change: (inout KafkaConsumerTopicOptions) -> Void) {
        var options = options(for: topic)
        change(&options)
        topicOptions[topic] = options
    }

    func validationProblems() -> [String] {
        var problems: [String] = []
        if groupID.isEmpty { problems.append("groupID must not be empty") }
        if topics.isEmpty && topicPattern == nil { problems.append("topics must not be empty (or give a topicPattern)") }
        if topicPattern == "" {
            problems.append("topicPattern must not be empty (nil subscribes by name only)")
        } else if let topicPattern {
            do {
                _ = try TopicNamePattern(topicPattern)
            } catch {
                problems.append("topicPattern: \"\(topicPattern)\" is not a valid regular expression (\(error))")
            }
        }
        for topic in topics where !KafkaTopicConfiguration.isValidTopicName(topic) {
            problems.append("topics: \"\(topic)\" is not a legal topic name (\(KafkaTopicConfiguration.topicNameRule))")
        }
        if assignors.isEmpty { problems.append("assignors must not be empty") }
        if sessionTimeout <= .zero { problems.append("sessionTimeout must be > 0") }
        if heartbeatInterval <= .zero { problems.append("heartbeatInterval must be > 0") }
        if rebalanceTimeout <= .zero { problems.append("rebalanceTimeout must be > 0") }
        // Both go out as Int32 milliseconds.
        let int32Milliseconds = Duration.milliseconds(Int32.max)
        if sessionTimeout > int32Milliseconds { problems.append("sessionTimeout must be at most \(Int32.max) ms") }
        if rebalanceTimeout > int32Milliseconds { problems.append("rebalanceTimeout must be at most \(Int32.max) ms") }
        if groupProtocol != .consumer, heartbeatInterval > .zero, heartbeatInterval >= sessionTimeout {
            // The member would be dropped between two heartbeats (Kafka's Java client refuses it too).
            problems.append("heartbeatInterval (\(heartbeatInterval)) must be shorter than sessionTimeout (\(sessionTimeout))")
        }
        problems += defaultTopicOptions.validationProblems(path: "defaultTopicOptions")
        for (topic, options) in topicOptions.sorted(by: { $0.key < $1.key }) {
            problems += options.validationProblems(path: "topicOptions[\(topic)]")
        }
        return problems
    }
}

/// How a consumer group member consumes one topic (Klife's `TopicConfig`).
public struct KafkaConsumerTopicOptions: Sendable, Hashable {
    /// How many records one handler call gets.
    public enum BatchSize: Sendable, Hashable {
        /// Everything one fetch returned for the partition (Klife's `:dynamic`).
        case dynamic
        /// At most this many records; a fetch result is cut into batches of this size.
        case records(Int)
    }

    /// Who processes the topic's records.
    public enum Mode: Sendable, Hashable {
        /// The handler given to ``KafkaClient/startConsumerGroup(_:handler:)``.
        case auto
        /// The caller, through ``KafkaConsumerGroup/batches`` (pull, then commit or retry each batch).
        case manual
    }

    /// Isolation level of the fetches (default read_committed).
    public var isolationLevel: KafkaIsolationLevel
    /// Where a partition without a committed offset, or whose offset left the log, starts (default latest).
    public var offsetResetPolicy: KafkaConsumerGroupConfiguration.OffsetResetPolicy
    /// Max bytes per partition per fetch (Klife's `fetch_max_bytes`, 1_000_000).
    public var fetchMaxBytes: Int
    /// Batches fetched ahead of the handler per partition (Klife's `max_queue_size`; nil: 5 with dynamic
    /// batches, 20 with fixed-size ones). Fetching pauses while the queue is full.
    public var maxQueueSize: Int?
    /// The longest wait after an empty fetch (Klife's `fetch_interval_ms`, 1 s); the wait ramps up from a
    /// tenth of it in tenths as empty fetches follow each other.
    public var fetchInterval: Duration
    /// Pause between handler calls of a partition (Klife's `handler_cooldown_ms`, 0); a handler result can
    /// set a different pause for one cycle.
    public var handlerCooldown: Duration
    /// Processed records whose commit may be outstanding before processing waits for the commit (Klife's
    /// `handler_max_unacked_commits`, 0: every batch is committed before the next one is handled). Pending
    /// commits are sent when the partition goes idle, is revoked or the member stops; after a crash at most
    /// this many processed records (plus the current batch) are delivered again.
    public var maxUnackedCommits: Int
    /// Records per handler call (Klife's `handler_max_batch_size`, default dynamic).
    public var handlerMaxBatchSize: BatchSize
    /// Handler-driven or caller-driven (Klife's `mode`, default auto).
    public var mode: Mode

    public init(
        isolationLevel: KafkaIsolationLevel = .readCommitted,
        offsetResetPolicy: KafkaConsumerGroupConfiguration.OffsetResetPolicy = .latest,
        fetchMaxBytes: Int = 1_000_000, maxQueueSize: Int? = nil, fetchInterval: Duration = .seconds(1),
        handlerCooldown: Duration = .zero, maxUnackedCommits: Int = 0, handlerMaxBatchSize: BatchSize = .dynamic,
        mode: Mode = .auto
    ) {
        self.isolationLevel = isolationLevel
        self.offsetResetPolicy = offsetResetPolicy
        self.fetchMaxBytes = fetchMaxBytes
        self.maxQueueSize = maxQueueSize
        self.fetchInterval = fetchInterval
        self.handlerCooldown = handlerCooldown
        self.maxUnackedCommits = maxUnackedCommits
        self.handlerMaxBatchSize = handlerMaxBatchSize
        self.mode = mode
    }

    /// ``maxQueueSize`` with Klife's defaults applied.
    public var effectiveMaxQueueSize: Int {
        if let maxQueueSize { return maxQueueSize }
        return handlerMaxBatchSize == .dynamic ? 5 : 20
    }

    func validationProblems(path: String) -> [String] {
        var problems: [String] = []
        if fetchMaxBytes <= 0 { problems.append("\(path).fetchMaxBytes must be > 0") }
        if let maxQueueSize, maxQueueSize <= 0 { problems.append("\(path).maxQueueSize must be > 0") }
        if fetchInterval < .zero { problems.append("\(path).fetchInterval must be >= 0") }
        if handlerCooldown < .zero { problems.append("\(path).handlerCooldown must be >= 0") }
        if maxUnackedCommits < 0 { problems.append("\(path).maxUnackedCommits must be >= 0") }
        if case .records(let n) = handlerMaxBatchSize, n <= 0 { problems.append("\(path).handlerMaxBatchSize must be > 0") }
        return problems
    }
}

import Configuration

extension KafkaConsumerGroupConfiguration {
    /// Reads a consumer group from `configReader`; options it does not hold keep their defaults.
    ///
    /// Keys: `groupID` (required), `topics` (a list, or one comma-separated string), `topicPattern` (a regular
    /// expression; `topics`, `topicPattern` or both are required), `instanceID`,
    /// `groupProtocol` (`automatic`, `classic`, `consumer`), `sessionTimeout`, `rebalanceTimeout`,
    /// `heartbeatInterval`, `assignors` (list of `range`, `roundrobin`, `cooperative-sticky`), `fetcher`,
    /// `isolationLevel`, `offsetResetPolicy`, `fetchMaxBytes` (shortcuts for the same keys of
    /// `defaultTopicOptions`), `defaultTopicOptions.*` and `topicOptions.<topic>.*` for a topic of `topics`
    /// (keys of ``KafkaConsumerTopicOptions/init(configReader:)``). Durations are strings with a unit or
    /// integers of milliseconds.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/invalidConfiguration`` naming each missing,
    ///   malformed or wrongly typed key with its path.
    public init(configReader: ConfigReader) throws {
        let options = KafkaOptionReader(configReader)
        self.init(options: options)
        try options.throwIfProblems()
    }

    init(options: KafkaOptionReader) {
        let groupID = options.string("groupID")
        if groupID == nil && !options.contains("groupID") { options.report("groupID", "missing (the consumer group id)") }
        let topics = options.stringArray("topics")
        let topicPattern = options.string("topicPattern")
        if topics == nil && !options.contains("topics") && topicPattern == nil && !options.contains("topicPattern") {
            options.report("topics", "missing (a list of topic names, or give a topicPattern)")
        }
        self.init(groupID: groupID ?? "", topics: topics ?? [], topicPattern: topicPattern)
        if let value = options.string("instanceID") { instanceID = value }
        if let value = options.parsed("groupProtocol", expected: "automatic, classic or consumer", GroupProtocol.init(configName:)) {
            groupProtocol = value
        }
        if let value = options.duration("sessionTimeout") { sessionTimeout = value }
        if let value = options.duration("rebalanceTimeout") { rebalanceTimeout = value }
        if let value = options.duration("heartbeatInterval") { heartbeatInterval = value }
        if let names = options.stringArray("assignors") {
            var parsed: [Assignor] = []
            for name in names {
                if let assignor = Assignor(rawValue: name.lowercased()) {
                    parsed.append(assignor)
                } else {
                    options.report("assignors", "expected range, roundrobin or cooperative-sticky, got \"\(name)\"")
                }
            }
            assignors = parsed
        }
        if let value = options.parsed("isolationLevel", expected: "read_committed or read_uncommitted", KafkaIsolationLevel.init(configName:)) {
            isolationLevel = value
        }
        if let value = options.parsed("offsetResetPolicy", expected: "earliest or latest", OffsetResetPolicy.init(configName:)) {
            offsetResetPolicy = value
        }
        if let value = options.int("fetchMaxBytes") { fetchMaxBytes = value }
        if let value = options.string("fetcher") { fetcher = value }
        defaultTopicOptions.read(options.scoped("defaultTopicOptions"))
        for topic in self.topics {
            let scoped = options.scoped("topicOptions", topic)
            guard KafkaConfigurationKeys.consumerTopic.contains(where: scoped.contains) else { continue }
            var topicOptions = defaultTopicOptions
            topicOptions.read(scoped)
            self.topicOptions[topic] = topicOptions
        }
    }
}

extension KafkaConsumerTopicOptions {
    /// Reads one topic's consumer options from `configReader`; options it does not hold keep their defaults.
    ///
    /// Keys: `isolationLevel` (`read_committed`, `read_uncommitted`), `offsetResetPolicy` (`earliest`,
    /// `latest`), `fetchMaxBytes`, `maxQueueSize`, `fetchInterval`, `handlerCooldown`, `maxUnackedCommits`,
    /// `handlerMaxBatchSize` (`dynamic` or a number of records), `mode` (`auto`, `manual`).
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/invalidConfiguration`` naming each malformed or
    ///   wrongly typed key with its path.
    public init(configReader: ConfigReader) throws {
        let options = KafkaOptionReader(configReader)
        self.init()
        read(options)
        try options.throwIfProblems()
    }

    mutating func read(_ options: KafkaOptionReader) {
        if let value = options.parsed("isolationLevel", expected: "read_committed or read_uncommitted", KafkaIsolationLevel.init(configName:)) {
            isolationLevel = value
        }
        if let value = options.parsed(
            "offsetResetPolicy", expected: "earliest or latest", KafkaConsumerGroupConfiguration.OffsetResetPolicy.init(configName:))
        {
            offsetResetPolicy = value
        }
        if let value = options.int("fetchMaxBytes") { fetchMaxBytes = value }
        if let value = options.int("maxQueueSize") { maxQueueSize = value }
        if let value = options.duration("fetchInterval") { fetchInterval = value }
        if let value = options.duration("handlerCooldown") { handlerCooldown = value }
        if let value = options.int("maxUnackedCommits") { maxUnackedCommits = value }
        if let value = options.parsed("handlerMaxBatchSize", expected: "dynamic or a number of records", BatchSize.init(configName:)) {
            handlerMaxBatchSize = value
        }
        if let value = options.parsed("mode", expected: "auto or manual", Mode.init(configName:)) { mode = value }
    }
}

extension KafkaConsumerTopicOptions.BatchSize {
    /// Parses `dynamic` or a record count.
    init?(configName: String) {
        if configName.lowercased() == "dynamic" {
            self = .dynamic
        } else if let count = Int(configName) {
            self = .records(count)
        } else {
            return nil
        }
    }
}

extension KafkaConsumerTopicOptions.Mode {
    /// Parses `auto` / `manual`.
    init?(configName: String) {
        switch configName.lowercased() {
        case "auto": self = .auto
        case "manual": self = .manual
        default: return nil
        }
    }
}

extension KafkaConsumerGroupConfiguration.GroupProtocol {
    /// Parses `automatic`, `classic` or `consumer`.
    init?(configName: String) {
        switch configName.lowercased() {
        case "automatic", "auto": self = .automatic
        case "classic": self = .classic
        case "consumer": self = .consumer
        default: return nil
        }
    }
}

extension KafkaIsolationLevel {
    /// Parses `read_committed` / `read_uncommitted` (also camel case, as the Swift cases).
    init?(configName: String) {
        switch configName.lowercased() {
        case "read_committed", "readcommitted": self = .readCommitted
        case "read_uncommitted", "readuncommitted": self = .readUncommitted
        default: return nil
        }
    }
}

extension KafkaConsumerGroupConfiguration.OffsetResetPolicy {
    /// Parses `earliest` / `latest`.
    init?(configName: String) {
        switch configName.lowercased() {
        case "earliest": self = .earliest
        case "latest": self = .latest
        default: return nil
        }
    }
}
